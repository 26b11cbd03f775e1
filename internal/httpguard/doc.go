// Package httpguard is the HTTP security layer of the service: the client
// address behind trusted proxies, security headers with a strict CSP,
// request size limits, CSRF tokens and cross-origin checks, the admin
// bearer-token check with failed attempts rate-limited, an audit log of
// admin actions, and an http.Server with timeouts against slowloris.
//
// It knows nothing about callbacks; the web package wires it around its
// handlers.
package httpguard
