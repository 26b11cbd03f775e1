package callflow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"webcallback/ami"
	"webcallback/internal/monitor"
	"webcallback/internal/store"
)

// cdrQueue bounds the CDRs waiting for the store; beyond it they are
// dropped and logged (the store being down that long is an outage anyway).
const cdrQueue = 1 << 14

// cdrWriter writes Cdr events to the store off the event loop, parsed by
// the monitor's parser; the store ties each row to its request (userfield
// ";wcb:<id>", else UniqueID = request id). InsertCDR is idempotent, so a
// CDR seen twice (two consumers, a replay) lands once.
type cdrWriter struct {
	st      store.Store
	log     *slog.Logger
	loc     *time.Location
	ch      chan *ami.Message
	mu      sync.Mutex // serializes writes between run and flush
	dropped atomic.Uint64
	written atomic.Uint64
}

func newCDRWriter(st store.Store, log *slog.Logger) *cdrWriter {
	return &cdrWriter{st: st, log: log, loc: time.UTC, ch: make(chan *ami.Message, cdrQueue)}
}

func (w *cdrWriter) put(m *ami.Message) {
	select {
	case w.ch <- m:
	default:
		w.dropped.Add(1)
		w.log.Error("CDR queue full; CDR dropped", "uniqueid", m.Get("UniqueID"))
	}
}

// run writes until done is closed; a write in flight is finished.
func (w *cdrWriter) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case m := <-w.ch:
			w.write(done, m)
		}
	}
}

// write stores one CDR, retrying a failing store until done is closed.
func (w *cdrWriter) write(done <-chan struct{}, m *ami.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := monitor.ParseCDRIn(m, w.loc)
	if err != nil {
		w.log.Warn("ignoring Cdr event", "err", err)
		return
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		_, err := w.st.InsertCDR(ctx, c)
		cancel()
		if err == nil {
			w.written.Add(1)
			return
		}
		w.log.Error("storing CDR; will retry", "uniqueid", c.UniqueID, "request", c.RequestID, "err", err)
		select {
		case <-done:
			w.dropped.Add(1)
			return
		case <-time.After(writeRetry):
		}
	}
}

// flush writes the CDRs still queued (run must have stopped), until ctx ends.
func (w *cdrWriter) flush(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%d CDRs not written: %w", len(w.ch), err)
		}
		select {
		case m := <-w.ch:
			w.write(ctx.Done(), m)
		default:
			return nil
		}
	}
}
