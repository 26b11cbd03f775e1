package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/store"
)

// watchBuffer is a remote watcher's buffer; when a reader falls behind,
// older snapshots give way to newer ones (the last one, the final state,
// always arrives).
const watchBuffer = 32

// relay delivers the stored transitions of requests other instances follow
// to this instance's watchers: one poll of all watched requests' versions,
// then one read of each changed request, fanned out to its watchers.
type relay struct {
	st  Store
	log *slog.Logger

	mu    sync.Mutex
	feeds map[string]*feed
	wakeC chan struct{}
}

type feed struct {
	last store.RequestVersion
	ws   map[*remoteWatcher]struct{}
}

type remoteWatcher struct {
	ch     chan *callback.Request
	closed bool
}

func newRelay(st Store, log *slog.Logger) *relay {
	return &relay{st: st, log: log, feeds: map[string]*feed{}, wakeC: make(chan struct{}, 1)}
}

// watch subscribes to r's request, delivering r first. stop closes the
// channel; it is closed too after the final state.
func (rl *relay) watch(r *callback.Request) (<-chan *callback.Request, func()) {
	w := &remoteWatcher{ch: make(chan *callback.Request, watchBuffer)}
	w.ch <- r
	rl.mu.Lock()
	defer rl.mu.Unlock()
	f := rl.feeds[r.ID]
	if f == nil {
		f = &feed{last: store.VersionOf(r), ws: map[*remoteWatcher]struct{}{}}
		rl.feeds[r.ID] = f
	}
	f.ws[w] = struct{}{}
	wake(rl.wakeC) // a transition may have been stored since r was read
	return w.ch, func() {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		rl.dropLocked(r.ID, w)
	}
}

func (rl *relay) dropLocked(id string, w *remoteWatcher) {
	if w.closed {
		return
	}
	w.closed = true
	close(w.ch)
	if f := rl.feeds[id]; f != nil {
		delete(f.ws, w)
		if len(f.ws) == 0 {
			delete(rl.feeds, id)
		}
	}
}

// notify wakes the poll for id ("" = whatever is watched) if it is watched.
func (rl *relay) notify(id string) {
	rl.mu.Lock()
	_, ok := rl.feeds[id]
	rl.mu.Unlock()
	if ok || id == "" {
		wake(rl.wakeC)
	}
}

func (rl *relay) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			rl.closeAll()
			return
		case <-tick.C:
		case <-rl.wakeC:
		}
		if err := rl.pollOnce(ctx); err != nil && ctx.Err() == nil {
			rl.log.Warn("relaying progress of other instances' calls", "err", err)
		}
	}
}

// pollOnce reads the versions of the watched requests and delivers those
// that changed.
func (rl *relay) pollOnce(ctx context.Context) error {
	rl.mu.Lock()
	ids := make([]string, 0, len(rl.feeds))
	for id := range rl.feeds {
		ids = append(ids, id)
	}
	rl.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	vs, err := rl.st.RequestVersions(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rl.mu.Lock()
		f := rl.feeds[id]
		changed := f != nil && vs[id] != f.last
		rl.mu.Unlock()
		if !changed {
			continue
		}
		r, err := rl.st.GetRequest(ctx, id)
		if errors.Is(err, callback.ErrNotFound) {
			rl.closeID(id) // deleted (retention): nothing more will come
			continue
		}
		if err != nil {
			return err
		}
		rl.deliver(r, store.VersionOf(r))
	}
	return nil
}

func (rl *relay) deliver(r *callback.Request, v store.RequestVersion) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	f := rl.feeds[r.ID]
	if f == nil {
		return
	}
	f.last = v
	for w := range f.ws {
		select {
		case w.ch <- r.Clone():
		default: // full: the oldest gives way
			select {
			case <-w.ch:
			default:
			}
			w.ch <- r.Clone()
		}
		if r.State.Final() {
			rl.dropLocked(r.ID, w)
		}
	}
}

func (rl *relay) closeID(id string) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if f := rl.feeds[id]; f != nil {
		for w := range f.ws {
			rl.dropLocked(id, w)
		}
	}
}

func (rl *relay) closeAll() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for id, f := range rl.feeds {
		for w := range f.ws {
			rl.dropLocked(id, w)
		}
	}
}
