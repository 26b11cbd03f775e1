package callflow

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/dbfault"
	"webcallback/internal/store/storetest"
)

// TestWaitWrittenFollowsTheWriter: a final snapshot the writer cannot
// store yet (the SQLite database locked by another writer: the write waits
// in flight) is not reported written; once the lock is gone, the waiter
// is woken by the write itself and the store has the final state.
func TestWaitWrittenFollowsTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "wcb.db")
	st := storetest.Open(t, dsn)
	now := time.Now()
	req := &callback.Request{ID: "writer-1", Caller: "+8613800001001", Callee: "+8613800002002", State: callback.StateQueued,
		CreatedAt: now, History: []callback.Transition{{State: callback.StateQueued, At: now}}}
	if _, err := st.Admit(ctx, req, nil, now); err != nil {
		t.Fatal(err)
	}
	w := newWriter(st, testLogger(t), nil)
	done := make(chan struct{})
	go w.run(done)
	t.Cleanup(func() { close(done) })

	outage, err := dbfault.RefuseWrites(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	final := *req
	final.State, final.Reason = callback.StateFailed, callback.ReasonCalleeBusy
	final.History = append(append([]callback.Transition(nil), req.History...), callback.Transition{State: callback.StateFailed, At: time.Now()})
	w.put(&final)
	if w.waitWritten(ctx, req.ID, 200*time.Millisecond) {
		t.Fatal("reported written while the database refuses writes")
	}
	if err := outage.End(); err != nil {
		t.Fatal(err)
	}
	if !w.waitWritten(ctx, req.ID, 30*time.Second) {
		t.Fatal("not written after the outage")
	}
	if got, err := st.GetRequest(ctx, req.ID); err != nil || got.State != callback.StateFailed {
		t.Fatalf("stored %+v, %v", got, err)
	}
}
