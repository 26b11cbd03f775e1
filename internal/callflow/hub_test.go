package callflow

import (
	"testing"

	"webcallback/internal/callback"
)

func TestHub(t *testing.T) {
	h := newHub()
	snap := func(id string, s callback.State) *callback.Request { return &callback.Request{ID: id, State: s} }

	ch, stop := h.watch("a", snap("a", callback.StateQueued))
	other, stopOther := h.watch("b", snap("b", callback.StateQueued))
	all, stopAll := h.watchAll()
	for _, s := range []callback.State{callback.StateCallingCaller, callback.StateConnected, callback.StateCompleted} {
		h.publish(snap("a", s))
	}
	var got []callback.State
	for r := range ch { // closed after the final state
		got = append(got, r.State)
	}
	want := []callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateConnected, callback.StateCompleted}
	if len(got) != len(want) {
		t.Fatalf("watch a: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("watch a: %v, want %v", got, want)
		}
	}
	stop() // after close: a no-op
	if r := <-other; r.State != callback.StateQueued || len(other) != 0 {
		t.Fatalf("watch b got a's updates")
	}
	stopOther()
	if _, ok := <-other; ok {
		t.Fatal("stop did not close the channel")
	}
	if len(all) != 3 {
		t.Fatalf("watchAll got %d updates, want 3", len(all))
	}

	// A watch on a finished request gets its snapshot and an immediate close.
	done, _ := h.watch("c", snap("c", callback.StateFailed))
	if r, ok := <-done; !ok || r.State != callback.StateFailed {
		t.Fatal("final snapshot missing")
	}
	if _, ok := <-done; ok {
		t.Fatal("watch of a final request not closed")
	}

	// A WatchAll reader that does not read loses updates, counted; publish never blocks.
	for range allBuffer + 10 {
		h.publish(snap("d", callback.StateCallingCaller))
	}
	if d := h.dropped.Load(); d != 13 { // 3 queued already + 10 beyond the buffer
		t.Fatalf("dropped = %d, want 13", d)
	}
	stopAll()
	h.closeAll()
}
