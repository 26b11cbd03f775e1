// Package abusetest is the abuse test suite: it starts the whole service
// as `webcallback serve` assembles it (app.New from serve's flags; see
// internal/app/apptest), its AMI link to a sandbox PBX through a recording
// proxy so that every byte the service sends to the PBX is checked, and
// serves it on loopback and attacks it over HTTP: floods from one
// and from a thousand addresses, call bombing, an injection corpus, and a
// fuzz test from HTTP body to AMI bytes. The package has no code of its
// own beyond this comment; everything is in its tests.
//
//	go test ./internal/abusetest/
//	go test ./internal/abusetest/ -run XXX -bench . -benchtime 5000x
package abusetest
