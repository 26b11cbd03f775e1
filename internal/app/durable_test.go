package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webcallback/internal/app"
	"webcallback/internal/app/apptest"
	"webcallback/internal/callback"
	"webcallback/internal/config"
	"webcallback/internal/dbfault"
	"webcallback/internal/store"
	"webcallback/internal/store/spooled"
)

// readyz returns /readyz's status and body.
func readyz(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady polls /readyz until it is ready (the sandbox's AMI login is
// asynchronous): the condition, not a guessed delay, ends the wait.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := readyz(t, url)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadyzRefusedWrites: /readyz is not ready while the SQLite database
// is locked by another writer (it still answers reads, so a ping would
// pass), ready again once the lock is gone, and not ready when the
// database file is removed under the running service.
func TestReadyzRefusedWrites(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	svc := apptest.Start(t, nil, nil)
	waitReady(t, svc.URL)

	outage, err := dbfault.RefuseWrites(context.Background(), svc.Settings.DB)
	if err != nil {
		t.Fatal(err)
	}
	code, body := readyz(t, svc.URL)
	outage.End()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "refuses writes") {
		t.Fatalf("/readyz with the database locked: %d %q; want 503 naming the refused writes", code, body)
	}
	waitReady(t, svc.URL)

	file := strings.TrimPrefix(svc.Settings.DB, "sqlite:")
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		os.Remove(f)
	}
	code, body = readyz(t, svc.URL)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "missing") {
		t.Fatalf("/readyz with the database file gone: %d %q; want 503 naming the missing file", code, body)
	}
}

// TestMissingDatabaseRefused: a start that finds the SQLite database gone
// where one existed refuses, with an error naming the file and the way
// out; --db-create creates a new one.
func TestMissingDatabaseRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data", "wcb.db")
	start := func(extra ...string) (*app.App, error) {
		l := config.NewLoader("test")
		l.FS.SetOutput(io.Discard)
		if err := l.Parse(append([]string{"--db", "sqlite:" + db, "--ami=", "--config="}, extra...)); err != nil {
			t.Fatal(err)
		}
		return app.New(context.Background(), l.S, slog.New(slog.DiscardHandler))
	}
	a, err := start()
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	a.Close(context.Background())
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		os.Remove(f)
	}
	if a, err := start(); err == nil {
		a.Close(context.Background())
		t.Fatal("a start with the database gone began with an empty one")
	} else if !errors.Is(err, store.ErrDatabaseMissing) || !strings.Contains(err.Error(), db) || !strings.Contains(err.Error(), "--db-create") {
		t.Fatalf("refusal %q: want ErrDatabaseMissing naming %s and --db-create", err, db)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("the refused start created the database file")
	}
	a, err = start("--db-create")
	if err != nil {
		t.Fatalf("start with --db-create: %v", err)
	}
	a.Close(context.Background())
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("--db-create made no database: %v", err)
	}
}

// TestStartReplaysSpoolFirst: writes the last run spooled (the database
// refused them, then the service died) reach the database before the
// engine adopts the unfinished requests, so a call that completed during
// the outage is not taken for unfinished and reconciled (or placed again)
// from its stale row.
func TestStartReplaysSpoolFirst(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "wcb.db")
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	r := &callback.Request{ID: "spooled-1", Caller: "+8613800000001", Callee: "+8613855550005",
		State: callback.StateQueued, CreatedAt: now, UpdatedAt: now, Instance: "replay-test"}
	if _, err := st.Admit(ctx, r, nil, now); err != nil {
		t.Fatal(err)
	}
	// The last run: the database refuses writes, the call completes, the
	// service dies with the write in its spool.
	sp, err := spooled.Open(st, spooled.Config{Dir: filepath.Join(dir, "wcb.db.spool"), AttemptTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	outage, err := dbfault.RefuseWrites(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	end := now.Add(9 * time.Second)
	r.State, r.Reason, r.Cause, r.Billsec, r.EndedAt, r.UpdatedAt = callback.StateCompleted, callback.ReasonCalleeHangup, 16, 5, &end, end
	r.History = append(r.History, callback.Transition{State: callback.StateCompleted, At: end})
	if err := sp.UpdateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	if sp.Waiting() != 1 {
		t.Fatalf("%d writes spooled, want 1", sp.Waiting())
	}
	sp.Close()
	outage.End()

	l := config.NewLoader("test")
	l.FS.SetOutput(io.Discard)
	if err := l.Parse([]string{"--db", dsn, "--ami=", "--config=", "--instance", "replay-test"}); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, l.S, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	got, err := a.Store.GetRequest(ctx, "spooled-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != callback.StateCompleted || got.Reason != callback.ReasonCalleeHangup || got.Billsec != 5 {
		t.Fatalf("after the restart: %s/%s billsec %d; want completed/callee_hangup 5", got.State, got.Reason, got.Billsec)
	}
}
