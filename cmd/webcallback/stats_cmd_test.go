package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/store"
)

// TestMigrateAndStatsCommands drives migrate and every stats subcommand on
// a SQLite database holding two CDR rows of one call.
func TestMigrateAndStatsCommands(t *testing.T) {
	ctx := context.Background()
	db := "sqlite:" + filepath.Join(t.TempDir(), "wcb.db")
	run := func(f func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := f(ctx, append(args, "--db", db, "--timezone", "UTC"), &out, &errb)
		return out.String(), err
	}
	migrate := func(ctx context.Context, a []string, o, e *bytes.Buffer) error { return migrateCommand(ctx, a, o, e) }
	stats := func(ctx context.Context, a []string, o, e *bytes.Buffer) error { return statsCommand(ctx, a, o, e) }
	// The version is the last migration's, whoever added it.
	if out, err := run(migrate); err != nil || !regexp.MustCompile(`schema at version [1-9][0-9]*\n$`).MatchString(out) {
		t.Fatalf("migrate = %q, %v", out, err)
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Truncate(time.Second)
	for _, c := range []*store.CDR{
		{CallDate: day, Src: "13800001001", Channel: "PJSIP/gw-1", DstChannel: "PJSIP/gw-2", Disposition: "ANSWERED",
			Billsec: 19, Duration: 20, UniqueID: "1.55", LastApp: "Dial"},
		{CallDate: day.Add(20 * time.Second), Src: "13800001001", Channel: "PJSIP/gw-1", Disposition: "ANSWERED",
			Billsec: 2, Duration: 2, UniqueID: "1.55", LastApp: "Hangup", UserField: "Hangupcause:16"},
	} {
		if _, err := st.InsertCDR(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// A request the service admitted a moment ago: the default quotas now
	// refuse the caller (one connected call a day, reserved while it is
	// live; a minute between two requests), and stats show says so.
	now := time.Now()
	rules := store.DefaultRules()
	req := &callback.Request{ID: "req-1", Caller: "+8613800001001", Callee: "+8613800002002", State: callback.StateQueued,
		CreatedAt: now, UpdatedAt: now, History: []callback.Transition{{State: callback.StateQueued, At: now}}}
	if d, err := st.Admit(ctx, req, &rules, now); err != nil || !d.Allowed {
		t.Fatalf("admit: %+v %v", d, err)
	}
	// A callee who pressed 9: on the do-not-call list.
	optout := &callback.Request{ID: "0b1c2d3e-0000-4000-8000-000000000001", Caller: "+8613800001001", Callee: "+8613899992002",
		CallerDial: "13800001001", CalleeDial: "13899992002", Lang: "en", CreatedAt: day}
	if d, err := st.Admit(ctx, optout, nil, day); err != nil || !d.Allowed {
		t.Fatalf("admit: %+v %v", d, err)
	}
	optout.State, optout.Reason = callback.StateFailed, callback.ReasonCalleeOptedOut
	if err := st.UpdateRequest(ctx, optout); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"rebuild"}, []string{"rebuilt"}},
		{[]string{"show", "13800001001"}, []string{"13800001001 1 1 19 1 1 19"}},
		{[]string{"show", "138 0000 1001", "--region", "CN"}, []string{"+8613800001001", "13800001001 1", "LAST CALL (UTC)",
			"caller_connected_per_day 1 1 REFUSED", "caller_attempts_per_day 2 5 ok", "caller_cooldown", "1m0s REFUSED",
			"callee_per_day 0 3 ok", "RESETS (UTC)"}},
		{[]string{"show", "13800001001", "--limits", "off"}, []string{"quotas: none (--limits off)"}},
		{[]string{"list"}, []string{"13800001001"}},
		{[]string{"export"}, []string{store.NumberStatsCSVHeader, "13800001001,1,1,19,"}},
		{[]string{"export", "--what", "cdr"}, []string{`"","13800001001","","","","PJSIP/gw-1","PJSIP/gw-2","Dial"`, `"Hangupcause:16"`}},
		{[]string{"export", "--what", "cdr", "--to", "2000-01-01"}, nil},
		{[]string{"export", "--what", "donotcall"}, []string{"number,request_id,created_at\n+8613899992002,0b1c2d3e-0000-4000-8000-000000000001," + day.Format("2006-01-02T")}},
		{[]string{"purge", "--retention", "1h"}, []string{"deleted 0 requests and 0 CDRs"}},
	} {
		out, err := run(stats, tc.args...)
		if err != nil {
			t.Fatalf("stats %v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(squeezeSpaces(out), w) {
				t.Errorf("stats %v output lacks %q:\n%s", tc.args, w, out)
			}
		}
		if tc.want == nil && out != "" {
			t.Errorf("stats %v = %q, want nothing", tc.args, out)
		}
	}
	for _, args := range [][]string{{"nope"}, {"show"}, {"purge"}, {"export", "--what", "x"}, {"export", "--what", "cdr", "--from", "x"}} {
		if _, err := run(stats, args...); err == nil {
			t.Errorf("stats %v succeeded, want an error", args)
		}
	}
}

// squeezeSpaces collapses runs of spaces (tabwriter padding) to one.
func squeezeSpaces(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}
