// Command hold is the slow-connection attack of issue 11 as a bounded load
// tool: it holds N hostile connections to one instance on loopback (it
// refuses other hosts) and measures, while they are held, the latency of
// /healthz from an address of its own, and the server's resident memory
// and open file descriptors (with -pid, read from /proc).
//
// Each hostile connection sends the headers of a POST with
// "Accept: text/event-stream" and a 1000-byte body it then trickles one
// byte every -trickle (mode body), or headers it never finishes (mode
// headers). When the server cuts one, it is opened again: the attacker
// keeps N in play for the whole run.
//
//	webcallback serve --sandbox ... &   # note its pid
//	go run ./bench/hold -url http://127.0.0.1:8080 -n 20000 -sources 1 -for 60s -pid $PID
//	go run ./bench/hold -url http://127.0.0.1:8080 -n 10000 -sources 100 -for 60s -pid $PID &
//	go run ./bench/hold -url http://127.0.0.1:8080 -n 10000 -sources 100 -source-offset 100 -for 60s -pid $PID
//
// -sources spreads the connections over 127.x.y.1 source addresses
// (Linux routes all of 127.0.0.0/8 to loopback); /healthz is probed from
// 127.0.0.1, which no hostile connection uses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"webcallback/bench/flood/load"
)

// Bounds: the tool cannot be turned into more than a test of one's own
// machine.
const (
	maxConns    = 50000
	maxDuration = 10 * time.Minute
	maxRate     = 10000
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		os.Exit(1)
	}
}

type options struct {
	target       string // host:port
	n, sources   int
	offset       int // first source index
	rate         int
	dur, trickle time.Duration
	probeEvery   time.Duration
	mode         string
	pid          int
	report       time.Duration
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hold", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of the service (loopback only)")
	var o options
	fs.IntVar(&o.n, "n", 20000, fmt.Sprintf("hostile connections to hold (max %d)", maxConns))
	fs.IntVar(&o.sources, "sources", 1, "source addresses 127.x.y.1 to spread them over")
	fs.IntVar(&o.offset, "source-offset", 0, "index of the first source address (for several processes side by side: each has its own descriptor limit)")
	fs.IntVar(&o.rate, "rate", 2000, fmt.Sprintf("connections opened per second (max %d)", maxRate))
	fs.DurationVar(&o.dur, "for", 30*time.Second, "how long to hold them (max "+maxDuration.String()+")")
	fs.DurationVar(&o.trickle, "trickle", 5*time.Second, "one byte per connection this often")
	fs.DurationVar(&o.probeEvery, "probe", 200*time.Millisecond, "how often to time GET /healthz")
	fs.DurationVar(&o.report, "report", 5*time.Second, "how often to print a line")
	fs.StringVar(&o.mode, "mode", "body", "body (headers with Accept: text/event-stream, then a trickled body) or headers (never finished)")
	fs.IntVar(&o.pid, "pid", 0, "the server's pid, to read its RSS and open fds from /proc (0 = not measured)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*base)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return fmt.Errorf("url %q: want http://127.0.0.1:port", *base)
	}
	if err := load.LoopbackOnly(u.Hostname()); err != nil {
		return err
	}
	o.target = u.Host
	switch {
	case o.n < 1 || o.n > maxConns:
		return fmt.Errorf("-n: 1 to %d", maxConns)
	case o.sources < 1 || o.offset < 0 || o.offset+o.sources > load.MaxSources:
		return fmt.Errorf("-source-offset + -sources: 1 to %d", load.MaxSources)
	case o.dur <= 0 || o.dur > maxDuration:
		return fmt.Errorf("-for: up to %v", maxDuration)
	case o.rate < 1 || o.rate > maxRate:
		return fmt.Errorf("-rate: 1 to %d", maxRate)
	case o.trickle <= 0 || o.probeEvery <= 0 || o.report <= 0:
		return errors.New("-trickle, -probe and -report must be positive")
	case o.mode != "body" && o.mode != "headers":
		return fmt.Errorf("-mode %q: body or headers", o.mode)
	}
	raiseFileLimit(uint64(o.n) + 1024)
	return attack(ctx, o, out)
}

// raiseFileLimit lifts this process's descriptor limit to want if it can
// (the hard limit, or beyond it as root).
func raiseFileLimit(want uint64) {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur >= want {
		return
	}
	l.Cur = want
	if l.Max < want {
		l.Max = want
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// stats are the attack's counters, read by the reporter.
type stats struct {
	open      atomic.Int64 // connected and not seen closed
	opened    atomic.Int64 // connects that succeeded
	dialFail  atomic.Int64
	cut       atomic.Int64 // closed (or answered) by the server
	maxOpen   atomic.Int64
	mu        sync.Mutex
	probes    []time.Duration // this interval
	allProbes []time.Duration
	probeFail int
}

func (s *stats) probe(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.probeFail++
		return
	}
	s.probes = append(s.probes, d)
	s.allProbes = append(s.allProbes, d)
}

func attack(ctx context.Context, o options, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.dur)
	defer cancel()
	var st stats
	var wg sync.WaitGroup
	// Open the connections at -rate, each from its source, each kept in
	// play by its own goroutine until the run ends.
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	go func() {
		defer tick.Stop()
		for i := 0; i < o.n; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// Never 127.0.0.1: that is the prober's.
			src := load.Source(load.SpreadBind, o.offset+i%o.sources)
			wg.Add(1)
			go func() { defer wg.Done(); hostile(ctx, o, src, &st) }()
		}
	}()
	go prober(ctx, o, &st)
	fmt.Fprintf(out, "holding %d connections (%s mode) from %d source address(es) to %s for %v\n", o.n, o.mode, o.sources, o.target, o.dur)
	fmt.Fprintf(out, "%6s %8s %8s %8s %8s | %9s %9s %9s %5s | %9s %6s\n",
		"t", "open", "opened", "cut", "dialfail", "hz_p50", "hz_p99", "hz_max", "hz_ko", "srv_rss", "srv_fd")
	start := time.Now()
	rep := time.NewTicker(o.report)
	defer rep.Stop()
	var peakRSS, peakFD int64
	line := func() {
		st.mu.Lock()
		p := st.probes
		st.probes = nil
		fail := st.probeFail
		st.mu.Unlock()
		rss, fds := procStats(o.pid)
		peakRSS, peakFD = max(peakRSS, rss), max(peakFD, fds)
		fmt.Fprintf(out, "%6s %8d %8d %8d %8d | %9s %9s %9s %5d | %9s %6s\n",
			time.Since(start).Round(time.Second), st.open.Load(), st.opened.Load(), st.cut.Load(), st.dialFail.Load(),
			pct(p, 50), pct(p, 99), pct(p, 100), fail, mb(rss), num(fds))
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-rep.C:
			line()
		}
	}
	line()
	wg.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintf(out, "summary: peak open %d; /healthz p50 %s p99 %s max %s over %d probes, %d failed; server peak RSS %s, peak fds %s\n",
		st.maxOpen.Load(), pct(st.allProbes, 50), pct(st.allProbes, 99), pct(st.allProbes, 100), len(st.allProbes), st.probeFail, mb(peakRSS), num(peakFD))
	return nil
}

// hostile keeps one hostile connection in play until ctx ends: connect,
// send the slow request, trickle; when the server cuts it, start again
// (after a trickle period, so a refused connection is not a busy loop).
func hostile(ctx context.Context, o options, src netip.Addr, st *stats) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", o.target)
		if err != nil {
			st.dialFail.Add(1)
			wait(ctx, o.trickle)
			continue
		}
		st.opened.Add(1)
		if n := st.open.Add(1); n > st.maxOpen.Load() {
			st.maxOpen.Store(n) // a peak, near enough under races
		}
		hold(ctx, o, c)
		st.open.Add(-1)
		c.Close()
		if ctx.Err() == nil {
			st.cut.Add(1)
			wait(ctx, o.trickle)
		}
	}
}

// hold sends the slow request on c and trickles until the server closes
// or answers (either ends the hold) or ctx ends.
func hold(ctx context.Context, o options, c net.Conn) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	head := "POST /api/v1/callbacks HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
	if o.mode == "headers" {
		head = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
	}
	if _, err := io.WriteString(c, head); err != nil {
		return
	}
	buf := make([]byte, 1)
	for ctx.Err() == nil {
		// Waiting for a byte from the server is the trickle's timer: a
		// timeout means the connection is still held.
		c.SetReadDeadline(time.Now().Add(o.trickle))
		if _, err := c.Read(buf); err == nil || !isTimeout(err) {
			return // an answer (400, 408...) or a close: cut
		}
		payload := " "
		if o.mode == "headers" {
			payload = "X"
		}
		c.SetWriteDeadline(time.Now().Add(o.trickle))
		if _, err := io.WriteString(c, payload); err != nil {
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// prober times GET /healthz on a fresh connection from 127.0.0.1 every
// -probe; a probe failing or taking over 5 s counts as failed.
func prober(ctx context.Context, o options, st *stats) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	t := time.NewTicker(o.probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		resp, err := c.Get("http://" + o.target + "/healthz")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		if ctx.Err() != nil {
			return
		}
		st.probe(time.Since(start), err)
	}
}

// procStats reads a process's resident memory (bytes) and open file
// descriptors; -1 when unknown.
func procStats(pid int) (rss, fds int64) {
	if pid <= 0 {
		return -1, -1
	}
	rss, fds = -1, -1
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss = kb << 10
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		fds = int64(len(ents))
	}
	return rss, fds
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return s[i].Round(10 * time.Microsecond).String()
}

func mb(b int64) string {
	if b < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fMB", float64(b)/(1<<20))
}

func num(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}
