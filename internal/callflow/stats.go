package callflow

import (
	"slices"
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
	Dropped    uint64 // WatchAll updates lost to slow readers
	// WriteErrors counts failed writes of request state to the store
	// (each is retried until it succeeds).
	WriteErrors uint64
	// Latency distributions over the last 4096 calls: Submit → the
	// Originate handed to the AMI client for its one write (queueing and
	// rate cap included), and Originate written → its response from the PBX.
	ToWireP50, ToWireP99     time.Duration
	ResponseP50, ResponseP99 time.Duration
}

type stats struct {
	submitted, busy, originated, finished, events atomic.Uint64
	toWire, response                              latencies
}

// latencies keeps the most recent durations of one kind. It is lock-free:
// the recording goroutines are the hot path of placing calls, and a lock
// holder preempted on a busy machine would stall every one of them.
type latencies struct {
	v [4096]atomic.Int64
	n atomic.Uint64
}

func (l *latencies) observe(d time.Duration) {
	i := l.n.Add(1) - 1
	l.v[i%uint64(len(l.v))].Store(int64(d))
}

func (l *latencies) percentiles() (p50, p99 time.Duration) {
	n := int(min(l.n.Load(), uint64(len(l.v))))
	if n == 0 {
		return 0, 0
	}
	v := make([]time.Duration, n)
	for i := range v {
		v[i] = time.Duration(l.v[i].Load())
	}
	slices.Sort(v)
	return v[n*50/100], v[min(n-1, n*99/100)]
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	live, active, queued := e.Load()
	w50, w99 := e.stats.toWire.percentiles()
	r50, r99 := e.stats.response.percentiles()
	return Stats{
		Submitted:   e.stats.submitted.Load(),
		Busy:        e.stats.busy.Load(),
		Originated:  e.stats.originated.Load(),
		Finished:    e.stats.finished.Load(),
		Events:      e.stats.events.Load(),
		Live:        live,
		Active:      active,
		Queued:      queued,
		Dropped:     e.hub.dropped.Load(),
		WriteErrors: e.w.failures.Load(),
		ToWireP50:   w50,
		ToWireP99:   w99,
		ResponseP50: r50,
		ResponseP99: r99,
	}
}

// Load is the cheap part of Stats, for the node pool's choice on every
// request: calls followed (queued included), calls holding a slot, and
// requests waiting for one.
func (e *Engine) Load() (live, active, queued int) {
	e.mu.Lock()
	live = len(e.tr.calls)
	e.mu.Unlock()
	active, queued = e.adm.counts()
	return live, active, queued
}

// Add sums the counters of two engines' Stats (one per PBX node); the
// latency percentiles are the larger of the two (an upper bound, not a
// merge of the distributions).
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Submitted: s.Submitted + o.Submitted, Busy: s.Busy + o.Busy, Originated: s.Originated + o.Originated,
		Finished: s.Finished + o.Finished, Events: s.Events + o.Events, Live: s.Live + o.Live, Active: s.Active + o.Active,
		Queued: s.Queued + o.Queued, Dropped: s.Dropped + o.Dropped, WriteErrors: s.WriteErrors + o.WriteErrors,
		ToWireP50: max(s.ToWireP50, o.ToWireP50), ToWireP99: max(s.ToWireP99, o.ToWireP99),
		ResponseP50: max(s.ResponseP50, o.ResponseP50), ResponseP99: max(s.ResponseP99, o.ResponseP99),
	}
}
