package store

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"webcallback/internal/testenv"
)

// backend is one database the suite runs against.
type backend struct {
	name string
	dsn  string // "" = not available here
	env  string
}

// backends lists SQLite (always) and the servers named by
// WEBCALLBACK_TEST_MYSQL / WEBCALLBACK_TEST_POSTGRES (.ci/db.sh starts
// throw-away ones and prints these).
func backends() []backend {
	return []backend{
		{name: "sqlite"},
		{name: "mysql", dsn: os.Getenv("WEBCALLBACK_TEST_MYSQL"), env: "WEBCALLBACK_TEST_MYSQL"},
		{name: "postgres", dsn: os.Getenv("WEBCALLBACK_TEST_POSTGRES"), env: "WEBCALLBACK_TEST_POSTGRES"},
	}
}

// forEachBackend runs fn as a subtest per backend on a freshly migrated,
// empty database. A missing server skips loudly, or fails under CI=true:
// CI must never pass with the server tests silently skipped.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend, s *DB)) {
	t.Helper()
	forEachBackendOf(t, backends(), fn)
}

// outageBackends are SQLite and the servers' databases of their own that
// .ci/db.sh makes for the outage tests (WEBCALLBACK_TEST_*_OUTAGE): an
// outage locks tables or makes a whole database read-only, which the tests
// of other packages, running at the same time on the shared test
// databases, must never see.
func outageBackends() []backend {
	return []backend{
		{name: "sqlite"},
		{name: "mysql", dsn: os.Getenv("WEBCALLBACK_TEST_MYSQL_OUTAGE"), env: "WEBCALLBACK_TEST_MYSQL_OUTAGE"},
		{name: "postgres", dsn: os.Getenv("WEBCALLBACK_TEST_POSTGRES_OUTAGE"), env: "WEBCALLBACK_TEST_POSTGRES_OUTAGE"},
	}
}

// forEachBackendOf is forEachBackend over bs.
func forEachBackendOf(t *testing.T, bs []backend, fn func(t *testing.T, b backend, s *DB)) {
	t.Helper()
	for _, b := range bs {
		t.Run(b.name, func(t *testing.T) {
			s := freshStore(t, b)
			fn(t, b, s)
		})
	}
}

func requireServer(t testing.TB, b backend) {
	t.Helper()
	testenv.Require(t, b.name == "sqlite" || b.dsn != "", "%s store tests: %s is not set. Run: eval \"$(.ci/db.sh start)\"", b.name, b.env)
}

// openBackend opens b (a new temp SQLite file for sqlite) without resetting it.
func openBackend(t testing.TB, b backend, o Options) *DB {
	t.Helper()
	requireServer(t, b)
	dsn := b.dsn
	if b.name == "sqlite" {
		if b.dsn == "" {
			dsn = "sqlite:" + filepath.Join(t.TempDir(), "data", "test.db")
		}
	}
	s, err := OpenWith(context.Background(), dsn, o)
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// migrated records the server backends this test process has migrated
// from scratch once already; later tests only empty the tables (MySQL DDL
// takes about a second per migration).
var migrated sync.Map

// freshStore opens b and gives it an empty, migrated schema.
func freshStore(t testing.TB, b backend) *DB {
	t.Helper()
	s := openBackend(t, b, Options{})
	emptyDB(t, s, b)
	return s
}

// emptyDB migrates from scratch on first use of a backend in this process,
// then only deletes the rows.
func emptyDB(t testing.TB, s *DB, b backend) {
	t.Helper()
	ctx := context.Background()
	if _, done := migrated.Load(b.dsn); !done || b.name == "sqlite" {
		resetDB(t, s)
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate %s: %v", b.name, err)
		}
		migrated.Store(b.dsn, true)
		return
	}
	for _, tb := range []string{"cdr", "callback_request", "callback_transition", "cdr_call", "number_stats", "number_daily",
		"number_override", "do_not_call", "audit_log", "cdr_cursor", "callback_hangup", "instance_lease", "rate_limit", "capacity_slot", "budget_reservation", "pbx_node"} {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM "+tb); err != nil {
			t.Fatalf("empty %s: %v", tb, err)
		}
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM number_lock WHERE number <> '#rebuild'"); err != nil {
		t.Fatalf("empty number_lock: %v", err)
	}
}

func resetDB(t testing.TB, s *DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, "DROP VIEW IF EXISTS skypecallback"); err != nil {
		t.Fatalf("reset: %v", err)
	}
	for _, tb := range []string{"cdr", "callback_request", "callback_transition", "cdr_call", "number_stats", "number_daily",
		"number_lock", "number_override", "do_not_call", "audit_log", "cdr_cursor", "schema_migrations", "asterisk_cdr", "write_probe",
		"callback_hangup", "instance_lease", "rate_limit", "capacity_slot", "budget_reservation", "pbx_node"} {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+tb); err != nil {
			t.Fatalf("reset: drop %s: %v", tb, err)
		}
	}
}

// day0 is a fixed clock for the tests: 10:00 UTC on a known day.
var day0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
