// Package e2e holds the end-to-end tests that drive the service's pages
// (the visitor's form and progress, the no-JavaScript pages, the admin
// dashboard) in a real headless Chromium against a whole service on
// loopback (internal/web/webtest: the real engine, sandbox PBX, SQLite
// store and HTTP server). It has no code of its own. The HTTP API's tests
// live beside the handler, in internal/web.
//
// Screenshots of every stage go to testdata-out/web/ at the repository
// root in CI and with WEBCALLBACK_TEST_FULL=1.
package e2e
