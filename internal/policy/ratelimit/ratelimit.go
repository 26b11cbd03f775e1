// Package ratelimit counts events per key (an IP, a subnet, a phone number)
// in a sliding window and refuses keys that exceed their limit, with an
// exponential backoff for keys that keep trying.
//
// Memory is bounded: keys live in a fixed number of shards, each a map with
// an LRU list, and the least recently seen key is evicted when a shard is
// full. An attacker spraying fresh keys therefore costs a fixed amount of
// memory; evicting forgets an old key's history, which is why the coarser
// keys (a /24 or /64 subnet, a number prefix) are limited too. Time is always
// passed in, so tests need no sleeps.
package ratelimit

import (
	"container/list"
	"hash/maphash"
	"sync"
	"time"
)

// Limit is N events per window Per. The zero Limit (N <= 0 or Per <= 0)
// allows everything.
type Limit struct {
	N   int
	Per time.Duration
}

// Off reports whether l allows everything.
func (l Limit) Off() bool { return l.N <= 0 || l.Per <= 0 }

// Backoff is how long a key is blocked after it exceeds its limit: Base the
// first time, doubling with each further strike, at most Max. Strikes are
// forgotten after Reset without one. The zero Backoff blocks only until the
// window allows again.
type Backoff struct {
	Base, Max, Reset time.Duration
}

// DefaultMaxKeys bounds the keys one Limiter remembers (about 120 bytes each).
const DefaultMaxKeys = 65536

const shards = 64

// maxBackoff caps a Backoff without Max, so doubling cannot overflow.
const maxBackoff = 24 * time.Hour

// Limiter is safe for concurrent use.
type Limiter struct {
	limit    Limit
	backoff  Backoff
	perShard int
	seed     maphash.Seed
	shards   [shards]shard
	shared   *shared // nil: this process's memory only
}

type shard struct {
	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // front = most recently used; values are *entry
}

type entry struct {
	key string
	State
}

// State is what a Limiter knows of one key: what a [Backend] stores for
// limiters several processes share.
type State struct {
	WindowStart  time.Time // start of the current fixed window
	Cur, Prev    int       // events in the current and the previous window
	Strikes      int
	LastStrike   time.Time
	BlockedUntil time.Time
}

// New returns a Limiter remembering at most maxKeys keys (DefaultMaxKeys if
// maxKeys <= 0).
func New(limit Limit, backoff Backoff, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	l := &Limiter{limit: limit, backoff: backoff, seed: maphash.MakeSeed()}
	l.perShard = max(1, (maxKeys+shards-1)/shards)
	for i := range l.shards {
		l.shards[i].m = make(map[string]*list.Element)
	}
	return l
}

// Limit returns the limit l enforces.
func (l *Limiter) Limit() Limit { return l.limit }

// Allow counts one event for key at now and reports whether it is within
// the limit. When it is not, retryAfter is how long the key must wait; a
// refused event is not counted, but exceeding the limit adds a backoff
// strike.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.take(key, now, true)
}

// Check is Allow without counting: it reports whether one more event would
// be allowed.
func (l *Limiter) Check(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.take(key, now, false)
}

// Strike adds a backoff strike to key without an event (a honeypot hit, a
// key that just reached its limit) and returns how long it is now blocked:
// the backoff, or longer if the window is full for longer.
func (l *Limiter) Strike(key string, now time.Time) time.Duration {
	return l.withEntry(key, now, func(e *State) time.Duration {
		free := now
		if now.Before(e.BlockedUntil) {
			free = e.BlockedUntil
		}
		l.roll(e, now)
		if l.estimate(e, now) >= float64(l.limit.N) {
			if t := l.freeAt(e, now); t.After(free) {
				free = t
			}
		}
		return l.strike(e, now, free)
	})
}

// Lockout blocks key for the backoff alone (Base, doubling per strike up
// to Max) and forgets its window's events, so the block lasts exactly what
// the backoff says rather than until the window empties, and the key starts
// afresh after it. For lockouts after too many failures (admin logins).
func (l *Limiter) Lockout(key string, now time.Time) time.Duration {
	return l.withEntry(key, now, func(e *State) time.Duration {
		e.Cur, e.Prev = 0, 0
		return l.strike(e, now, now)
	})
}

// withEntry runs f on key's state under its shard's lock, or on the
// shared row under its lock when the limiter is shared; 0 when the limit
// is off.
func (l *Limiter) withEntry(key string, now time.Time, f func(*State) time.Duration) time.Duration {
	if l.limit.Off() {
		return 0
	}
	if l.shared != nil {
		return l.withShared(key, now, f)
	}
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return f(&l.entry(sh, key, now).State)
}

// Len returns the number of keys remembered.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func (l *Limiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shards]
}

func (l *Limiter) take(key string, now time.Time, count bool) (bool, time.Duration) {
	if l.limit.Off() {
		return true, 0
	}
	if l.shared != nil {
		return l.takeShared(key, now, count)
	}
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return l.apply(&l.entry(sh, key, now).State, now, count)
}

// apply is take on one key's state.
func (l *Limiter) apply(e *State, now time.Time, count bool) (bool, time.Duration) {
	if now.Before(e.BlockedUntil) {
		return false, e.BlockedUntil.Sub(now)
	}
	l.roll(e, now)
	if l.estimate(e, now) >= float64(l.limit.N) {
		if !count {
			return false, l.freeAt(e, now).Sub(now)
		}
		return false, l.strike(e, now, l.freeAt(e, now))
	}
	if count {
		e.Cur++
	}
	return true, 0
}

// entry finds or creates key's entry, marking it most recently used and
// evicting the least recently used one if the shard is full.
func (l *Limiter) entry(sh *shard, key string, now time.Time) *entry {
	if el, ok := sh.m[key]; ok {
		sh.lru.MoveToFront(el)
		return el.Value.(*entry)
	}
	if len(sh.m) >= l.perShard {
		old := sh.lru.Back()
		sh.lru.Remove(old)
		delete(sh.m, old.Value.(*entry).key)
	}
	e := &entry{key: key, State: State{WindowStart: now.Truncate(l.limit.Per)}}
	sh.m[key] = sh.lru.PushFront(e)
	return e
}

// roll moves e's fixed windows forward to the one holding now.
func (l *Limiter) roll(e *State, now time.Time) {
	start := now.Truncate(l.limit.Per)
	switch d := start.Sub(e.WindowStart); {
	case d <= 0:
	case d == l.limit.Per:
		e.Prev, e.Cur = e.Cur, 0
	default:
		e.Prev, e.Cur = 0, 0
	}
	if start.After(e.WindowStart) {
		e.WindowStart = start
	}
}

// estimate is the sliding-window count: the current window plus the part
// of the previous one still inside [now-Per, now].
func (l *Limiter) estimate(e *State, now time.Time) float64 {
	elapsed := now.Sub(e.WindowStart)
	weight := 1 - float64(elapsed)/float64(l.limit.Per)
	return float64(e.Cur) + float64(e.Prev)*weight
}

// freeAt estimates when one more event fits: when enough of the previous
// window has slid out, or else when the current window has become the
// previous one and slid out enough.
func (l *Limiter) freeAt(e *State, now time.Time) time.Time {
	n := float64(l.limit.N)
	per := float64(l.limit.Per)
	if e.Prev > 0 && float64(e.Cur) < n {
		// prev*(1-x/per) + cur < n  ⇔  x > per*(1-(n-cur)/prev)
		x := per * (1 - (n-float64(e.Cur))/float64(e.Prev))
		if t := e.WindowStart.Add(time.Duration(x) + time.Millisecond); t.After(now) {
			return t
		}
	}
	// In the next window the current count becomes prev.
	next := e.WindowStart.Add(l.limit.Per)
	if float64(e.Cur) < n {
		return next
	}
	x := per * (1 - n/float64(e.Cur))
	return next.Add(time.Duration(x) + time.Millisecond)
}

// strike records one more strike and blocks e until the later of free and
// the backoff; it returns how long from now.
func (l *Limiter) strike(e *State, now, free time.Time) time.Duration {
	b := l.backoff
	if b.Reset > 0 && now.Sub(e.LastStrike) > b.Reset {
		e.Strikes = 0
	}
	e.Strikes++
	e.LastStrike = now
	until := free
	if b.Base > 0 {
		ceiling := b.Max
		if ceiling <= 0 {
			ceiling = maxBackoff
		}
		d := b.Base
		for i := 1; i < e.Strikes && d < ceiling; i++ {
			d *= 2
		}
		d = min(d, ceiling)
		if t := now.Add(d); t.After(until) {
			until = t
		}
	}
	e.BlockedUntil = until
	return until.Sub(now)
}
