package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestAllowWindow(t *testing.T) {
	tests := []struct {
		name    string
		limit   Limit
		backoff Backoff
		// events at offsets from t0, and whether each is allowed
		at   []time.Duration
		want []bool
	}{
		{"off allows all", Limit{}, Backoff{}, []time.Duration{0, 0, 0}, []bool{true, true, true}},
		{"N per window", Limit{N: 2, Per: time.Minute}, Backoff{},
			[]time.Duration{0, time.Second, 2 * time.Second}, []bool{true, true, false}},
		{"window slides", Limit{N: 2, Per: time.Minute}, Backoff{},
			// two at 0:00, at 1:30 half of the previous window still counts (1), so one more fits
			[]time.Duration{0, 0, 90 * time.Second, 90 * time.Second}, []bool{true, true, true, false}},
		{"after two windows all forgotten", Limit{N: 1, Per: time.Minute}, Backoff{},
			[]time.Duration{0, 2 * time.Minute}, []bool{true, true}},
		{"backoff blocks past the window", Limit{N: 1, Per: time.Minute}, Backoff{Base: 10 * time.Minute},
			[]time.Duration{0, time.Second, 3 * time.Minute, 11 * time.Minute}, []bool{true, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.limit, tt.backoff, 0)
			for i, at := range tt.at {
				ok, wait := l.Allow("k", t0.Add(at))
				if ok != tt.want[i] {
					t.Fatalf("event %d at +%v: allowed %v, want %v", i, at, ok, tt.want[i])
				}
				if !ok && wait <= 0 {
					t.Fatalf("event %d refused with retryAfter %v", i, wait)
				}
			}
		})
	}
}

// TestRetryAfterHonest: an event at now+retryAfter is allowed.
func TestRetryAfterHonest(t *testing.T) {
	for _, lim := range []Limit{{1, time.Minute}, {3, time.Minute}, {10, time.Hour}, {5, 10 * time.Minute}} {
		t.Run(fmt.Sprint(lim), func(t *testing.T) {
			l := New(lim, Backoff{}, 0)
			now := t0.Add(17 * time.Second)
			for i := 0; i < 50; i++ {
				ok, wait := l.Allow("k", now)
				if ok {
					now = now.Add(lim.Per / time.Duration(4*lim.N))
					continue
				}
				if ok2, _ := l.Check("k", now.Add(wait)); !ok2 {
					t.Fatalf("refused at %v with retryAfter %v, still refused then", now, wait)
				}
				now = now.Add(wait)
			}
		})
	}
}

func TestBackoffDoubles(t *testing.T) {
	l := New(Limit{N: 1, Per: time.Second}, Backoff{Base: time.Minute, Max: 8 * time.Minute, Reset: time.Hour}, 0)
	now := t0
	l.Allow("k", now)
	var got []time.Duration
	for i := 0; i < 6; i++ {
		ok, wait := l.Allow("k", now)
		if ok {
			t.Fatalf("strike %d: allowed", i)
		}
		got = append(got, wait)
		now = now.Add(wait) // blocked until then; the next attempt fills the window again
		if ok, _ := l.Allow("k", now); !ok {
			t.Fatalf("after waiting %v still refused", wait)
		}
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 8 * time.Minute, 8 * time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoffs %v, want %v", got, want)
	}
	// Quiet for longer than Reset: strikes forgotten.
	now = now.Add(2 * time.Hour)
	l.Allow("k", now)
	if _, wait := l.Allow("k", now); wait != time.Minute {
		t.Fatalf("after reset backoff %v, want 1m", wait)
	}
}

func TestBackoffNoOverflow(t *testing.T) {
	l := New(Limit{N: 1, Per: time.Second}, Backoff{Base: time.Second}, 0)
	now := t0
	for i := 0; i < 200; i++ {
		if d := l.Strike("k", now); d <= 0 || d > maxBackoff {
			t.Fatalf("strike %d: backoff %v", i, d)
		}
	}
}

func TestCheckDoesNotCount(t *testing.T) {
	l := New(Limit{N: 1, Per: time.Minute}, Backoff{Base: time.Hour}, 0)
	for i := 0; i < 5; i++ {
		if ok, _ := l.Check("k", t0); !ok {
			t.Fatal("Check counted")
		}
	}
	l.Allow("k", t0)
	if ok, _ := l.Check("k", t0); ok {
		t.Fatal("Check allowed over the limit")
	}
	// Check adds no strike: the key is free when the window is.
	if ok, _ := l.Check("k", t0.Add(2*time.Minute)); !ok {
		t.Fatal("Check struck")
	}
}

func TestBoundedMemory(t *testing.T) {
	const maxKeys = 1000
	l := New(Limit{N: 1, Per: time.Hour}, Backoff{}, maxKeys)
	for i := 0; i < 100*maxKeys; i++ {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), t0)
	}
	if n := l.Len(); n > maxKeys+shards || n < maxKeys/2 {
		t.Fatalf("Len %d after 100k keys, want about %d", n, maxKeys)
	}
}

func TestConcurrent(t *testing.T) {
	l := New(Limit{N: 100, Per: time.Hour}, Backoff{}, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if ok, _ := l.Allow("shared", t0); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Fatalf("allowed %d of 8000 concurrent events, want exactly 100", allowed)
	}
}

func BenchmarkAllowDistinctKeys(b *testing.B) {
	l := New(Limit{N: 10, Per: time.Minute}, Backoff{Base: time.Minute}, 0)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("198.51.%d.%d", i>>8&255, i&255)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i&(len(keys)-1)], t0)
			i++
		}
	})
}

func BenchmarkAllowOneKeyRefused(b *testing.B) {
	l := New(Limit{N: 10, Per: time.Minute}, Backoff{Base: time.Minute}, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("203.0.113.9", t0)
		}
	})
}

func TestStrike(t *testing.T) {
	tests := []struct {
		name   string
		events int // events before the strike
		want   time.Duration
	}{
		// An idle key: the backoff alone.
		{"idle key", 0, time.Minute},
		// A full window (3 events in the current hour): blocked until it
		// frees, which is longer than the backoff.
		{"full window", 3, time.Hour + time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(Limit{N: 3, Per: time.Hour}, Backoff{Base: time.Minute, Max: time.Hour}, 0)
			for i := 0; i < tt.events; i++ {
				l.Allow("k", t0)
			}
			if got := l.Strike("k", t0); got != tt.want {
				t.Fatalf("Strike = %v, want %v", got, tt.want)
			}
			if ok, _ := l.Check("k", t0.Add(tt.want-time.Millisecond)); ok {
				t.Fatal("allowed before the strike's end")
			}
			if ok, _ := l.Check("k", t0.Add(tt.want)); !ok {
				t.Fatal("refused after the strike's end")
			}
		})
	}
	if d := New(Limit{}, Backoff{Base: time.Minute}, 0).Strike("k", t0); d != 0 {
		t.Fatalf("Strike on an off limiter = %v", d)
	}
}
