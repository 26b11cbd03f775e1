package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/dbfault"
	"webcallback/internal/store"
	"webcallback/internal/store/spooled"
)

// TestOutageSpoolReplay makes each backend refuse writes for real
// (internal/dbfault: a held SQLite write lock, MariaDB LOCK TABLES,
// PostgreSQL read-only), writes a call's transitions, its CDRs, an audit
// entry and a cursor through the spooled store meanwhile, restarts the
// service (a new store and spool over the same directory) and lifts the
// outage: every write is in the database once, in order, and a replay of
// the same spool a second time (a crash after writing, before popping)
// changes nothing.
func TestOutageSpoolReplay(t *testing.T) {
	store.ForEachOutageBackendForTest(t, func(t *testing.T, dsn string, st *store.DB) {
		ctx := context.Background()
		dir := t.TempDir()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg := spooled.Config{Dir: dir, AttemptTimeout: 300 * time.Millisecond, Logger: log}
		sp, err := spooled.Open(st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().Truncate(time.Millisecond)
		r := &callback.Request{ID: "out-1", Caller: "+8613800000001", Callee: "+8613800000002",
			State: callback.StateQueued, CreatedAt: now, UpdatedAt: now, Instance: "i1", CallerDial: "13800000001"}
		if d, err := sp.Admit(ctx, r, nil, now); err != nil || !d.Allowed {
			t.Fatalf("admit: %v %+v", err, d)
		}
		if err := sp.Ready(ctx); err != nil {
			t.Fatalf("ready before the outage: %v", err)
		}

		outage, err := dbfault.RefuseWrites(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		ended := false
		defer func() {
			if !ended {
				outage.End()
			}
		}()
		// Nothing spooled yet: the write probe alone must see the refusal
		// (a ping would pass: the database still answers reads).
		if err := sp.Ready(ctx); err == nil {
			t.Fatal("ready while the database refuses writes (nothing spooled yet)")
		}
		if err := st.Ping(ctx); err != nil {
			t.Fatalf("the outage should leave reads alone: ping: %v", err)
		}
		at := now
		for _, s := range []callback.State{callback.StateCallingCaller, callback.StateCallerAnswered,
			callback.StateCallingCallee, callback.StateConnected, callback.StateCompleted} {
			at = at.Add(time.Second)
			r.State, r.UpdatedAt = s, at
			r.History = append(r.History, callback.Transition{State: s, At: at})
			if s == callback.StateCompleted {
				r.Reason, r.Cause, r.Billsec, r.EndedAt = callback.ReasonCalleeHangup, 16, 7, &at
			}
			if err := sp.UpdateRequest(ctx, r); err != nil {
				t.Fatalf("update to %s during the outage: %v", s, err)
			}
		}
		cdrs := []*store.CDR{
			{CallDate: now, Src: "13800000001", Dst: "s", UniqueID: "out-1", LinkedID: "out-1", Sequence: 1,
				Disposition: "ANSWERED", Duration: 12, Billsec: 11, UserField: "Hangupcause:16;wcb:out-1", RequestID: "out-1"},
			{CallDate: now, Src: "13800000001", Dst: "13800000002", UniqueID: "out-1b", LinkedID: "out-1", Sequence: 2,
				Disposition: "ANSWERED", Duration: 8, Billsec: 7, RequestID: "out-1"},
		}
		if _, err := sp.InsertCDRs(ctx, cdrs); err != nil {
			t.Fatalf("CDRs during the outage: %v", err)
		}
		if err := sp.AddAudit(ctx, store.AuditEntry{At: now, Actor: "admin@test", Action: "block", Target: "+8613800000009"}); err != nil {
			t.Fatalf("audit during the outage: %v", err)
		}
		if err := sp.SetCDRCursor(ctx, "table:test", "2026-12-02T00:00:00Z"); err != nil {
			t.Fatalf("cursor during the outage: %v", err)
		}
		if n := sp.Waiting(); n != 8 {
			t.Fatalf("%d writes wait in the spool, want 8", n)
		}
		if err := sp.Ready(ctx); err == nil {
			t.Fatal("ready while the database refuses writes")
		}

		// The service dies with the outage still on; the spool stays.
		sp.Close()
		copyDir(t, filepath.Join(dir, "spool"), filepath.Join(dir+"-copy", "spool"))
		if err := outage.End(); err != nil {
			t.Fatal(err)
		}
		ended = true

		replay := func(dir string) *spooled.Store {
			st2, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			sp2, err := spooled.Open(st2, spooled.Config{Dir: dir, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sp2.Close() })
			fctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := sp2.Flush(fctx); err != nil {
				t.Fatalf("replay: %v", err)
			}
			if err := sp2.Ready(ctx); err != nil {
				t.Fatalf("not ready after the replay: %v", err)
			}
			return sp2
		}
		check := func(st *spooled.Store) {
			t.Helper()
			got, err := st.GetRequest(ctx, "out-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.State != callback.StateCompleted || got.Reason != callback.ReasonCalleeHangup || got.Billsec != 7 ||
				len(got.History) != 6 || got.CallerDial != "13800000001" || got.Instance != "i1" {
				t.Fatalf("request after replay: %s/%s billsec %d, %d transitions, dial %q instance %q; want completed/callee_hangup, 7, 6",
					got.State, got.Reason, got.Billsec, len(got.History), got.CallerDial, got.Instance)
			}
			for i, h := range got.History[1:] {
				if h.State != r.History[i+1].State {
					t.Fatalf("transition %d is %s, want %s (order)", i+1, h.State, r.History[i+1].State)
				}
			}
			rows, total, err := st.SearchCDRs(ctx, store.CDRFilter{RequestID: "out-1"})
			if err != nil || total != 2 || len(rows) != 2 {
				t.Fatalf("CDRs after replay: %d (%v), want 2", total, err)
			}
			audit, err := st.ListAudit(ctx, 10)
			if err != nil || len(audit) != 1 {
				t.Fatalf("audit entries after replay: %d (%v), want 1", len(audit), err)
			}
			if v, err := st.CDRCursor(ctx, "table:test"); err != nil || v != "2026-12-02T00:00:00Z" {
				t.Fatalf("cursor after replay: %q (%v)", v, err)
			}
		}
		check(replay(dir))
		// The same records again: what a crash between writing a record
		// and popping it replays.
		check(replay(dir + "-copy"))
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o750); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSpoolSetsAsidePoison: a spooled write the database can never take
// (its request is not there) is moved to rejected/ and logged, and the
// writes behind it still reach the database.
func TestSpoolSetsAsidePoison(t *testing.T) {
	ctx := context.Background()
	dsn, _, sp, dir := sqliteSpool(t)
	outage, err := dbfault.RefuseWrites(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ghost := &callback.Request{ID: "never-admitted", Caller: "+8613800000001", Callee: "+8613800000002",
		State: callback.StateFailed, CreatedAt: now, UpdatedAt: now}
	if err := sp.UpdateRequest(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	auditThenReplay(t, sp, outage, "after-the-poison", now)
	if got := sp.Stats(); got.Rejected != 1 || got.Replayed != 1 {
		t.Fatalf("stats %+v: want 1 rejected, 1 replayed", got)
	}
	audit, err := sp.ListAudit(ctx, 10)
	if err != nil || len(audit) != 1 || audit[0].Action != "after-the-poison" {
		t.Fatalf("audit behind the poison: %+v %v", audit, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "rejected", "spool.log")); err != nil || len(b) == 0 {
		t.Fatalf("rejected/ holds nothing: %v", err)
	}
}

// auditThenReplay spools one audit entry behind what the test spooled
// during outage, ends the outage and waits until the spool is replayed.
func auditThenReplay(t *testing.T, sp *spooled.Store, outage *dbfault.Outage, action string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := sp.AddAudit(ctx, store.AuditEntry{At: at, Actor: "a", Action: action}); err != nil {
		t.Fatal(err)
	}
	outage.End()
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := sp.Flush(fctx); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolRefusesFencedWrites: a request update the fence refuses
// (callback.ErrNotOwner: another instance adopted the request) is a
// permanent refusal. Written directly, it is returned to the caller and
// not spooled; spooled during an outage, the replay drops it (not set
// aside as a fault) and the writes behind it still land. The adopter's row
// is untouched either way.
func TestSpoolRefusesFencedWrites(t *testing.T) {
	ctx := context.Background()
	dsn, st, sp, _ := sqliteSpool(t)
	now := time.Now().Truncate(time.Millisecond)
	adopted := &callback.Request{ID: "fenced-1", Caller: "+8613800000001", Callee: "+8613800000002",
		State: callback.StateQueued, CreatedAt: now, UpdatedAt: now, Instance: "adopter"}
	if d, err := st.Admit(ctx, adopted, nil, now); err != nil || !d.Allowed {
		t.Fatalf("admit: %v %+v", err, d)
	}
	late := *adopted
	late.Instance, late.State, late.Reason = "old-owner", callback.StateFailed, callback.ReasonNetworkError

	if err := sp.UpdateRequest(ctx, &late); !errors.Is(err, callback.ErrNotOwner) {
		t.Fatalf("direct write of the old owner: %v, want ErrNotOwner", err)
	}
	if got := sp.Stats(); got.Spooled != 0 || got.Waiting != 0 {
		t.Fatalf("stats %+v: the fenced write was spooled", got)
	}

	outage, err := dbfault.RefuseWrites(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.UpdateRequest(ctx, &late); err != nil {
		t.Fatal(err) // the database refuses everything: spooled, the fence is not known yet
	}
	auditThenReplay(t, sp, outage, "after-the-fenced", now)
	if got := sp.Stats(); got.Fenced != 1 || got.Rejected != 0 || got.Replayed != 1 || got.Waiting != 0 {
		t.Fatalf("stats %+v: want 1 fenced, 0 rejected, 1 replayed, none waiting", got)
	}
	got, err := st.GetRequest(ctx, adopted.ID)
	if err != nil || got.Instance != "adopter" || got.State != callback.StateQueued {
		t.Fatalf("adopter's row: %+v %v", got, err)
	}
	audit, err := sp.ListAudit(ctx, 10)
	if err != nil || len(audit) != 1 || audit[0].Action != "after-the-fenced" {
		t.Fatalf("audit behind the fenced write: %+v %v", audit, err)
	}
}

// sqliteSpool is a migrated SQLite store in the test's directory behind a
// spool there: the spool's own behaviour (poison set aside, fenced writes)
// is the same whatever database is behind it, so one backend shows it.
func sqliteSpool(t *testing.T) (dsn string, st *store.DB, sp *spooled.Store, dir string) {
	t.Helper()
	ctx := context.Background()
	dsn = "sqlite:" + filepath.Join(t.TempDir(), "data", "outage.db")
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	sp, err = spooled.Open(st, spooled.Config{Dir: dir, AttemptTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() }) // closes st too
	return dsn, st, sp, dir
}
