package load

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// server answers 201 to the first `accept` requests of each address and
// 429 with Retry-After after, and records the addresses it saw.
func server(t *testing.T, accept int, byXFF bool) (*httptest.Server, func() map[string]int) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad", 400)
			return
		}
		addr, _, _ := net.SplitHostPort(r.RemoteAddr)
		if byXFF {
			addr = r.Header.Get("X-Forwarded-For")
		}
		mu.Lock()
		seen[addr]++
		n := seen[addr]
		mu.Unlock()
		if n > accept {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`))
			return
		}
		w.WriteHeader(201)
	}))
	t.Cleanup(srv.Close)
	return srv, func() map[string]int { mu.Lock(); defer mu.Unlock(); return seen }
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		spread  Spread
		sources int
		byXFF   bool
	}{
		{"one source", SpreadNone, 1, false},
		{"xff", SpreadXFF, 50, true},
		{"bind", SpreadBind, 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := server(t, 2, tt.byXFF)
			res, err := Run(context.Background(), Options{URL: srv.URL, N: 500, Concurrency: 20, Sources: tt.sources, Spread: tt.spread})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != 500 || res.Failed != 0 || res.Accepted != 2*tt.sources || res.Refused != 500-2*tt.sources {
				t.Fatalf("result %+v", res)
			}
			if res.Codes["rate_limited"] != res.Refused || res.MissingRetryAfter != 0 || res.Status[429] != res.Refused {
				t.Fatalf("codes %v status %v", res.Codes, res.Status)
			}
			if n := len(seen()); n != tt.sources {
				t.Fatalf("server saw %d addresses, want %d", n, tt.sources)
			}
			if res.P50 <= 0 || res.Max < res.P99 || !strings.Contains(res.String(), "refusals/s") {
				t.Fatalf("report %s", res)
			}
		})
	}
}

func TestRefusesOffLoopback(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1:8080", "http://example.com", "http://[2001:db8::1]:80", "ftp://127.0.0.1", "http://10.0.0.1"} {
		if _, err := Run(context.Background(), Options{URL: u, N: 1, Concurrency: 1, Sources: 1}); err == nil {
			t.Errorf("Run(%s) accepted a non-loopback target", u)
		}
	}
	for _, o := range []Options{
		{URL: "http://127.0.0.1:1", N: 0, Concurrency: 1, Sources: 1},
		{URL: "http://127.0.0.1:1", N: MaxRequests + 1, Concurrency: 1, Sources: 1},
		{URL: "http://127.0.0.1:1", N: 1, Concurrency: MaxConcurrency + 1, Sources: 1},
		{URL: "http://127.0.0.1:1", N: 1, Concurrency: 1, Sources: 1, Spread: "dns"},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) accepted out-of-bounds options", o)
		}
	}
}

func TestSourcesDistinctSubnets(t *testing.T) {
	for _, sp := range []Spread{SpreadXFF, SpreadBind} {
		nets := map[string]bool{}
		for i := 0; i < 1000; i++ {
			a := Source(sp, i)
			p, _ := a.Prefix(24)
			nets[p.String()] = true
			if sp == SpreadBind && !a.IsLoopback() {
				t.Fatalf("bind source %v off loopback", a)
			}
		}
		if sp == SpreadBind && len(nets) != 1000 || sp == SpreadXFF && len(nets) < 512 {
			t.Errorf("%s: %d /24s for 1000 sources", sp, len(nets))
		}
	}
}
