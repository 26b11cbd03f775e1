package callflow

import (
	"fmt"
	"testing"
	"time"
)

func TestAdmissionCapacity(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name           string
		maxConc, size  int
		perSecond      float64
		wait           time.Duration
		submit         int
		wantAccepted   int
		wantReadyAtT0  int
		wantQueuedAtT0 int
	}{
		{"N+1th is busy without a queue", 3, 0, 0, time.Second, 4, 3, 3, 0},
		{"queue takes the overflow", 2, 2, 0, time.Second, 5, 4, 2, 2},
		{"rate cap: the wait would exceed maxWait", 10, 10, 2, time.Second, 10, 3, 1, 2},
		{"no cap on rate", 100, 0, 0, 0, 100, 100, 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdmission(tc.maxConc, tc.perSecond, tc.size, tc.wait)
			accepted := 0
			for i := range tc.submit {
				if a.enqueue(fmt.Sprint(i), t0) {
					accepted++
				}
			}
			if accepted != tc.wantAccepted {
				t.Fatalf("accepted %d, want %d", accepted, tc.wantAccepted)
			}
			var ready []string
			for {
				exp, id, _ := a.step(t0, true)
				if len(exp) > 0 {
					t.Fatalf("expired %v at t0", exp)
				}
				if id == "" {
					break
				}
				ready = append(ready, id)
			}
			if len(ready) != tc.wantReadyAtT0 {
				t.Fatalf("ready at t0: %v, want %d", ready, tc.wantReadyAtT0)
			}
			for i, id := range ready { // FIFO
				if id != fmt.Sprint(i) {
					t.Fatalf("ready %v: not in submission order", ready)
				}
			}
			if act, q := a.counts(); act != len(ready) || q != tc.wantQueuedAtT0 {
				t.Fatalf("counts = %d active, %d queued; want %d, %d", act, q, len(ready), tc.wantQueuedAtT0)
			}
		})
	}
}

func TestAdmissionReleaseExpireRate(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	a := newAdmission(1, 10, 2, 2*time.Second)
	for _, id := range []string{"a", "b", "c"} {
		if !a.enqueue(id, t0) {
			t.Fatalf("enqueue %s refused", id)
		}
	}
	if _, id, _ := a.step(t0, true); id != "a" {
		t.Fatalf("first ready = %q", id)
	}
	// No slot: b waits, and the dispatcher is told to wake before b expires.
	if _, id, sleep := a.step(t0, true); id != "" || sleep <= 0 || sleep > 2*time.Second+time.Millisecond {
		t.Fatalf("step with no slot = %q, sleep %v", id, sleep)
	}
	a.release()
	// A slot but the rate token is 100 ms away.
	if _, id, sleep := a.step(t0.Add(10*time.Millisecond), true); id != "" || sleep != 90*time.Millisecond {
		t.Fatalf("step before the token = %q, sleep %v", id, sleep)
	}
	if _, id, _ := a.step(t0.Add(100*time.Millisecond), true); id != "b" {
		t.Fatalf("after the token: ready %q, want b", id)
	}
	// c waits for a slot longer than maxWait: expired, not dropped.
	exp, id, _ := a.step(t0.Add(3*time.Second), true)
	if id != "" || len(exp) != 1 || exp[0] != "c" {
		t.Fatalf("expiry: ready %q, expired %v", id, exp)
	}
	if !a.enqueue("d", t0.Add(3*time.Second)) || !a.remove("d") || a.remove("d") {
		t.Fatal("remove of a queued id")
	}
	if left := a.close(); len(left) != 0 || a.enqueue("e", t0) {
		t.Fatalf("close: left %v, still accepting", left)
	}
}

// TestAdmissionRequeue: a request the service-wide gate turns away goes
// back to the head of the queue with its slot returned and its queue time
// kept (its maxWait still counts from its arrival); nothing is handed out
// before the gate's time; once closed, requeue refuses.
func TestAdmissionGateRequeue(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	a := newAdmission(1, 0, 5, 10*time.Second)
	a.enqueue("a", t0)
	a.enqueue("b", t0.Add(time.Second))
	if _, id, _ := a.step(t0.Add(2*time.Second), true); id != "a" {
		t.Fatalf("first out %q, want a", id)
	}
	if !a.gateRequeue("a", t0.Add(5*time.Second)) {
		t.Fatal("requeue refused on an open queue")
	}
	if active, queued := a.counts(); active != 0 || queued != 2 {
		t.Fatalf("after requeue: %d active, %d queued; want 0 and 2", active, queued)
	}
	if _, id, sleep := a.step(t0.Add(3*time.Second), true); id != "" || sleep != 2*time.Second {
		t.Fatalf("before the gate's time: %q, sleep %v; want nothing for 2s", id, sleep)
	}
	if _, id, _ := a.step(t0.Add(5*time.Second), true); id != "a" {
		t.Fatalf("at the gate's time: %q, want a (the head again)", id)
	}
	a.placed("a")
	a.release() // a's call ended
	// b, handed out and turned away, keeps its queue time (t0+1s).
	if _, id, _ := a.step(t0.Add(6*time.Second), true); id != "b" || !a.gateRequeue(id, t0) {
		t.Fatalf("handed out %q, want b", id)
	}
	if exp, _, _ := a.step(t0.Add(11*time.Second+time.Millisecond), true); len(exp) != 1 || exp[0] != "b" {
		t.Fatalf("expired %v, want b (queued at t0+1s, waited 10 s)", exp)
	}
	a.close()
	a.enqueue("c", t0)
	if a.gateRequeue("c", t0) {
		t.Error("requeue accepted after close")
	}
}

// While the AMI link is down the queue is held, not refused: the head
// waits for the reconnect, and still expires after maxWait.
func TestAdmissionHeldWhileLinkDown(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	a := newAdmission(5, 0, 5, 2*time.Second)
	if !a.enqueue("a", t0) || !a.enqueue("b", t0.Add(time.Second)) {
		t.Fatal("enqueue refused")
	}
	if exp, id, sleep := a.step(t0.Add(500*time.Millisecond), false); id != "" || len(exp) != 0 || sleep != 1501*time.Millisecond {
		t.Fatalf("link down: ready %q, expired %v, sleep %v", id, exp, sleep)
	}
	if active, queued := a.counts(); active != 0 || queued != 2 {
		t.Fatalf("link down took a slot: active %d, queued %d", active, queued)
	}
	// a's wait runs out while the link is still down; b is placed once it is back.
	if exp, id, _ := a.step(t0.Add(2100*time.Millisecond), false); id != "" || len(exp) != 1 || exp[0] != "a" {
		t.Fatalf("expiry while down: ready %q, expired %v", id, exp)
	}
	if _, id, _ := a.step(t0.Add(2200*time.Millisecond), true); id != "b" {
		t.Fatalf("after the reconnect: ready %q, want b", id)
	}
}

// A request whose Originate could not be sent goes back to the head of the
// queue with its first wait's start, and still expires after maxWait.
func TestAdmissionRequeue(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	a := newAdmission(5, 0, 5, 2*time.Second)
	if !a.enqueue("a", t0) || !a.enqueue("b", t0.Add(time.Second)) {
		t.Fatal("enqueue refused")
	}
	if _, id, _ := a.step(t0, true); id != "a" {
		t.Fatalf("ready %q, want a", id)
	}
	a.release()
	if !a.requeue("a", t0) {
		t.Fatal("requeue refused")
	}
	if _, id, _ := a.step(t0.Add(time.Second), true); id != "a" {
		t.Fatalf("after requeue: ready %q, want a first", id)
	}
	a.release()
	a.requeue("a", t0)
	if exp, _, _ := a.step(t0.Add(2100*time.Millisecond), false); len(exp) != 1 || exp[0] != "a" {
		t.Fatalf("requeued a kept its first wait: expired %v", exp)
	}
	a.close()
	if a.requeue("b", t0) {
		t.Fatal("requeue after close")
	}
}
