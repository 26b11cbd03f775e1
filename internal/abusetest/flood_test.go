package abusetest

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"webcallback/bench/flood/load"
	"webcallback/internal/testenv"
)

// distinctBody is request i with numbers that differ in their prefixes too
// (a botnet with a list of real numbers): only proof of work and the
// per-address limits stand in its way.
func distinctBody(i int) []byte {
	b, _ := json.Marshal(map[string]string{
		"caller": fmt.Sprintf("138%08d", (i*7919)%100_000_000),
		"callee": fmt.Sprintf("139%08d", (i*104729)%100_000_000),
	})
	return b
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestFlood sends 2,000 requests (10,000 with WEBCALLBACK_TEST_FULL, but
// not under the race detector) from 1,000 addresses and from one, with
// serve's default policy: the originations stay within the caps (the
// per-address limits, and proof of work once the rate passes 60 a
// minute), every other answer is 429 with Retry-After, nothing is a 5xx,
// and memory stays bounded.
func TestFlood(t *testing.T) {
	tests := []struct {
		name    string
		sources int
		spread  load.Spread
		maxOK   int // originations allowed by the default caps
	}{
		// 60 requests a minute switch proof of work on; none of these
		// requests carries a solution.
		{"1000 sources via X-Forwarded-For", 1000, load.SpreadXFF, 60},
		// 10 per address per 10 minutes.
		{"1 source", 1, load.SpreadNone, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			n, c, timeout := 2000, 50, 10*time.Second
			if testenv.Full() {
				n = 10000
			}
			if raceEnabled {
				n, c, timeout = 2000, 8, time.Minute
			}
			before := heapInUse()
			res, err := load.Run(context.Background(), load.Options{URL: e.URL, N: n, Concurrency: c,
				Sources: tt.sources, Spread: tt.spread, Body: distinctBody, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s\n%s", tt.name, res)
			grown := int64(heapInUse()) - int64(before)
			if res.Sent != n || res.Failed != 0 {
				t.Fatalf("sent %d, transport errors %d (%s)", res.Sent, res.Failed, res.FirstErr)
			}
			for st, n := range res.Status {
				if st != 201 && st != 429 {
					t.Errorf("%d answers with status %d", n, st)
				}
			}
			if res.Accepted < 1 || res.Accepted > tt.maxOK {
				t.Errorf("accepted %d, want 1 to %d", res.Accepted, tt.maxOK)
			}
			if res.MissingRetryAfter != 0 || res.Codes["rate_limited"] != res.Refused {
				t.Errorf("refusals: %v, %d without Retry-After", res.Codes, res.MissingRetryAfter)
			}
			o := e.waitOriginates(t, res.Accepted)
			if err := checkOriginates(e.Tap.Sent()); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d Originates on AMI; heap grew %d KiB", len(o), grown>>10)
			if grown > 64<<20 {
				t.Errorf("heap grew %d MiB during the flood", grown>>20)
			}
		})
	}
}

// TestCallBombing rings one callee from many callers on many addresses:
// the per-callee limit stops it at the third request.
func TestCallBombing(t *testing.T) {
	e := newEnv(t, envOpts{})
	const victim = "139 0000 4242"
	var codes []string
	for i := 0; i < 40; i++ {
		body := fmt.Sprintf(`{"caller":"138%08d","callee":%q}`, i*1_000_037%100_000_000, victim)
		resp, b := e.post(t, "application/json", bytesReader(body), "X-Forwarded-For", fmt.Sprintf("203.0.%d.7", i))
		var eb struct{ Error struct{ Code, Field string } }
		json.Unmarshal(b, &eb)
		codes = append(codes, fmt.Sprintf("%d %s %s", resp.StatusCode, eb.Error.Code, eb.Error.Field))
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After: %s", b)
		}
	}
	for i, c := range codes {
		want := "201  "
		if i >= 3 {
			want = "429 rate_limited callee"
		}
		if c != want {
			t.Fatalf("request %d: %q, want %q (all: %v)", i, c, want, codes)
		}
	}
	o := e.waitOriginates(t, 3)
	for _, a := range o {
		if a["variable"] == "" || !containsVar(a["variable"], "WCB_CALLEE=13900004242") {
			t.Fatalf("Originate %v", a)
		}
	}
}

func containsVar(vars, want string) bool {
	for _, v := range splitComma(vars) {
		if v == want {
			return true
		}
	}
	return false
}
