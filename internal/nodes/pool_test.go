package nodes

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/callflow"
	"webcallback/internal/sandbox"
	"webcallback/internal/store/storetest"
)

// TestPool: two real engines on two sandbox PBXs behind one pool on a
// SQLite store. Idle nodes share the calls; a drained node and a node
// whose link is down get none; with every node drained a request is
// stored rejected/system_busy; Get, Watch and Cancel reach the request on
// whichever node it is.
func TestPool(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "sqlite:"+filepath.Join(t.TempDir(), "wcb.db"))
	log := slog.New(slog.DiscardHandler)
	var ns []*Node
	up := []*atomic.Bool{{}, {}}
	for i := range 2 {
		sb := sandbox.New(sandbox.Config{Username: "wcb", Secret: "pool-secret", TimeScale: 0.05, Seed: int64(i + 1)})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go sb.Serve(l)
		t.Cleanup(func() { sb.Close() })
		c, err := ami.Dial(ctx, ami.Config{Addr: l.Addr().String(), Username: "wcb", Secret: "pool-secret", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		e, err := callflow.New(callflow.Config{Node: l.Addr().String(), Instance: "pool", CallerConfirm: false, Logger: log}, c, st)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			e.Shutdown(sctx)
		})
		up[i].Store(true)
		ns = append(ns, &Node{ID: l.Addr().String(), Engine: e, Up: up[i].Load, MaxConcurrent: 10, MaxCPS: 50})
	}
	p, err := New(ns, st, log)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	submit := func() (*callback.Request, error) {
		t.Helper()
		now := time.Now()
		r := &callback.Request{ID: uuid.NewString(), Caller: "+8613800001001", Callee: "+8613900001002", CallerDial: "13800001001",
			CalleeDial: "13900001002", Lang: "en", State: callback.StateQueued, CreatedAt: now}
		if d, err := st.Admit(ctx, r, nil, now); err != nil || !d.Allowed {
			t.Fatalf("admit: %v %+v", err, d)
		}
		ids = append(ids, r.ID)
		err := p.Submit(ctx, r)
		got, gerr := p.Get(ctx, r.ID)
		if gerr != nil {
			t.Fatal(gerr)
		}
		return got, err
	}
	on := func(want string) {
		t.Helper()
		r, err := submit()
		if err != nil || r.Node != want {
			t.Fatalf("submitted on %q (%v), want %s", r.Node, err, want)
		}
	}
	a, b := ns[0].ID, ns[1].ID

	first, err := submit()
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]string{a: b, b: a}[first.Node]
	on(other) // the least busy
	if err := p.Drain(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	on(b)
	on(b)
	if s := p.Status(ctx); s[0].State != "draining" || s[1].State != "up" || s[1].Live != 3 || s[0].Live != 1 {
		t.Errorf("status with %s drained: %+v", a, s)
	}
	if err := p.Drain(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	up[0].Store(false) // a's link down: b, although busier
	on(b)
	if s := p.Status(ctx); s[0].State != "down" {
		t.Errorf("status with %s down: %+v", a, s)
	}
	up[0].Store(true)
	on(a) // a is the least busy again
	for _, n := range []string{a, b} {
		if err := p.Drain(ctx, n, true); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := submit(); !errors.Is(err, callback.ErrSystemBusy) || r.State != callback.StateRejected || r.Reason != callback.ReasonSystemBusy {
		t.Errorf("every node drained: %v, stored %s/%s; want system_busy", err, r.State, r.Reason)
	}
	if err := p.Drain(ctx, "192.0.2.1:5038", true); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("drain of an unknown node: %v", err)
	}

	// Every live call ends through the pool, whichever node has it.
	for _, id := range ids {
		ch, stop, err := p.Watch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Cancel(ctx, id, callback.ReasonVisitor); err != nil && !errors.Is(err, callback.ErrFinal) {
			t.Fatalf("cancel %s: %v", id, err)
		}
		var last *callback.Request
		for r := range ch {
			last = r
		}
		stop()
		if last == nil || !last.State.Final() {
			t.Fatalf("request %s: watch ended at %+v", id, last)
		}
	}
	if live := p.Live(); len(live) != 0 {
		t.Errorf("%d calls still live", len(live))
	}
}
