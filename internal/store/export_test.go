package store

import "testing"

// ForEachBackendForTest is forEachBackend for the tests of package
// store_test (which may import packages built on store, such as spooled):
// fn gets the backend's --db URL and a freshly migrated, empty store.
func ForEachBackendForTest(t *testing.T, fn func(t *testing.T, dsn string, s *DB)) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		dsn := b.dsn
		if s.file != "" {
			dsn = "sqlite:" + s.file
		}
		fn(t, dsn, s)
	})
}
