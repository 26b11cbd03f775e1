// Package pbxcdr is the sandbox PBX's database CDR backend: it writes each
// CDR row the sandbox hands over into a cdr table the way Asterisk's
// cdr_adaptive_odbc / cdr_pgsql do with the kit's settings (the PBX's
// columns, talksec included, calldate in UTC; nothing aggregated: the
// service's monitor ingests the rows, store.IngestPBXCDRs). The sandbox
// calls the sink with its lock held, so rows are queued in memory and
// written by one goroutine, in order, retried while the database refuses.
package pbxcdr

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"webcallback/internal/sandbox"
	"webcallback/internal/store"
)

// Store is what the writer needs of the store: the PBX backend's insert
// (*store.DB implements it).
type Store interface {
	WritePBXCDR(ctx context.Context, c *store.CDR) error
}

// Writer queues the sandbox's CDR rows and writes them to a store.
type Writer struct {
	st     Store
	log    *slog.Logger
	onDone func() // after each written row (wakes an in-process monitor)

	mu      sync.Mutex
	queue   []sandbox.CDRRecord
	kick    chan struct{}
	written int
	closing bool          // Stop was called: Run returns once the queue is empty
	exited  chan struct{} // closed when Run returns
}

// New returns a writer into st; onWritten (may be nil) runs after each row.
func New(st Store, log *slog.Logger, onWritten func()) *Writer {
	if log == nil {
		log = slog.Default()
	}
	return &Writer{st: st, log: log.With("component", "pbx-cdr"), onDone: onWritten, kick: make(chan struct{}, 1),
		exited: make(chan struct{})}
}

// Stop lets Run write what is queued and return; it waits for that or
// for ctx (then Run's own context must end it).
func (w *Writer) Stop(ctx context.Context) {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	select {
	case <-w.exited:
	case <-ctx.Done():
	}
}

// Sink is sandbox.Config.CDRSink: it queues r and returns at once.
func (w *Writer) Sink(r sandbox.CDRRecord) {
	w.mu.Lock()
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Written is how many rows have been written so far.
func (w *Writer) Written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Run writes queued rows until ctx ends. A row the database refuses is
// retried (backoff up to 5 s) before the next: the order is kept and
// nothing is dropped while the process lives. Rows still queued when ctx
// ends are lost, as they would be in a PBX that stops.
func (w *Writer) Run(ctx context.Context) {
	defer close(w.exited)
	for {
		w.mu.Lock()
		var r *sandbox.CDRRecord
		if len(w.queue) > 0 {
			r = &w.queue[0]
		}
		closing := w.closing
		w.mu.Unlock()
		if r == nil && closing {
			return
		}
		if r == nil {
			select {
			case <-ctx.Done():
				return
			case <-w.kick:
				continue
			}
		}
		if !w.write(ctx, r) {
			return
		}
		w.mu.Lock()
		w.queue = w.queue[1:]
		w.written++
		w.mu.Unlock()
		if w.onDone != nil {
			w.onDone()
		}
	}
}

// write stores one row, retrying until it is stored or ctx ends.
func (w *Writer) write(ctx context.Context, r *sandbox.CDRRecord) bool {
	c := Row(r)
	wait := 100 * time.Millisecond
	for {
		err := w.st.WritePBXCDR(ctx, c)
		if err == nil {
			return true
		}
		w.log.Warn("writing a CDR into the cdr table failed; retrying", "uniqueid", r.UniqueID, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Row is r as a cdr table row.
func Row(r *sandbox.CDRRecord) *store.CDR {
	return &store.CDR{CallDate: r.Start, CLID: r.CLID, Src: r.Src, Dst: r.Dst, DContext: r.DContext, Channel: r.Channel,
		DstChannel: r.DstChannel, LastApp: r.LastApp, LastData: r.LastData, Duration: r.Duration, Billsec: r.Billsec,
		Disposition: r.Disposition, AMAFlags: r.AMAFlags, AccountCode: r.AccountCode, UniqueID: r.UniqueID,
		UserField: r.UserField, LinkedID: r.LinkedID, Sequence: r.Sequence, TalkSec: r.TalkSec}
}
