package callflow_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/callflow"
	"webcallback/internal/sandbox"
	"webcallback/internal/store"
)

// The engine places one callback on the built-in sandbox PBX, here 200
// times faster than real time: the visitor (13800001001) answers and hears
// the welcome prompt, the friend's line (13811112222 in the sandbox's
// number plan) is busy, and the visitor is told so. The service wires the
// same parts in internal/app; the policy, not the example, normally
// builds and admits the request.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The PBX: an AMI server on a loopback port running our dialplan.
	const user, secret = "webcallback", "example-secret-0123456789"
	pbx := sandbox.New(sandbox.Config{Username: user, Secret: secret, TimeScale: 0.005, Seed: 1})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go pbx.Serve(l)
	defer pbx.Close()
	client, err := ami.Dial(ctx, ami.Config{Addr: l.Addr().String(), Username: user, Secret: secret, AuthMD5: true,
		Events: "call,cdr,user"})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// The database: a fresh SQLite file.
	dir, err := os.MkdirTemp("", "callflow-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite:"+dir+"/wcb.db")
	if err != nil {
		panic(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}

	// Defaults for everything but the sandbox's speed; Logger nil would log
	// to slog.Default().
	cfg := callflow.Config{PBXTimeScale: 0.005, Logger: slog.New(slog.DiscardHandler)}
	eng, err := callflow.New(cfg, client, st)
	if err != nil {
		panic(err)
	}
	if err := eng.Start(ctx); err != nil {
		panic(err)
	}
	defer eng.Shutdown(ctx)

	// The request as the policy admits it: stored (queued), then submitted.
	now := time.Now()
	req := &callback.Request{ID: "example-1", Caller: "+8613800001001", Callee: "+8613811112222",
		CallerDial: "13800001001", CalleeDial: "13811112222", Lang: "en",
		State: callback.StateQueued, CreatedAt: now, History: []callback.Transition{{State: callback.StateQueued, At: now}}}
	if d, err := st.Admit(ctx, req, nil, now); err != nil || !d.Allowed {
		panic(fmt.Sprint(d, err))
	}
	updates, stop, err := eng.Watch(ctx, req.ID) // before Submit: every state is seen
	if err != nil {
		panic(err)
	}
	defer stop()
	if err := eng.Submit(ctx, req); err != nil {
		panic(err)
	}
	var last callback.State
	for r := range updates {
		if r.State == last {
			continue // a snapshot with new details (a channel name) in the same state
		}
		last = r.State
		if r.State.Final() {
			fmt.Println(r.State, r.Reason, r.Prompt)
		} else {
			fmt.Println(r.State)
		}
	}
	// Output:
	// queued
	// calling_caller
	// caller_answered
	// calling_callee
	// failed callee_busy PartnerBusy
}
