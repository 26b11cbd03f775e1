package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"webcallback/internal/callback"
	"webcallback/internal/config"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// TestCDRMonitorDrainsOnStop assembles the service as serve and call do, places one call, and stops the monitor as
// soon as the AMI client has received the call's two CDRs: stop returns
// only once both are in the store (a graceful shutdown loses none).
func TestCDRMonitorDrainsOnStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := config.NewLoader("test")
	l.FS.SetOutput(io.Discard)
	if err := l.Parse([]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "wcb.db"),
		"--sandbox-time-scale", "0.005", "--call-limit", "20s", "--call-warning", "5s", "--cdr-source", "ami"}); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, l.S, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	st, eng := a.Store, a.Engine
	// Subscribed after the monitor (New starts it before the engine): an
	// event is in the monitor's buffer before this subscription sees it.
	seen := a.PBX.Client.Subscribe(0)
	defer seen.Close()

	now := time.Now()
	req := &callback.Request{ID: uuid.NewString(), Caller: "+8613800001001", Callee: "+8613800002002",
		CallerDial: "13800001001", CalleeDial: "13800002002", State: callback.StateQueued, CreatedAt: now}
	if _, err := st.Admit(ctx, req, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := eng.Submit(ctx, req); err != nil {
		t.Fatal(err)
	}
	for cdrs := 0; cdrs < 2; {
		select {
		case m := <-seen.C():
			if m.Event() == "Cdr" && m.Get("UniqueID") == req.ID {
				cdrs++
			}
		case <-ctx.Done():
			t.Fatalf("the PBX sent %d Cdr events of the call, want 2", cdrs)
		}
	}
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	a.stopCDRs[0](ctx)
	rows, _, err := st.SearchCDRs(ctx, store.CDRFilter{RequestID: req.ID})
	if err != nil || len(rows) != 2 {
		t.Fatalf("after stop: %d CDR rows (%v), want the 2 received", len(rows), err)
	}
}

// TestBuiltInSandboxWritesOwnTable: with the default --cdr-source table the
// built-in sandbox PBX writes each CDR into the service's own cdr table as
// Asterisk's database backend does, and the service ingests it: the talk
// time (talksec) sits beside Asterisk's billsec, and the request's billsec
// and the per-number table are the talk time.
func TestBuiltInSandboxWritesOwnTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := config.NewLoader("test")
	l.FS.SetOutput(io.Discard)
	if err := l.Parse([]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "wcb.db"), "--ami=",
		"--sandbox-time-scale", "0.005", "--call-limit", "20s", "--call-warning", "5s"}); err != nil {
		t.Fatal(err)
	}
	if l.S.CDRSource != "table" {
		t.Fatalf("default --cdr-source = %q, want table", l.S.CDRSource)
	}
	a, err := New(ctx, l.S, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	now := time.Now()
	// 1385555xx07: answers, hangs up 7 s after answering.
	req := &callback.Request{ID: uuid.NewString(), Caller: "+8613800001001", Callee: "+8613855550007",
		CallerDial: "13800001001", CalleeDial: "13855550007", State: callback.StateQueued, CreatedAt: now}
	if _, err := a.Store.Admit(ctx, req, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := a.Engine.Submit(ctx, req); err != nil {
		t.Fatal(err)
	}
	var rows []store.CDR
	for len(rows) < 2 {
		if ctx.Err() != nil {
			t.Fatalf("the call's CDRs were not ingested: %d rows", len(rows))
		}
		if rows, _, err = a.Store.SearchCDRs(ctx, store.CDRFilter{RequestID: req.ID}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var talk *int
	var dialBillsec int
	for _, r := range rows {
		if r.TalkSec != nil {
			talk = r.TalkSec
		}
		if r.LastApp == "Dial" {
			dialBillsec = r.Billsec
		}
	}
	if talk == nil || *talk != 7 || dialBillsec <= 7 {
		t.Fatalf("talksec %v, Dial billsec %d; want talk 7 beside Asterisk's larger billsec", talk, dialBillsec)
	}
	got, err := a.Store.GetRequest(ctx, req.ID)
	for err == nil && !got.State.Final() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		got, err = a.Store.GetRequest(ctx, req.ID)
	}
	if err != nil || got.State != callback.StateCompleted || got.Billsec != 7 {
		t.Fatalf("request = %+v, %v; want completed with billsec 7", got, err)
	}
	ns, err := a.Store.NumberStats(ctx, "+8613800001001", time.Now())
	if err != nil || ns.Billsec != 7 || ns.Answered != 1 {
		t.Fatalf("stats = %+v, %v; want billsec 7 (talk), answered 1", ns, err)
	}
}

// TestPlanUserfieldMatchesCause runs every row of the test-number plan
// (docs/design.md §4) through the built-in sandbox and checks that the
// userfield the dialplan writes ("Hangupcause:N") says the cause the API
// says; it prints the plan's table with the userfield of each call.
func TestPlanUserfieldMatchesCause(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := config.NewLoader("test")
	l.FS.SetOutput(io.Discard)
	if err := l.Parse([]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "wcb.db"), "--ami=",
		"--sandbox-time-scale", "0.005", "--call-limit", "20s", "--call-warning", "5s", "--max-cps", "100"}); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, l.S, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	plan := []struct{ caller, callee, what string }{
		{"13800001001", "13800002002", "callee answers, stays (limit)"},
		{"13800001001", "13811112222", "callee busy (486)"},
		{"13800001001", "13822222222", "callee rings, never answers"},
		{"13800001001", "13833332222", "callee 503"},
		{"13800001001", "13844442222", "callee 480"},
		{"13800001001", "13855550005", "callee hangs up after 5 s"},
		{"13800001001", "13866662222", "callee 404"},
		{"13800001001", "13877772222", "callee 603"},
		{"13811111001", "13800002002", "caller busy"},
		{"13822221001", "13800002002", "caller never answers"},
		{"13833331001", "13800002002", "caller 503"},
	}
	// Every call is placed at once (the sandbox rings a number any number
	// of times), then each is followed to its end.
	reqs := make([]*callback.Request, len(plan))
	for i, p := range plan {
		now := time.Now()
		req := &callback.Request{ID: uuid.NewString(), Caller: "+86" + p.caller, Callee: "+86" + p.callee,
			CallerDial: p.caller, CalleeDial: p.callee, State: callback.StateQueued, CreatedAt: now}
		if _, err := a.Store.Admit(ctx, req, nil, now); err != nil {
			t.Fatal(err)
		}
		if err := a.Engine.Submit(ctx, req); err != nil {
			t.Fatal(err)
		}
		reqs[i] = req
	}
	var table []string
	for i, p := range plan {
		req := reqs[i]
		got, err := a.Store.GetRequest(ctx, req.ID)
		for err == nil && !got.State.Final() && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			got, err = a.Store.GetRequest(ctx, req.ID)
		}
		if err != nil || !got.State.Final() {
			t.Fatalf("%s: %+v, %v", p.what, got, err)
		}
		// The caller leg's rows: the userfield once the dialplan ran.
		uf := "(no userfield: the dialplan never ran)"
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			rows, err := a.Store.CallCDRs(ctx, req.ID)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range rows {
				if r.UserField != "" {
					uf, found = r.UserField, true
				}
			}
			if found || len(rows) > 0 && got.AnsweredAt == nil {
				break // the caller never answered: a row, no userfield
			}
		}
		if strings.HasPrefix(uf, wcbproto.UserfieldPrefix) {
			n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(uf, ";", 2)[0], wcbproto.UserfieldPrefix))
			if n != got.Cause {
				t.Errorf("%s: userfield %q, API cause %d", p.what, uf, got.Cause)
			}
		}
		table = append(table, fmt.Sprintf("| %s | %s | %s | %s / %s | %d | %s |", p.caller, p.callee, p.what, got.State, got.Reason,
			got.Cause, strings.TrimSuffix(uf, wcbproto.UserfieldIDPrefix+req.ID)))
	}
	t.Logf("test-number plan on the sandbox PBX:\n| caller | callee | behaviour | state / reason | API cause | userfield |\n|---|---|---|---|---|---|\n%s",
		strings.Join(table, "\n"))
}
