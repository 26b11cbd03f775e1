package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"webcallback/internal/callback"
)

// writer persists request snapshots off the event loop, so a slow database
// never delays call handling. Snapshots of one request coalesce: the store's
// UpdateRequest writes the current fields and every history entry not yet
// stored, so writing only the latest snapshot loses nothing. One goroutine
// writes, which keeps each request's writes in order.
type writer struct {
	st  requestWriter
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]*callback.Request
	order   []string // ids in pending, oldest first
	// inflight is the snapshot being written: until the write commits,
	// neither pending nor the store has it, and get must still see it.
	inflight *callback.Request
	// settled is closed (and replaced) whenever a write ends, stored or
	// put back to retry: waitWritten's wake-up.
	settled chan struct{}
	kick    chan struct{}
	// failures counts failed writes (each retry too): the database
	// refusing or not answering.
	failures atomic.Uint64
	// stored is called with each final snapshot once it is in the store:
	// the engine publishes final states only then, so whoever sees a call
	// end (a browser, a script, a test) and acts on it at once finds the
	// store already saying so (quotas, the do-not-call list).
	stored func(*callback.Request)
}

// requestWriter is the one method of Store the writer calls.
type requestWriter interface {
	UpdateRequest(ctx context.Context, r *callback.Request) error
}

// writeRetry is the pause before retrying after a failed write.
const writeRetry = 500 * time.Millisecond

func newWriter(st requestWriter, log *slog.Logger, stored func(*callback.Request)) *writer {
	return &writer{st: st, log: log, pending: map[string]*callback.Request{}, settled: make(chan struct{}),
		kick: make(chan struct{}, 1), stored: stored}
}

// put queues r (a snapshot nobody mutates) for writing.
func (w *writer) put(r *callback.Request) {
	w.mu.Lock()
	if _, ok := w.pending[r.ID]; !ok {
		w.order = append(w.order, r.ID)
	}
	w.pending[r.ID] = r
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// writeTimeout bounds one store write, so a hung database cannot wedge the
// writer (the snapshot is kept and retried).
const writeTimeout = 30 * time.Second

// run writes until done is closed; a write in flight is finished, not
// canceled. flush then writes what is left.
func (w *writer) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-w.kick:
		}
		for w.writeOne(done) {
		}
	}
}

// writeOne writes the oldest pending snapshot. It reports whether there was
// one and the writer should go on; on a failed write it keeps the snapshot
// and pauses (until done closes).
func (w *writer) writeOne(done <-chan struct{}) bool {
	w.mu.Lock()
	if len(w.order) == 0 {
		w.mu.Unlock()
		return false
	}
	id := w.order[0]
	w.order = w.order[1:]
	r := w.pending[id]
	delete(w.pending, id)
	w.inflight = r
	w.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := w.st.UpdateRequest(ctx, r)
	cancel()
	retry := err != nil && !errors.Is(err, callback.ErrNotOwner)
	w.mu.Lock()
	w.inflight = nil
	// A failed write goes back in the queue in the same step that takes it
	// out of flight: no waiter ever finds it in neither place and takes it
	// for written.
	if _, newer := w.pending[id]; retry && !newer {
		w.pending[id] = r
		w.order = append(w.order, id)
	}
	close(w.settled)
	w.settled = make(chan struct{})
	w.mu.Unlock()
	if err == nil {
		if r.State.Final() && w.stored != nil {
			w.stored(r)
		}
		return true
	}
	if errors.Is(err, callback.ErrNotOwner) {
		// Another instance adopted the call: its writes win (the engine
		// lets the call go at its next lease check: cluster's fence).
		w.log.Warn("not storing a request another instance adopted", "id", id, "state", r.State, "err", err)
		return true
	}
	w.failures.Add(1)
	w.log.Error("storing request; will retry", "id", id, "state", r.State, "err", err)
	select {
	case <-done:
		return false
	case <-time.After(writeRetry):
		return true
	}
}

// flush writes everything pending from the calling goroutine (run must have
// stopped), giving up when ctx ends.
func (w *writer) flush(ctx context.Context) error {
	for w.writeOne(ctx.Done()) {
	}
	if n := w.pendingCount(); n > 0 {
		return fmt.Errorf("%d request snapshots not written: %w", n, context.Cause(ctx))
	}
	return nil
}

// pendingCount reports the snapshots not yet written.
func (w *writer) pendingCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.order)
}

// get returns the snapshot of id waiting to be written, or nil.
func (w *writer) get(id string) *callback.Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.getLocked(id)
}

// getLocked is get with w.mu held.
func (w *writer) getLocked(id string) *callback.Request {
	if r := w.pending[id]; r != nil {
		return r
	}
	if w.inflight != nil && w.inflight.ID == id {
		return w.inflight
	}
	return nil
}

// waitWritten waits until no snapshot of id waits to be written (it is
// stored, or spooled to be), or until ctx ends or patience runs out: a
// database that refuses writes makes the writer retry, and a reader then
// gets the snapshot from memory after all.
func (w *writer) waitWritten(ctx context.Context, id string, patience time.Duration) bool {
	giveUp := time.NewTimer(patience)
	defer giveUp.Stop()
	for {
		w.mu.Lock()
		waiting := w.getLocked(id) != nil
		settled := w.settled
		w.mu.Unlock()
		if !waiting {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-giveUp.C:
			return false
		case <-settled:
		}
	}
}
