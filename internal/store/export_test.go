package store

import "testing"

// ForEachOutageBackendForTest runs fn per backend of outageBackends, for
// the outage tests of package store_test (which may import packages built
// on store, such as spooled): fn gets the backend's --db URL and a freshly
// migrated, empty store on a database no other package's tests use.
func ForEachOutageBackendForTest(t *testing.T, fn func(t *testing.T, dsn string, s *DB)) {
	forEachBackendOf(t, outageBackends(), func(t *testing.T, b backend, s *DB) {
		dsn := b.dsn
		if s.file != "" {
			dsn = "sqlite:" + s.file
		}
		fn(t, dsn, s)
	})
}
