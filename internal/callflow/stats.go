package callflow

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the engine's counters, for metrics and the admin page.
type Stats struct {
	Submitted  uint64 // requests accepted by Submit
	Busy       uint64 // refused or expired for capacity (system_busy)
	Originated uint64 // Originates sent
	Finished   uint64 // requests that reached a final state
	Events     uint64 // AMI events handled (CDRs excluded)
	Live       int    // calls followed now (queued included)
	Active     int    // calls holding a capacity slot
	Queued     int    // requests waiting for capacity
	CDRs       uint64 // CDRs written
	CDRDropped uint64 // CDRs lost to a full queue
	Dropped    uint64 // WatchAll updates lost to slow readers
	// OriginateLatency is the distribution of Submit → Originate response
	// (the action is on the wire just before), over the last 4096 calls.
	OriginateP50, OriginateP99 time.Duration
}

type stats struct {
	submitted, busy, originated, finished, events atomic.Uint64

	mu      sync.Mutex
	latency [4096]time.Duration // ring of recent Submit → Originate response times
	n       int
}

func (s *stats) observeOriginate(d time.Duration) {
	s.mu.Lock()
	s.latency[s.n%len(s.latency)] = d
	s.n++
	s.mu.Unlock()
}

func (s *stats) percentiles() (p50, p99 time.Duration) {
	s.mu.Lock()
	n := min(s.n, len(s.latency))
	v := append([]time.Duration(nil), s.latency[:n]...)
	s.mu.Unlock()
	if n == 0 {
		return 0, 0
	}
	slices.Sort(v)
	return v[n*50/100], v[min(n-1, n*99/100)]
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	live := len(e.tr.calls)
	e.mu.Unlock()
	active, queued := e.adm.counts()
	p50, p99 := e.stats.percentiles()
	return Stats{
		Submitted:    e.stats.submitted.Load(),
		Busy:         e.stats.busy.Load(),
		Originated:   e.stats.originated.Load(),
		Finished:     e.stats.finished.Load(),
		Events:       e.stats.events.Load(),
		Live:         live,
		Active:       active,
		Queued:       queued,
		CDRs:         e.cdrs.written.Load(),
		CDRDropped:   e.cdrs.dropped.Load(),
		Dropped:      e.hub.dropped.Load(),
		OriginateP50: p50,
		OriginateP99: p99,
	}
}
