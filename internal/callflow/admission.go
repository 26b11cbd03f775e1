package callflow

import (
	"sync"
	"time"
)

// admission caps what the engine asks of the PBX and the trunk: at most
// maxConc calls in progress, at most one Originate every interval, and a
// bounded FIFO of requests waiting for either, each for at most maxWait.
// Whoever does not fit is told at once (full) or when their wait runs out
// (expired): never a silent drop.
type admission struct {
	mu       sync.Mutex
	maxConc  int
	interval time.Duration // 1/max originations per second; 0 = no rate cap
	size     int           // queue capacity beyond free slots
	maxWait  time.Duration
	active   int       // calls holding a slot (Originate sent, not final)
	next     time.Time // earliest time of the next Originate
	queue    []waiting
	kick     chan struct{} // wakes the dispatcher: a slot or an entry
	closed   bool
	// Service-wide capacity (Config.Gate): the queue times of the requests
	// being placed, to put one back at the head, and when the gate allows
	// the next try.
	placing   map[string]time.Time
	gateAfter time.Time
}

type waiting struct {
	id    string
	since time.Time
}

func newAdmission(maxConc int, perSecond float64, size int, maxWait time.Duration) *admission {
	a := &admission{maxConc: maxConc, size: size, maxWait: maxWait, kick: make(chan struct{}, 1)}
	if perSecond > 0 {
		a.interval = time.Duration(float64(time.Second) / perSecond)
	}
	return a
}

func (a *admission) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// enqueue adds id to the FIFO. It reports false when the request cannot be
// taken: every slot and every queue place is taken, or the call-rate cap
// alone would make it wait longer than maxWait.
func (a *admission) enqueue(id string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.active+len(a.queue) >= a.maxConc+a.size {
		return false
	}
	if a.interval > 0 {
		start := a.next
		if start.Before(now) {
			start = now
		}
		if start.Add(time.Duration(len(a.queue))*a.interval).Sub(now) > a.maxWait {
			return false
		}
	}
	a.queue = append(a.queue, waiting{id, now})
	a.wake()
	return true
}

// requeue puts id back at the head of the queue with its first wait's
// start (its Originate could not be sent: the AMI link went down). It
// reports false once the queue is closed.
func (a *admission) requeue(id string, since time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.queue = append([]waiting{{id, since}}, a.queue...)
	a.wake()
	return true
}

// remove takes id out of the queue (a visitor canceled while it waited). It
// reports whether id was queued.
func (a *admission) remove(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, w := range a.queue {
		if w.id == id {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			return true
		}
	}
	return false
}

// acquire registers a call that holds a slot without having been dispatched
// (a live call adopted at start or after a reconnect).
func (a *admission) acquire() {
	a.mu.Lock()
	a.active++
	a.mu.Unlock()
}

// release frees the slot of a call that reached a final state.
func (a *admission) release() {
	a.mu.Lock()
	if a.active > 0 {
		a.active--
	}
	a.mu.Unlock()
	a.wake()
}

// next step of the dispatcher: the ids whose wait ran out, the id to
// originate now (taking its slot and rate token), or how long to sleep.
// While canPlace is false (the AMI link is down) nothing is taken: the
// queue waits for the reconnect, each request still for at most maxWait.
func (a *admission) step(now time.Time, canPlace bool) (expired []string, ready string, sleep time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := a.queue[:0]
	for _, w := range a.queue {
		if now.Sub(w.since) > a.maxWait {
			expired = append(expired, w.id)
		} else {
			keep = append(keep, w)
		}
	}
	clear(a.queue[len(keep):])
	a.queue = keep
	if len(a.queue) == 0 {
		return expired, "", -1
	}
	// The head's wait ends at since+maxWait: wake for it even when blocked.
	sleep = a.queue[0].since.Add(a.maxWait).Sub(now) + time.Millisecond
	if !canPlace || a.active >= a.maxConc {
		return expired, "", sleep
	}
	if a.interval > 0 && now.Before(a.next) {
		return expired, "", min(sleep, a.next.Sub(now))
	}
	if now.Before(a.gateAfter) {
		return expired, "", min(sleep, a.gateAfter.Sub(now))
	}
	ready = a.queue[0].id
	if a.placing == nil {
		a.placing = map[string]time.Time{}
	}
	a.placing[ready] = a.queue[0].since
	a.queue = a.queue[1:]
	a.active++
	if a.interval > 0 {
		if a.next.Before(now) {
			a.next = now // strict spacing: an idle spell earns no burst
		}
		a.next = a.next.Add(a.interval)
	}
	return expired, ready, 0
}

// placed forgets the queue time of id, whose Originate is going out.
func (a *admission) placed(id string) {
	a.mu.Lock()
	delete(a.placing, id)
	a.mu.Unlock()
}

// gateRequeue puts id, which step just handed out, back at the head of the
// queue with its slot and rate token returned: the service-wide gate said
// wait until after. Its queue time is kept, so its maxWait still holds.
// It reports false when the queue is closed (shutting down): the caller
// refuses the request.
func (a *admission) gateRequeue(id string, after time.Time) bool {
	a.mu.Lock()
	since, ok := a.placing[id]
	delete(a.placing, id)
	if a.active > 0 {
		a.active--
	}
	if a.interval > 0 {
		a.next = a.next.Add(-a.interval)
	}
	if after.After(a.gateAfter) {
		a.gateAfter = after
	}
	if !ok {
		since = time.Now()
	}
	back := !a.closed
	if back {
		a.queue = append([]waiting{{id, since}}, a.queue...)
	}
	a.mu.Unlock()
	a.wake()
	return back
}

// close refuses every further request and returns the ids still queued.
func (a *admission) close() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	ids := make([]string, len(a.queue))
	for i, w := range a.queue {
		ids[i] = w.id
	}
	a.queue = nil
	a.wake()
	return ids
}

// counts reports the calls holding a slot and the requests waiting.
func (a *admission) counts() (active, queued int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active, len(a.queue)
}
