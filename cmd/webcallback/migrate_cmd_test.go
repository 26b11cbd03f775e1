package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestMigrateCheckAndFutureSchema: migrate --check reports pending
// migrations (exit 3) without applying them, then up to date (exit 0);
// a database holding a migration from a newer binary is refused by
// migrate, migrate --check and serve (exit 1, one
// clear line), with --migrate on or off.
func TestMigrateCheckAndFutureSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wcb.db")
	db := "sqlite:" + path
	check := func() (string, int) {
		var out bytes.Buffer
		err := migrateCommand(ctx, []string{"--check", "--db", db}, &out, io.Discard)
		var rep bytes.Buffer
		code := report(&rep, "migrate", err)
		return out.String() + rep.String(), code
	}
	out, code := check()
	if code != 3 || !strings.Contains(out, "pending 0001_init.sql") || !strings.Contains(out, "migrations pending") {
		t.Fatalf("check on a new database: exit %d\n%s", code, out)
	}
	if out, code := check(); code != 3 { // --check applied nothing
		t.Fatalf("check again: exit %d\n%s", code, out)
	}
	if err := migrateCommand(ctx, []string{"--db", db}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out, code := check(); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("check after migrate: exit %d\n%s", code, out)
	}

	// A newer binary's migration.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (9001, '9001_newer.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	refusals := map[string]func() error{
		"migrate --check": func() error { return migrateCommand(ctx, []string{"--check", "--db", db}, io.Discard, io.Discard) },
		"migrate":         func() error { return migrateCommand(ctx, []string{"--db", db}, io.Discard, io.Discard) },
		"serve": func() error {
			return serveCommand(ctx, []string{"--db", db, "--listen", "127.0.0.1:0", "--log-level", "error"}, io.Discard)
		},
		"serve --migrate=false": func() error {
			return serveCommand(ctx, []string{"--db", db, "--listen", "127.0.0.1:0", "--migrate=false", "--log-level", "error"}, io.Discard)
		},
	}
	for name, run := range refusals {
		var rep bytes.Buffer
		code := report(&rep, name, run())
		if code != 1 || !strings.Contains(rep.String(), "schema is newer than this binary") ||
			!strings.Contains(rep.String(), "9001_newer.sql") || strings.Count(rep.String(), "\n") != 1 {
			t.Errorf("%s on a newer schema: exit %d\n%s", name, code, rep.String())
		}
	}
}
