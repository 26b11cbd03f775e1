// Package testenv is for tests only: it finds what a test needs from
// outside the repository (the real Asterisk transcripts in
// ../shared/fixtures, servers, binaries) and, when something is missing,
// skips the test loudly — or fails it when CI=true, where everything must
// be there and a silent skip would hide a broken set-up.
package testenv

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CI reports whether the tests run in CI (CI=true), where nothing may be skipped.
func CI() bool { return os.Getenv("CI") == "true" }

// Require skips tb (or fails it under CI) with the reason when ok is false.
func Require(tb testing.TB, ok bool, format string, args ...any) {
	tb.Helper()
	if ok {
		return
	}
	if CI() {
		tb.Fatalf("required by CI (CI=true) but missing: "+format, args...)
	}
	tb.Skipf("!!! SKIPPING: "+format, args...)
}

// Long marks a long end-to-end test (a screenshot matrix, a package build,
// a chaos soak): it runs in CI (CI=true) and with WEBCALLBACK_TEST_FULL=1,
// and skips loudly otherwise, so that a plain `go test ./...` stays a
// quick loop for the developer.
func Long(tb testing.TB, what string) {
	tb.Helper()
	if CI() || os.Getenv("WEBCALLBACK_TEST_FULL") != "" {
		return
	}
	tb.Skipf("!!! SKIPPING long test (%s): CI runs it; WEBCALLBACK_TEST_FULL=1 runs it here", what)
}

// Full reports whether the big data sets run (WEBCALLBACK_TEST_FULL set):
// a test that can check the same property on less data sizes itself by
// it, small for the quick loop of `go test ./...`.
func Full() bool { return os.Getenv("WEBCALLBACK_TEST_FULL") != "" }

// ClusterDSN is the database of the scale-out tests of one package on
// backend ("mysql" or "postgres"): WEBCALLBACK_TEST_CLUSTER_MYSQL or
// WEBCALLBACK_TEST_CLUSTER_POSTGRES, its database name suffixed by "_"+pkg
// when pkg is not empty ("" for internal/cluster, "cmd", "bench";
// .ci/db.sh creates them). Packages' tests run at once, and a service
// instance of one would finish the calls another test's deliberately dead
// instance left (any instance claims a dead instance's lost calls): each
// package works in its own database. It requires the variable (Require).
func ClusterDSN(tb testing.TB, backend, pkg string) string {
	tb.Helper()
	env := "WEBCALLBACK_TEST_CLUSTER_" + strings.ToUpper(backend)
	dsn := os.Getenv(env)
	Require(tb, dsn != "", "%s (a %s server) for the scale-out tests", env, backend)
	if pkg == "" {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil || len(u.Path) < 2 {
		tb.Fatalf("%s=%q: not a URL with a database name", env, dsn)
	}
	u.Path += "_" + pkg
	return u.String()
}

// RepoRoot is the repository's top folder (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0) // .../internal/testenv/testenv.go
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// FixturesDir is the folder of real Asterisk 22 AMI transcripts:
// shared/fixtures/ami beside the repository (as CI lays it out), or
// $WEBCALLBACK_FIXTURES.
func FixturesDir(tb testing.TB) string {
	tb.Helper()
	dir, ok := Fixtures()
	Require(tb, ok, "AMI fixtures at %s", dir)
	return dir
}

// Fixtures is FixturesDir for callers that can do without (fuzz seeds):
// ok is false when the folder is not there.
func Fixtures() (dir string, ok bool) {
	dir = os.Getenv("WEBCALLBACK_FIXTURES")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared", "fixtures", "ami")
	}
	_, err := os.Stat(filepath.Join(dir, "README.md"))
	return dir, err == nil
}

// ClearSettings unsets every WEBCALLBACK_* variable for the test (restored
// after it), so the developer's shell cannot change what a default is or
// point a test at a real database or Asterisk.
func ClearSettings(t testing.TB) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WEBCALLBACK_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// FreeAddr is a loopback address nothing listens on now (for a server a
// test starts later, or an address that must refuse connections).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
