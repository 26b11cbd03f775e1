package ratelimit

import (
	"context"
	"time"
)

// Backend keeps the states of keys where several processes share them (the
// service's database when several instances run: docs/scale-out.md), so a
// limit holds for the whole service, not per instance.
type Backend interface {
	// UpdateRateLimit runs fn on key's state (the zero State for a new key)
	// under a lock that holds across processes, and stores the result
	// until the time fn returns, after which the state may be forgotten.
	UpdateRateLimit(ctx context.Context, key string, fn func(*State) (keepUntil time.Time)) error
}

// sharedTimeout bounds one round trip to the Backend; past it, or on any
// error, the limiter decides on this process's memory alone.
const sharedTimeout = 2 * time.Second

type shared struct {
	name    string
	backend Backend
	onErr   func(error)
}

// Share makes l count in b under keys prefixed with name (one name per
// limiter sharing b). Its memory then caches refusals: a key refused stays
// refused here without a round trip until its wait is over, which keeps a
// flood from one key as cheap as with memory alone. When b fails, l counts
// in memory (per process) and reports the error to onErr (may be nil).
// Call it before the first Allow.
func (l *Limiter) Share(name string, b Backend, onErr func(error)) {
	if onErr == nil {
		onErr = func(error) {}
	}
	l.shared = &shared{name: name, backend: b, onErr: onErr}
}

// cachedRefusal reports a refusal this process already knows of.
func (l *Limiter) cachedRefusal(key string, now time.Time) (bool, time.Duration) {
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := l.entry(sh, key, now)
	if now.Before(e.BlockedUntil) {
		return true, e.BlockedUntil.Sub(now)
	}
	return false, 0
}

// cacheRefusal remembers that key is refused for wait.
func (l *Limiter) cacheRefusal(key string, now time.Time, wait time.Duration) {
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := l.entry(sh, key, now)
	if until := now.Add(wait); until.After(e.BlockedUntil) {
		e.BlockedUntil = until
	}
}

// local runs f on key's state in memory: the fallback when the backend fails.
func (l *Limiter) local(key string, now time.Time, f func(*State)) {
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	f(&l.entry(sh, key, now).State)
}

// onShared runs f on key's shared state, or on its local state if the
// backend fails.
func (l *Limiter) onShared(key string, now time.Time, f func(*State)) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	err := l.shared.backend.UpdateRateLimit(ctx, l.shared.name+":"+key, func(st *State) time.Time {
		f(st)
		return l.keepUntil(st)
	})
	if err != nil {
		l.shared.onErr(err)
		l.local(key, now, f)
	}
}

func (l *Limiter) takeShared(key string, now time.Time, count bool) (ok bool, wait time.Duration) {
	if refused, wait := l.cachedRefusal(key, now); refused {
		return false, wait
	}
	l.onShared(key, now, func(st *State) { ok, wait = l.apply(st, now, count) })
	if !ok && count {
		// Only a counted refusal is cached: it carries the backoff strike.
		// A Check's refusal cached would answer the Allow after it (the
		// policy's check-then-count: a key over its limit is refused and
		// struck by that Allow) without the strike, and the backoff of a
		// key that keeps trying would never grow with several instances.
		l.cacheRefusal(key, now, wait)
	}
	return ok, wait
}

// withShared is withEntry on the shared row; a refusal it leads to is
// remembered here too.
func (l *Limiter) withShared(key string, now time.Time, f func(*State) time.Duration) (wait time.Duration) {
	l.onShared(key, now, func(st *State) { wait = f(st) })
	l.cacheRefusal(key, now, wait)
	return wait
}

// keepUntil is when st says nothing any more: its windows have slid out,
// its block is over and its strikes are forgotten.
func (l *Limiter) keepUntil(st *State) time.Time {
	t := st.WindowStart.Add(2 * l.limit.Per)
	if st.BlockedUntil.After(t) {
		t = st.BlockedUntil
	}
	if st.Strikes > 0 {
		keep := max(l.backoff.Reset, l.backoff.Max, l.limit.Per)
		if l.backoff.Reset <= 0 {
			keep = maxBackoff // strikes are never forgotten otherwise: a day
		}
		if s := st.LastStrike.Add(keep); s.After(t) {
			t = s
		}
	}
	return t
}
