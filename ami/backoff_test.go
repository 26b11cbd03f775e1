package ami

import (
	"math"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		min, max time.Duration
	}{
		{500 * time.Millisecond, 30 * time.Second},
		{time.Millisecond, time.Millisecond},
		{-time.Second, -time.Second},       // nonsense: defaults
		{time.Hour, time.Second},           // max below min: max = min
		{math.MaxInt64 / 3, math.MaxInt64}, // doubling must not overflow
	}
	for _, tt := range tests {
		c := New(Config{ReconnectMin: tt.min, ReconnectMax: tt.max})
		lo, hi := c.cfg.ReconnectMin, c.cfg.ReconnectMax
		if lo <= 0 || hi < lo {
			t.Fatalf("config %v..%v became %v..%v", tt.min, tt.max, lo, hi)
		}
		for n := range 100 {
			want := hi
			if f := float64(lo) * math.Pow(2, float64(n)); f < float64(hi) {
				want = time.Duration(f)
			}
			for range 20 {
				if d := c.backoff(n); d < want/2 || d > want {
					t.Fatalf("%v..%v: backoff(%d) = %v, want in [%v, %v]", lo, hi, n, d, want/2, want)
				}
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{PingInterval: -1, SlowSubscriberWait: -1, DialTimeout: -5, ActionTimeout: 0}
	cfg.setDefaults()
	if cfg.PingInterval != -1 || cfg.SlowSubscriberWait != -1 {
		t.Errorf("negative (off) values changed: %+v", cfg)
	}
	if cfg.DialTimeout != 5*time.Second || cfg.ActionTimeout != 10*time.Second || cfg.Logger == nil {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestConnStateString(t *testing.T) {
	for s, want := range map[ConnState]string{Disconnected: "disconnected", Connecting: "connecting", Connected: "connected", 7: "ConnState(7)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", int(s), s.String())
		}
	}
}
