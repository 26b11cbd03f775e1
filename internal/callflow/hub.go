package callflow

import (
	"sync"
	"sync/atomic"

	"webcallback/internal/callback"
)

// watchBuffer holds every snapshot one request can produce (queued, five
// progress states, the final one, and the snapshot at subscription) with
// room to spare, so a per-request watcher never loses one.
const watchBuffer = 16

// allBuffer is the buffer of a WatchAll subscriber; beyond it, updates to
// that subscriber are dropped and counted (it must not stall the engine).
const allBuffer = 1024

// hub fans request snapshots out to subscribers. publish never blocks.
type hub struct {
	mu      sync.Mutex
	byID    map[string]map[*watcher]struct{}
	all     map[*watcher]struct{}
	dropped atomic.Uint64
}

type watcher struct {
	ch     chan *callback.Request
	closed bool
}

func newHub() *hub {
	return &hub{byID: map[string]map[*watcher]struct{}{}, all: map[*watcher]struct{}{}}
}

// watch subscribes to one request, delivering first (the current snapshot).
// The channel is closed after a final snapshot or by stop.
func (h *hub) watch(id string, first *callback.Request) (<-chan *callback.Request, func()) {
	w := &watcher{ch: make(chan *callback.Request, watchBuffer)}
	w.ch <- first
	h.mu.Lock()
	defer h.mu.Unlock()
	if first.State.Final() {
		w.closed = true
		close(w.ch)
		return w.ch, func() {}
	}
	set := h.byID[id]
	if set == nil {
		set = map[*watcher]struct{}{}
		h.byID[id] = set
	}
	set[w] = struct{}{}
	return w.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.drop(id, w)
	}
}

// drop closes w and forgets it; h.mu is held.
func (h *hub) drop(id string, w *watcher) {
	if w.closed {
		return
	}
	w.closed = true
	close(w.ch)
	if set := h.byID[id]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(h.byID, id)
		}
	}
}

// watchAll subscribes to every transition of every request.
func (h *hub) watchAll() (<-chan *callback.Request, func()) {
	w := &watcher{ch: make(chan *callback.Request, allBuffer)}
	h.mu.Lock()
	h.all[w] = struct{}{}
	h.mu.Unlock()
	return w.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !w.closed {
			w.closed = true
			close(w.ch)
			delete(h.all, w)
		}
	}
}

// publish hands r (a snapshot nobody else mutates) to every subscriber of
// its id and to every WatchAll subscriber.
func (h *hub) publish(r *callback.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.byID[r.ID] {
		h.send(w, r)
		if r.State.Final() {
			h.drop(r.ID, w)
		}
	}
	for w := range h.all {
		h.send(w, r)
	}
}

func (h *hub) send(w *watcher, r *callback.Request) {
	select {
	case w.ch <- r:
	default:
		h.dropped.Add(1)
	}
}

// closeAll ends every subscription (engine shut down).
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, set := range h.byID {
		for w := range set {
			h.drop(id, w)
		}
	}
	for w := range h.all {
		w.closed = true
		close(w.ch)
		delete(h.all, w)
	}
}

// end closes the subscriptions to one request (the engine no longer
// follows it: Disown).
func (h *hub) end(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.byID[id] {
		h.drop(id, w)
	}
}
