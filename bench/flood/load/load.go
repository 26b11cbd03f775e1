// Package load sends a bounded flood of callback requests to one instance
// of the service on loopback and measures how it answers: status and error
// code histograms, Retry-After presence, refusals per second and latency
// percentiles. bench/flood is its command line; the abuse suite
// (internal/abusetest) drives it in-process.
//
// It refuses any target that is not a loopback address, so it cannot be
// pointed at someone else's server.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of one run.
const (
	MaxRequests    = 1_000_000
	MaxConcurrency = 1000
	MaxSources     = 65536
)

// Spread is how requests appear to come from many addresses.
type Spread string

const (
	// SpreadNone: every request from the socket's one address.
	SpreadNone Spread = "none"
	// SpreadXFF: X-Forwarded-For from 198.18.0.0/15 (RFC 2544 benchmark
	// range), one /24 per source; the server must trust loopback as a
	// proxy (--trusted-proxies 127.0.0.1/32).
	SpreadXFF Spread = "xff"
	// SpreadBind: real sockets bound to 127.x.y.1, one /24 per source
	// (Linux routes all of 127.0.0.0/8 to loopback).
	SpreadBind Spread = "bind"
)

// Options of a run.
type Options struct {
	URL         string // base URL, e.g. http://127.0.0.1:8080 (loopback only)
	Path        string // default /api/v1/callbacks
	N           int    // requests
	Concurrency int
	Sources     int // distinct client addresses (1 = one)
	Spread      Spread
	// Body returns the JSON body of request i; nil = distinct valid CN
	// mobile numbers per request.
	Body func(i int) []byte
	// Timeout per request (default 10 s).
	Timeout time.Duration
}

// Result is what a run measured.
type Result struct {
	Sent, Refused, Accepted, Failed int
	Elapsed                         time.Duration
	Status                          map[int]int    // HTTP status → count (0 = transport error)
	Codes                           map[string]int // API error code → count
	MissingRetryAfter               int            // 429/503 without Retry-After
	P50, P90, P99, Max              time.Duration
	FirstErr                        string
}

// RefusalsPerSec is refused requests per second of the run.
func (r Result) RefusalsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Refused) / r.Elapsed.Seconds()
}

// String is the human report.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests %d in %v: %.0f req/s, %d accepted, %d refused (%.0f refusals/s), %d transport errors\n",
		r.Sent, r.Elapsed.Round(time.Millisecond), float64(r.Sent)/max(r.Elapsed.Seconds(), 1e-9),
		r.Accepted, r.Refused, r.RefusalsPerSec(), r.Failed)
	fmt.Fprintf(&b, "latency p50 %v p90 %v p99 %v max %v\n", r.P50, r.P90, r.P99, r.Max)
	fmt.Fprintf(&b, "status:")
	for _, s := range sortedKeys(r.Status) {
		fmt.Fprintf(&b, " %d×%d", s, r.Status[s])
	}
	fmt.Fprintf(&b, "\ncodes:")
	for _, c := range sortedKeys(r.Codes) {
		fmt.Fprintf(&b, " %s×%d", c, r.Codes[c])
	}
	fmt.Fprintf(&b, "\n429/503 without Retry-After: %d\n", r.MissingRetryAfter)
	if r.FirstErr != "" {
		fmt.Fprintf(&b, "first error: %s\n", r.FirstErr)
	}
	return b.String()
}

func sortedKeys[K int | string](m map[K]int) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// LoopbackOnly refuses a host that is not a loopback address.
func LoopbackOnly(host string) error {
	if host == "localhost" {
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return fmt.Errorf("refusing %q: this load tool only targets loopback addresses", host)
	}
	return nil
}

// Source returns the address of source i under spread.
func Source(spread Spread, i int) netip.Addr {
	switch spread {
	case SpreadXFF:
		// 198.18.0.0/15 has 512 /24s; beyond, vary the host byte too.
		return netip.AddrFrom4([4]byte{198, 18 + byte(i>>8&1), byte(i), byte(1 + i>>9)})
	case SpreadBind:
		return netip.AddrFrom4([4]byte{127, byte(1 + i>>8), byte(i), 1})
	}
	return netip.Addr{}
}

// DefaultBody is request i with distinct valid numbers: callers from the
// 1380000 block (answer), callees from 139.
func DefaultBody(i int) []byte {
	b, _ := json.Marshal(map[string]string{
		"caller": fmt.Sprintf("1380%07d", i%10_000_000),
		"callee": fmt.Sprintf("1390%07d", i%10_000_000),
	})
	return b
}

func (o *Options) check() (*url.URL, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("url %q: want http://127.0.0.1:port", o.URL)
	}
	if err := LoopbackOnly(u.Hostname()); err != nil {
		return nil, err
	}
	switch {
	case o.N < 1 || o.N > MaxRequests:
		return nil, fmt.Errorf("requests: 1 to %d", MaxRequests)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return nil, fmt.Errorf("concurrency: 1 to %d", MaxConcurrency)
	case o.Sources < 1 || o.Sources > MaxSources:
		return nil, fmt.Errorf("sources: 1 to %d", MaxSources)
	}
	switch o.Spread {
	case "", SpreadNone, SpreadXFF, SpreadBind:
	default:
		return nil, fmt.Errorf("spread %q: none, xff or bind", o.Spread)
	}
	if o.Path == "" {
		o.Path = "/api/v1/callbacks"
	}
	if o.Body == nil {
		o.Body = DefaultBody
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return u, nil
}

type srcKey struct{}

// Run sends the flood and waits for every answer (or ctx).
func Run(ctx context.Context, o Options) (Result, error) {
	u, err := o.check()
	if err != nil {
		return Result{}, err
	}
	target := strings.TrimRight(u.String(), "/") + o.Path
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency, DisableCompression: true,
		IdleConnTimeout: 30 * time.Second,
	}
	if o.Spread == SpreadBind {
		// One connection per request, from the request's own address.
		tr.DisableKeepAlives = true
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := *dialer
			if a, ok := ctx.Value(srcKey{}).(netip.Addr); ok {
				d.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
			}
			return d.DialContext(ctx, network, addr)
		}
	} else {
		tr.DialContext = dialer.DialContext
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	type answer struct {
		status     int
		code       string
		retryAfter bool
		took       time.Duration
		err        error
	}
	answers := make([]answer, o.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.N || ctx.Err() != nil {
					return
				}
				t := time.Now()
				st, code, ra, err := send(ctx, client, target, o, i)
				answers[i] = answer{st, code, ra, time.Since(t), err}
			}
		}()
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start), Status: map[int]int{}, Codes: map[string]int{}}
	lat := make([]time.Duration, 0, o.N)
	for _, a := range answers[:min(int(next.Load()), o.N)] {
		res.Sent++
		res.Status[a.status]++
		lat = append(lat, a.took)
		switch {
		case a.err != nil:
			res.Failed++
			if res.FirstErr == "" {
				res.FirstErr = a.err.Error()
			}
		case a.status >= 400:
			res.Refused++
			if a.code != "" {
				res.Codes[a.code]++
			}
			if (a.status == 429 || a.status == 503) && !a.retryAfter {
				res.MissingRetryAfter++
			}
		default:
			res.Accepted++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		res.P50, res.P90, res.P99, res.Max = lat[n*50/100], lat[n*90/100], lat[min(n*99/100, n-1)], lat[n-1]
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("flood: %w", err)
	}
	return res, nil
}

func send(ctx context.Context, c *http.Client, target string, o Options, i int) (status int, code string, retryAfter bool, err error) {
	src := Source(o.Spread, i%o.Sources)
	if src.IsValid() {
		ctx = context.WithValue(ctx, srcKey{}, src)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(o.Body(i)))
	if err != nil {
		return 0, "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "en")
	if o.Spread == SpreadXFF {
		req.Header.Set("X-Forwarded-For", src.String())
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if resp.StatusCode >= 400 {
		if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
			e.Error.Code = "(no code)"
		}
	}
	return resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After") != "", nil
}
