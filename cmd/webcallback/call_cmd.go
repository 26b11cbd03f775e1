package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"

	"webcallback/internal/app"
	"webcallback/internal/callback"
	"webcallback/internal/config"
	"webcallback/internal/policy"
	"webcallback/internal/store"
)

func init() {
	register("call", "place one callback from the shell and print each state", runCall)
}

func runCall(ctx context.Context, args []string) error {
	return callCommand(ctx, args, os.Stdout, os.Stderr)
}

// errCallNotCompleted is returned (exit status 1) when the callback ended
// in any state but completed.
var errCallNotCompleted = errors.New("callback did not complete")

const callUsage = `usage: webcallback call --server URL --caller N --callee M [--lang zh|en]
       webcallback call --caller N --callee M [settings]

Places one callback and prints each state as it happens. Exit status 0 when
the call completed, 1 when it did not (or was refused), 2 for a bad setting.

With --server (the operator's usual way), the running service at URL places
the call through its public API (POST /api/v1/callbacks, then its events):
the service's own policy, quotas and records apply, as for a visitor.

Without --server, the command assembles the service itself (as serve does)
on --db and --ami and places the call bypassing eligibility, to test a trunk;
with no --ami the built-in sandbox PBX answers (test-number plan,
docs/design.md §4).

`

// callCommand places one callback, prints each state as it happens to
// stdout and returns nil only when the call completed. SIGINT/SIGTERM hang
// the call up.
func callCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	l := config.NewLoader("call")
	l.FS.SetOutput(stderr)
	caller := l.FS.String("caller", "", "number to ring first (as typed: 138 0000 1001, +86..., 0086...)")
	callee := l.FS.String("callee", "", "number to ring once the caller answered")
	server := l.FS.String("server", "", "base URL of a running service (http://127.0.0.1:8080): place the call through its API")
	l.FS.Usage = func() {
		fmt.Fprint(stderr, callUsage)
		l.PrintHelp(stderr)
	}
	if err := l.Parse(args); err != nil {
		return err
	}
	s := l.S
	if l.FS.NArg() > 0 {
		return config.BadSetting(fmt.Errorf("unexpected arguments %q", l.FS.Args()))
	}
	if *server != "" {
		return callViaServer(ctx, *server, *caller, *callee, s.Lang, stdout)
	}
	from, err := policy.ParseNumber(*caller, s.Region, s.Policy.InternationalPrefix)
	if err != nil {
		return config.BadSetting(fmt.Errorf("--caller %q: %w", *caller, err))
	}
	to, err := policy.ParseNumber(*callee, s.Region, s.Policy.InternationalPrefix)
	if err != nil {
		return config.BadSetting(fmt.Errorf("--callee %q: %w", *callee, err))
	}
	// The same assembly as serve (internal/app), under an instance name of
	// its own: Start adopts the unfinished requests of its own instance,
	// and a one-shot call must never take over the service's calls.
	s.Instance = app.OneShotInstance(s.Instance)
	if s.SpoolDir == "" {
		// A spool is one process's: never the running service's.
		dir, _ := s.Spool()
		s.SpoolDir = dir + "-call"
	}
	log := s.Logger(stderr)
	a, err := app.New(ctx, s, log, app.BesideService())
	if err != nil {
		return err
	}
	defer func() {
		// Not ctx: after Ctrl-C the call is hung up and its CDRs still come.
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		a.Close(cctx)
	}()

	now := time.Now()
	req := &callback.Request{
		ID: uuid.NewString(), Caller: from.E164, Callee: to.E164, CallerDial: from.Dial, CalleeDial: to.Dial,
		Lang: s.Lang, ClientIP: "cli", State: callback.StateQueued, CreatedAt: now,
		History: []callback.Transition{{State: callback.StateQueued, At: now}},
	}
	if _, err := a.Store.Admit(ctx, req, nil, now); err != nil { // nil rules: operators bypass eligibility
		return fmt.Errorf("storing the request: %w", err)
	}
	fmt.Fprintf(stdout, "request %s: %s → %s\n", req.ID, from.E164, to.E164)
	printState(stdout, req)
	if err := a.Nodes.Submit(ctx, req); err != nil && !errors.Is(err, callback.ErrSystemBusy) {
		return err
	}
	final, err := followCall(ctx, a.Nodes, req.ID, stdout)
	if err != nil {
		return err
	}
	// The PBX sends the CDRs right after the last Hangup, one per leg
	// dialled: give them a moment to land (the monitor stores them).
	if final.CallerChannel != "" {
		want := 1
		if final.CalleeChannel != "" {
			want = 2
		}
		fmt.Fprintf(stdout, "cdr rows: %d\n", waitCDRs(a.Store, req.ID, want, cdrWait))
	}
	return finalResult(final)
}

// finalResult is nil for a completed call, errCallNotCompleted otherwise.
func finalResult(final *callback.Request) error {
	if final.State != callback.StateCompleted {
		return fmt.Errorf("%w: %s (%s)", errCallNotCompleted, final.State, final.Reason)
	}
	return nil
}

// cdrWait is how long the command waits for a finished call's CDRs.
const cdrWait = 3 * time.Second

// cdrSearcher finds CDR rows ([*store.DB] is one).
type cdrSearcher interface {
	SearchCDRs(ctx context.Context, f store.CDRFilter) (rows []store.CDR, total int, err error)
}

// waitCDRs polls the store until want CDR rows of the request are there or
// wait runs out (a PBX may be set to write fewer, e.g. none for unanswered
// legs), and returns how many there are.
func waitCDRs(st cdrSearcher, id string, want int, wait time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	n := 0
	for {
		rows, _, err := st.SearchCDRs(ctx, store.CDRFilter{RequestID: id})
		if err == nil {
			n = len(rows)
		}
		if n >= want {
			return n
		}
		select {
		case <-ctx.Done():
			return n
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// followCall prints every new state of the request until it is final. When
// ctx ends (Ctrl-C) it hangs the call up and still waits for the end.
func followCall(ctx context.Context, eng callback.Service, id string, stdout io.Writer) (*callback.Request, error) {
	updates, stop, err := eng.Watch(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, err
	}
	defer stop()
	last := callback.StateQueued
	done := ctx.Done()
	var giveUp <-chan time.Time
	for {
		select {
		case r, ok := <-updates:
			if !ok {
				return eng.Get(context.Background(), id)
			}
			if r.State != last {
				printState(stdout, r)
				last = r.State
			}
			if r.State.Final() {
				return r, nil
			}
		case <-done:
			done = nil
			fmt.Fprintln(stdout, "interrupted: hanging up")
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := eng.Cancel(cctx, id, callback.ReasonAdmin)
			cancel()
			if err != nil && !errors.Is(err, callback.ErrFinal) {
				return nil, fmt.Errorf("hanging up: %w", err)
			}
			giveUp = time.After(15 * time.Second)
		case <-giveUp:
			return nil, fmt.Errorf("request %s: no final state 15 s after hanging up", id)
		}
	}
}

// printState prints one line per state: time, state, and for the final one
// reason, cause, prompt and talk time.
func printState(w io.Writer, r *callback.Request) {
	at := r.UpdatedAt
	if n := len(r.History); n > 0 {
		at = r.History[n-1].At
	}
	line := at.Format("15:04:05.000") + "  " + string(r.State)
	if r.State.Final() {
		line += fmt.Sprintf(" reason=%s cause=%d", r.Reason, r.Cause)
		if r.Prompt != "" {
			line += " prompt=" + string(r.Prompt)
		}
		if r.ConnectedAt != nil {
			line += fmt.Sprintf(" billsec=%d", r.Billsec)
		}
	}
	fmt.Fprintln(w, line)
}
