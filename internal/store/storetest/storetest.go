// Package storetest is for tests only: it opens a migrated store the way
// every package's tests need one.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"webcallback/internal/store"
)

// Open opens the database dsn, migrated to the newest schema, and closes
// it when tb ends.
func Open(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return st
}

// SQLite opens a new SQLite database in tb's temporary folder, migrated
// to the newest schema, and closes it when tb ends: the store of a test
// that needs one but tests no database server.
func SQLite(tb testing.TB) *store.DB {
	tb.Helper()
	return Open(tb, "sqlite:"+filepath.Join(tb.TempDir(), "wcb.db"))
}
