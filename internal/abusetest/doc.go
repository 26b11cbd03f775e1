// Package abusetest is the abuse test suite: it assembles the whole service
// on loopback (sandbox PBX behind a recording AMI proxy, real AMI client,
// real engine on a real SQLite store, the policy guard and the web handler
// served by httpguard.NewServer) and attacks it over HTTP: floods from one
// and from a thousand addresses, call bombing, an injection corpus, and a
// fuzz test from HTTP body to AMI bytes. The package has no code of its
// own beyond this comment; everything is in its tests.
//
//	go test ./internal/abusetest/
//	go test ./internal/abusetest/ -run XXX -bench . -benchtime 5000x
package abusetest
