package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"webcallback/internal/callback"
	"webcallback/internal/config"
	"webcallback/internal/store"
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
		"--sandbox-time-scale", "0.005", "--call-limit", "20s", "--call-warning", "5s"}); err != nil {
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
	a.stopCDRs(ctx)
	rows, _, err := st.SearchCDRs(ctx, store.CDRFilter{RequestID: req.ID})
	if err != nil || len(rows) != 2 {
		t.Fatalf("after stop: %d CDR rows (%v), want the 2 received", len(rows), err)
	}
}
