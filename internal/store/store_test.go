package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/callback"
)

func newReq(id, caller, callee string, at time.Time) *callback.Request {
	return &callback.Request{ID: id, Caller: caller, Callee: callee, State: callback.StateQueued, CreatedAt: at,
		CallerDial: caller[1:], CalleeDial: callee[1:], Lang: "zh", ClientIP: "192.0.2.1", Instance: "a"}
}

func TestMigrate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		resetDB(t, s) // from scratch, whatever ran before
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil { // second run: nothing to do
			t.Fatalf("migrate again: %v", err)
		}
		ms, err := loadMigrations(b.name)
		if err != nil {
			t.Fatal(err)
		}
		latest := ms[len(ms)-1].version
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != latest {
			t.Fatalf("schema version = %d, %v; want %d (the last migration)", v, err, latest)
		}
		// The original's readers: the skypecallback view and the verbatim cdr columns.
		if _, err := s.db.ExecContext(ctx, "SELECT number, calls, answered, billsec, last_call, today_calls, blocked FROM skypecallback"); err != nil {
			t.Fatalf("skypecallback view: %v", err)
		}
		if _, err := s.db.ExecContext(ctx, `SELECT calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata,
  duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield, linkedid, sequence, peeraccount FROM cdr`); err != nil {
			t.Fatalf("cdr columns: %v", err)
		}
	})
}

func TestRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		r := newReq("11111111-1111-4111-8111-111111111111", "+8613800001001", "+8613800002002", day0)
		if d, err := s.Admit(ctx, r, nil, day0); err != nil || !d.Allowed {
			t.Fatalf("admit = %+v, %v", d, err)
		}
		got, err := s.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Caller != r.Caller || got.State != callback.StateQueued || !got.CreatedAt.Equal(day0) || len(got.History) != 1 ||
			got.CallerDial != "8613800001001" || got.Instance != "a" {
			t.Fatalf("got %+v", got)
		}
		// Progress to connected, then completed.
		at := day0.Add(5 * time.Second)
		r.State, r.AnsweredAt, r.CallerChannel = callback.StateCallerAnswered, &at, "PJSIP/gateway-0000001b"
		r.History = append(r.History, callback.Transition{State: r.State, At: at})
		if err := s.UpdateRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		end := day0.Add(60 * time.Second)
		r.State, r.Reason, r.Cause, r.Prompt, r.ConnectedAt, r.EndedAt, r.Billsec =
			callback.StateCompleted, callback.ReasonCalleeHangup, 16, callback.PromptPartnerHangup, &at, &end, 55
		r.History = append(r.History, callback.Transition{State: callback.StateConnected, At: at}, callback.Transition{State: r.State, At: end})
		if err := s.UpdateRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateRequest(ctx, r); err != nil { // idempotent: no duplicate history
			t.Fatal(err)
		}
		got, err = s.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != callback.StateCompleted || got.Reason != callback.ReasonCalleeHangup || got.Billsec != 55 || got.Cause != 16 ||
			got.Prompt != callback.PromptPartnerHangup || len(got.History) != 4 || !got.EndedAt.Equal(end) ||
			got.History[3].State != callback.StateCompleted || got.CallerChannel != "PJSIP/gateway-0000001b" {
			t.Fatalf("after updates: %+v", got)
		}
		r2 := newReq("22222222-2222-4222-8222-222222222222", "+8613800003003", "+8613800001001", day0.Add(time.Minute))
		if _, err := s.Admit(ctx, r2, nil, day0); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			f    RequestFilter
			want int
		}{
			{RequestFilter{}, 2},
			{RequestFilter{Number: "+8613800001001"}, 2},
			{RequestFilter{Number: "+8613800003003"}, 1},
			{RequestFilter{States: []callback.State{callback.StateCompleted}}, 1},
			{RequestFilter{From: day0.Add(30 * time.Second)}, 1},
			{RequestFilter{To: day0.Add(30 * time.Second)}, 1},
			{RequestFilter{Limit: 1}, 1},
			{RequestFilter{Offset: 1}, 1},
		} {
			rs, err := s.ListRequests(ctx, tc.f)
			if err != nil || len(rs) != tc.want {
				t.Errorf("ListRequests(%+v) = %d rows, %v; want %d", tc.f, len(rs), err, tc.want)
			}
		}
		un, err := s.UnfinishedRequests(ctx, "")
		if err != nil || len(un) != 1 || un[0].ID != r2.ID {
			t.Fatalf("unfinished = %v, %v", un, err)
		}
		if un, _ := s.UnfinishedRequests(ctx, "other"); len(un) != 0 {
			t.Fatalf("unfinished of another instance = %v", un)
		}
		_, err = s.GetRequest(ctx, "nope")
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("missing request error = %v", err)
		}
		if err := s.UpdateRequest(ctx, newReq("nope", "+1", "+2", day0)); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("update missing = %v", err)
		}
	})
}

// finish moves r to a final state (or connected) as the engine would.
func finish(t *testing.T, s *DB, r *callback.Request, st callback.State, connected bool) {
	t.Helper()
	r.State = st
	if connected {
		at := r.CreatedAt.Add(10 * time.Second)
		r.ConnectedAt = &at
	}
	r.History = append(r.History, callback.Transition{State: st, At: r.CreatedAt.Add(20 * time.Second)})
	if err := s.UpdateRequest(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// billsecHistory stores two answered foreign calls of 8613800001001:
// 120 s yesterday, 40 s today (day0).
func billsecHistory(t *testing.T, s *DB) {
	for i, bill := range []int{120, 40} {
		day := day0.AddDate(0, 0, i-1)
		if _, err := s.InsertCDR(context.Background(), &CDR{CallDate: day, Src: "8613800001001", CLID: "<8613800001001>",
			Channel: "PJSIP/gw-1", DstChannel: "PJSIP/gw-2", Disposition: "ANSWERED", Billsec: bill,
			UniqueID: fmt.Sprint("bill.", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAdmitRules(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	nextDayUTC := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	const a, b2, c = "+8613800001001", "+8613800002002", "+8613800003003"
	type step struct {
		caller, callee string
		at             time.Duration // after day0
		final          callback.State
		connected      bool
		wantAllowed    bool
		wantRule       string
		wantRetry      time.Time
	}
	def := DefaultRules()
	cases := []struct {
		name  string
		rules *Rules
		setup func(t *testing.T, s *DB)
		steps []step
	}{
		{name: "nil rules admit all", rules: nil, steps: []step{
			{caller: a, callee: b2, wantAllowed: true}, {caller: a, callee: b2, wantAllowed: true}}},
		{name: "pending call reserves the daily quota", rules: &Rules{CallerConnectedPerDay: 1}, steps: []step{
			{caller: a, callee: b2, wantAllowed: true},
			{caller: a, callee: c, at: time.Hour, wantRule: RuleCallerConnectedPerDay, wantRetry: nextDayUTC}}},
		{name: "failed call frees the quota, connected one uses it", rules: &Rules{CallerConnectedPerDay: 1}, steps: []step{
			{caller: a, callee: b2, final: callback.StateFailed, wantAllowed: true},
			{caller: a, callee: b2, at: time.Minute, final: callback.StateCompleted, connected: true, wantAllowed: true},
			{caller: a, callee: c, at: 2 * time.Minute, wantRule: RuleCallerConnectedPerDay, wantRetry: nextDayUTC},
			{caller: b2, callee: c, at: 3 * time.Minute, wantAllowed: true},
			{caller: a, callee: c, at: 14 * time.Hour, wantAllowed: true}, // next UTC day
		}},
		{name: "day starts in the rules' location", rules: &Rules{CallerConnectedPerDay: 1, Location: shanghai}, steps: []step{
			// day0 10:00 UTC = 18:00 Shanghai; Shanghai's next day starts 16:00 UTC.
			{caller: a, callee: b2, final: callback.StateCompleted, connected: true, wantAllowed: true},
			{caller: a, callee: b2, at: 5 * time.Hour, wantRule: RuleCallerConnectedPerDay,
				wantRetry: time.Date(2026, 11, 26, 0, 0, 0, 0, shanghai)},
			{caller: a, callee: b2, at: 6*time.Hour + time.Second, wantAllowed: true},
		}},
		{name: "attempts per day count failures", rules: &Rules{CallerAttemptsPerDay: 2}, steps: []step{
			{caller: a, callee: b2, final: callback.StateFailed, wantAllowed: true},
			{caller: a, callee: b2, final: callback.StateFailed, wantAllowed: true},
			{caller: a, callee: b2, wantRule: RuleCallerAttemptsPerDay, wantRetry: nextDayUTC}}},
		{name: "cooldown", rules: &Rules{CallerCooldown: 10 * time.Minute}, steps: []step{
			{caller: a, callee: b2, final: callback.StateFailed, wantAllowed: true},
			{caller: a, callee: c, at: 4 * time.Minute, wantRule: RuleCallerCooldown, wantRetry: day0.Add(10 * time.Minute)},
			{caller: a, callee: c, at: 10 * time.Minute, wantAllowed: true}}},
		{name: "callee per day: a victim is not rung by many callers", rules: &Rules{CalleePerDay: 2}, steps: []step{
			{caller: a, callee: c, final: callback.StateFailed, wantAllowed: true},
			{caller: b2, callee: c, final: callback.StateFailed, wantAllowed: true},
			{caller: "+8613800004004", callee: c, wantRule: RuleCalleePerDay, wantRetry: nextDayUTC}}},
		{name: "block beats everything", rules: nil, setup: func(t *testing.T, s *DB) {
			if err := s.SetOverride(context.Background(), Override{Number: a, Kind: OverrideBlock, Note: "abuse", By: "admin"}); err != nil {
				t.Fatal(err)
			}
		}, steps: []step{{caller: a, callee: b2, wantRule: RuleBlocked}, {caller: b2, callee: a, wantRule: RuleCalleeBlocked}}},
		{name: "allow bypasses caller rules", rules: &def, setup: func(t *testing.T, s *DB) {
			if err := s.SetOverride(context.Background(), Override{Number: a, Kind: OverrideAllow}); err != nil {
				t.Fatal(err)
			}
		}, steps: []step{
			{caller: a, callee: b2, final: callback.StateCompleted, connected: true, wantAllowed: true},
			{caller: a, callee: c, wantAllowed: true}}},
		{name: "billsec lifetime cap from the per-number table", rules: &Rules{CallerBillsecPerDay: 30, CallerBillsecLifetime: 150},
			setup: billsecHistory, steps: []step{
				{caller: a, callee: b2, wantAllowed: true},                       // foreign rows count under their digits, not the E.164 caller
				{caller: a[1:], callee: b2, wantRule: RuleCallerBillsecLifetime}, // never: zero RetryAt
			}},
		{name: "billsec per day cap", rules: &Rules{CallerBillsecPerDay: 30}, setup: billsecHistory, steps: []step{
			{caller: a[1:], callee: b2, wantRule: RuleCallerBillsecPerDay, wantRetry: nextDayUTC}}},
		{name: "billsec per day cap, yesterday does not count", rules: &Rules{CallerBillsecPerDay: 50}, setup: billsecHistory, steps: []step{
			{caller: a[1:], callee: b2, wantAllowed: true}}},
	}
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				emptyDB(t, s, b)
				if tc.setup != nil {
					tc.setup(t, s)
				}
				for i, st := range tc.steps {
					now := day0.Add(st.at)
					r := newReq(fmt.Sprintf("req-%d", i), st.caller, st.callee, now)
					d, err := s.Admit(context.Background(), r, tc.rules, now)
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if d.Allowed != st.wantAllowed || d.Rule != st.wantRule || !d.RetryAt.Equal(st.wantRetry) {
						t.Fatalf("step %d: decision %+v, want allowed=%v rule=%q retry=%v", i, d, st.wantAllowed, st.wantRule, st.wantRetry)
					}
					if _, err := s.GetRequest(context.Background(), r.ID); d.Allowed != (err == nil) {
						t.Fatalf("step %d: stored=%v, allowed=%v", i, err == nil, d.Allowed)
					}
					if !d.Allowed && d.Rule != RuleBlocked && d.Rule != RuleCalleeBlocked {
						quotaExplains(t, s, st.caller, st.callee, tc.rules, now, d)
					}
					if d.Allowed && st.final != "" {
						finish(t, s, r, st.final, st.connected)
					}
				}
			})
		}
	})
}

// quotaExplains checks that Quotas, the operator's "why is this number
// refused", shows the rule that refused, refused, with the same retry time.
func quotaExplains(t *testing.T, s *DB, caller, callee string, rules *Rules, now time.Time, d Decision) {
	t.Helper()
	number := caller
	if strings.HasPrefix(d.Rule, "callee") {
		number = callee
	}
	qs, err := s.Quotas(context.Background(), number, rules, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Rule != d.Rule {
			continue
		}
		reset := time.Time{}
		if q.ResetAt != nil {
			reset = *q.ResetAt
		}
		if !q.Refused || !reset.Equal(d.RetryAt) {
			t.Errorf("quota %+v does not explain decision %+v", q, d)
		}
		return
	}
	t.Errorf("Quotas(%s) = %+v: no %s", number, qs, d.Rule)
}

// admitMany runs n concurrent Admits for one caller (each with its own
// callee, so only the caller's quota binds), spread over the stores.
func admitMany(t *testing.T, stores []*DB, n int) int {
	t.Helper()
	rules := DefaultRules()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := newReq(fmt.Sprintf("conc-%03d", i), "+8613800001001", fmt.Sprintf("+86138000%05d", 10000+i), day0)
			d, err := stores[i%len(stores)].Admit(context.Background(), r, &rules, day0)
			if err != nil {
				errs <- err
				return
			}
			if d.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("admit: %v", err)
	}
	return allowed
}

func TestAdmitConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		if got := admitMany(t, []*DB{s}, 50); got != 1 {
			t.Fatalf("%d of 50 concurrent requests admitted with quota 1, want exactly 1", got)
		}
		if b.name == "sqlite" {
			return
		}
		// Two engines: two separate pools on one server database.
		emptyDB(t, s, b)
		other := openBackend(t, b, Options{})
		if got := admitMany(t, []*DB{s, other}, 50); got != 1 {
			t.Fatalf("two pools: %d of 50 admitted with quota 1, want exactly 1", got)
		}
	})
}

func TestOverridesAndAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		if err := s.SetOverride(ctx, Override{Number: "+861", Kind: "maybe"}); err == nil {
			t.Fatal("bad kind accepted")
		}
		if err := s.SetOverride(ctx, Override{Number: "+861", Kind: OverrideBlock, Note: "spam", By: "admin@127.0.0.1", CreatedAt: day0}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetOverride(ctx, Override{Number: "+861", Kind: OverrideAllow, CreatedAt: day0}); err != nil { // replaces
			t.Fatal(err)
		}
		os, err := s.ListOverrides(ctx)
		if err != nil || len(os) != 1 || os[0].Kind != OverrideAllow || !os[0].CreatedAt.Equal(day0) {
			t.Fatalf("overrides = %+v, %v", os, err)
		}
		ns, err := s.NumberStats(ctx, "+861", day0)
		if err != nil || !ns.Allowed || ns.Blocked || ns.Calls != 0 {
			t.Fatalf("stats of an overridden number = %+v, %v", ns, err)
		}
		if err := s.DeleteOverride(ctx, "+861"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOverride(ctx, "+861"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete missing = %v", err)
		}
		for i := 0; i < 3; i++ {
			if err := s.AddAudit(ctx, AuditEntry{At: day0.Add(time.Duration(i) * time.Second), Actor: "admin@127.0.0.1",
				Action: "block", Target: fmt.Sprint("+86", i), Detail: "détail ✓\x00\xff"}); err != nil {
				t.Fatal(err)
			}
		}
		es, err := s.ListAudit(ctx, 2)
		if err != nil || len(es) != 2 || es[0].Target != "+862" || es[0].Detail != "détail ✓\uFFFD" {
			t.Fatalf("audit = %+v, %v", es, err)
		}
	})
}

func TestStatsByHourAndPurge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		for i, st := range []callback.State{callback.StateCompleted, callback.StateFailed, callback.StateFailed} {
			r := newReq(fmt.Sprint("h", i), fmt.Sprint("+8613800000", i), "+8613800009999", day0.Add(time.Duration(i)*40*time.Minute))
			if _, err := s.Admit(ctx, r, nil, r.CreatedAt); err != nil {
				t.Fatal(err)
			}
			r.Reason = callback.ReasonCalleeBusy
			if st == callback.StateCompleted {
				r.Reason, r.Billsec = callback.ReasonLimitReached, 300
			}
			finish(t, s, r, st, st == callback.StateCompleted)
		}
		hs, err := s.StatsByHour(ctx, day0, day0.Add(3*time.Hour))
		if err != nil || len(hs) != 3 {
			t.Fatalf("hours = %+v, %v", hs, err)
		}
		h0, h1 := hs[0], hs[1]
		if h0.Requests != 2 || h0.Connected != 1 || h0.Failed != 1 || h0.Billsec != 300 || h0.ByReason["limit_reached"] != 1 ||
			h1.Requests != 1 || h1.Failed != 1 || h1.ByReason["callee_busy"] != 1 || hs[2].Requests != 0 {
			t.Fatalf("hours = %+v", hs)
		}
		if _, err := s.InsertCDR(ctx, &CDR{CallDate: day0, UniqueID: "p.1", Src: "1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InsertCDR(ctx, &CDR{CallDate: day0.Add(2 * time.Hour), UniqueID: "p.2", Src: "1"}); err != nil {
			t.Fatal(err)
		}
		live := newReq("live", "+8613800005005", "+8613800006006", day0)
		if _, err := s.Admit(ctx, live, nil, day0); err != nil {
			t.Fatal(err)
		}
		nr, nc, err := s.Purge(ctx, day0.Add(time.Hour))
		if err != nil || nr != 2 || nc != 1 {
			t.Fatalf("purge = %d requests, %d cdrs, %v; want 2, 1", nr, nc, err)
		}
		if _, err := s.GetRequest(ctx, "live"); err != nil {
			t.Fatalf("purge removed a live request: %v", err)
		}
	})
}

func TestCDRCursor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		if v, err := s.CDRCursor(ctx, "src"); err != nil || v != "" {
			t.Fatalf("empty cursor = %q, %v", v, err)
		}
		for _, v := range []string{"2026-11-25 10:00:00", "2026-11-25 11:00:00"} {
			if err := s.SetCDRCursor(ctx, "src", v); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := s.CDRCursor(ctx, "src"); err != nil || v != "2026-11-25 11:00:00" {
			t.Fatalf("cursor = %q, %v", v, err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{"", "sqlite:", "oracle://x", "mysql://u:secretpw@h:3306", "mysql://u:p@h:3306/", "sqlite:a?b", "postgres://u:secretpw@h:%zz/db"} {
		_, err := Open(context.Background(), dsn)
		if err == nil || !errors.Is(err, ErrBadDSN) {
			t.Errorf("Open(%q) = %v, want ErrBadDSN", dsn, err)
		}
		if err != nil && strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Open(%q) error leaks the password: %v", dsn, err)
		}
	}
}

// TestSQLiteSmallPoolNoDeadlock: writers queue behind SQLite's write lock,
// each holding a pool connection. A transaction that then needed a second
// pool connection (to prepare a statement) would wait for them while they
// wait for it: stuck until the busy timeout. Here a manual transaction holds
// the lock while writers pile up on a 2-connection pool with an empty
// statement cache; then it commits and every writer must get through.
// The 10 s context is a hang guard, not a timing threshold (the busy
// timeout is 20 s).
func TestSQLiteSmallPoolNoDeadlock(t *testing.T) {
	s := openBackend(t, backend{name: "sqlite"}, Options{MaxOpenConns: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hold, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			_, err := s.InsertCDRs(ctx, fixtureCall(fmt.Sprint("pool-", i), day0))
			errs <- err
		}(i)
		go func(i int) {
			defer wg.Done()
			_, err := s.Admit(ctx, newReq(fmt.Sprint("pool-req-", i), fmt.Sprintf("+86138%08d", i), "+8613900000000", day0), nil, day0)
			errs <- err
		}(i)
	}
	time.Sleep(200 * time.Millisecond) // let the writers queue up (ordering only)
	if err := hold.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
