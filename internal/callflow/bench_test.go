package callflow

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/sandbox"
)

// BenchmarkConcurrentCallbacks places 1,000 callbacks at once through the
// engine, the AMI client and the sandbox PBX (time scale 0.01: a 60 s talk
// limit lasts 0.6 s, so all 1,000 are live together) and reports:
//
//   - to-wire-p50-ms, to-wire-p99-ms: Submit → the Originate handed to the
//     AMI client for its single write;
//
//   - response-p50-ms, response-p99-ms: Originate written → the PBX's
//     response;
//
//   - events/s: AMI events the engine handled per wall-clock second;
//
//   - heap-KiB/live-call: heap growth at the peak of live calls divided by
//     the calls live then (engine, AMI client and sandbox PBX share the
//     process, so this is an upper bound for the engine alone).
//
//     go test ./internal/callflow -run '^$' -bench ConcurrentCallbacks -benchtime 1x
func BenchmarkConcurrentCallbacks(b *testing.B) {
	const calls = 1000
	r := newRig(b, Config{Limit: 60 * time.Second, Warning: 10 * time.Second, MaxConcurrent: calls, MaxPerSecond: -1,
		QueueSize: calls, QueueWait: time.Minute, Instance: "bench", PBXTimeScale: 0.01},
		sandbox.Config{TimeScale: 0.01})
	for i := 0; b.Loop(); i++ {
		reqs := make([]*callback.Request, calls)
		b.StopTimer()
		for j := range reqs {
			reqs[j] = r.admit(fmt.Sprintf("1380%07d", i*calls+j), fmt.Sprintf("1390%07d", i*calls+j))
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		events0 := r.e.Stats().Events
		b.StartTimer()

		// Sample the peak of live calls and the heap at that moment.
		var peakLive atomic.Int64
		var peakHeap atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if live := int64(r.e.Stats().Live); live > peakLive.Load() {
					runtime.ReadMemStats(&ms)
					peakLive.Store(live)
					peakHeap.Store(ms.HeapAlloc)
				}
			}
		}()

		start := time.Now()
		var wg sync.WaitGroup
		for _, req := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.e.Submit(r.ctx, req); err != nil {
					b.Error(err)
					return
				}
				final, _ := r.wait(req.ID)
				if final.State != callback.StateCompleted {
					b.Errorf("%s: %s/%s", req.ID, final.State, final.Reason)
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(stop)
		sampler.Wait()

		s := r.e.Stats()
		b.ReportMetric(float64(s.ToWireP50.Microseconds())/1000, "to-wire-p50-ms")
		b.ReportMetric(float64(s.ToWireP99.Microseconds())/1000, "to-wire-p99-ms")
		b.ReportMetric(float64(s.ResponseP50.Microseconds())/1000, "response-p50-ms")
		b.ReportMetric(float64(s.ResponseP99.Microseconds())/1000, "response-p99-ms")
		b.ReportMetric(float64(s.Events-events0)/elapsed.Seconds(), "events/s")
		if live := peakLive.Load(); live > 0 && peakHeap.Load() > before.HeapAlloc {
			b.ReportMetric(float64(peakHeap.Load()-before.HeapAlloc)/float64(live)/1024, "heap-KiB/live-call")
			b.ReportMetric(float64(live), "peak-live")
		}
	}
}

// BenchmarkStateMachine feeds a real Asterisk 22 call (fixture
// timeout-direct, every event incl. the VarSet/Newexten noise) through
// correlation and the state machine: the engine's CPU cost per event,
// without the PBX.
//
//	go test ./internal/callflow -run '^$' -bench StateMachine
func BenchmarkStateMachine(b *testing.B) {
	const id = "6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c"
	msgs := readFixture(b, "timeout-direct")
	rewriteIDs(msgs, id, originateActionID(id))
	b.ReportAllocs()
	for b.Loop() {
		c := newReplayCall(id, 15*time.Second)
		replay(c, msgs)
		if c.req.State != callback.StateCompleted {
			b.Fatal(c.req.State)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/event")
}

// BenchmarkSubmitSequential submits one callback at a time (the caller is
// busy, so each call ends at once) and reports Submit → Originate handed to
// the AMI client without any queueing: the engine's own latency.
//
//	go test ./internal/callflow -run '^$' -bench SubmitSequential
func BenchmarkSubmitSequential(b *testing.B) {
	r := newRig(b, Config{MaxConcurrent: 10, MaxPerSecond: -1, Instance: "bench-seq", PBXTimeScale: 0.01},
		sandbox.Config{TimeScale: 0.01})
	var n int
	for b.Loop() {
		b.StopTimer()
		req := r.admit(fmt.Sprintf("1381111%04d", n%10000), "13800002002")
		n++
		b.StartTimer()
		if err := r.e.Submit(r.ctx, req); err != nil {
			b.Fatal(err)
		}
		if final, _ := r.wait(req.ID); final.Reason != callback.ReasonCallerBusy {
			b.Fatalf("%s/%s", final.State, final.Reason)
		}
	}
	s := r.e.Stats()
	b.ReportMetric(float64(s.ToWireP50.Microseconds())/1000, "to-wire-p50-ms")
	b.ReportMetric(float64(s.ToWireP99.Microseconds())/1000, "to-wire-p99-ms")
	b.ReportMetric(float64(s.ResponseP50.Microseconds())/1000, "response-p50-ms")
	b.ReportMetric(float64(s.ResponseP99.Microseconds())/1000, "response-p99-ms")
}
