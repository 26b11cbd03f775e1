package abusetest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/callflow"
	"webcallback/internal/httpguard"
	"webcallback/internal/policy"
	"webcallback/internal/sandbox"
	"webcallback/internal/store"
	"webcallback/internal/web"
)

// amiTap is a TCP proxy between the AMI client and the sandbox PBX that
// records every byte the client writes: what would reach Asterisk.
type amiTap struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	sent   bytes.Buffer
	conns  []net.Conn
}

func newTap(t testing.TB, target string) *amiTap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &amiTap{ln: ln, target: target}
	go tp.accept()
	t.Cleanup(tp.close)
	return tp
}

func (tp *amiTap) accept() {
	for {
		c, err := tp.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", tp.target)
		if err != nil {
			c.Close()
			continue
		}
		tp.mu.Lock()
		tp.conns = append(tp.conns, c, s)
		tp.mu.Unlock()
		go func() { io.Copy(c, s); c.Close() }()
		go func() { io.Copy(tapWriter{tp, s}, c); s.Close() }()
	}
}

type tapWriter struct {
	tp *amiTap
	w  io.Writer
}

func (w tapWriter) Write(b []byte) (int, error) {
	w.tp.mu.Lock()
	w.tp.sent.Write(b)
	w.tp.mu.Unlock()
	return w.w.Write(b)
}

func (tp *amiTap) close() {
	tp.ln.Close()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, c := range tp.conns {
		c.Close()
	}
}

// Sent returns a copy of every byte written to AMI so far.
func (tp *amiTap) Sent() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.sent.Bytes())
}

// actions splits AMI bytes into messages (header lists), each a map of
// lower-cased keys to values (Variable values joined by ",").
func actions(b []byte) []map[string]string {
	var out []map[string]string
	for _, block := range strings.Split(string(b), "\r\n\r\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		m := map[string]string{}
		for _, line := range strings.Split(block, "\r\n") {
			k, v, _ := strings.Cut(line, ": ")
			k = strings.ToLower(k)
			if m[k] != "" {
				v = m[k] + "," + v
			}
			m[k] = v
		}
		out = append(out, m)
	}
	return out
}

// originates counts the Originate actions in AMI bytes.
func originates(b []byte) []map[string]string {
	var out []map[string]string
	for _, a := range actions(b) {
		if strings.EqualFold(a["action"], "originate") {
			out = append(out, a)
		}
	}
	return out
}

// env is the assembled service.
type env struct {
	URL   string
	Tap   *amiTap
	Store store.Store
}

type envOpts struct {
	policy func(*policy.Config) // edits the production defaults
	rules  *store.Rules         // nil = the serve defaults
}

// defaultRules are serve's default eligibility settings.
func defaultRules() *store.Rules {
	return &store.Rules{CallerConnectedPerDay: 1, CallerAttemptsPerDay: 5, CallerCooldown: time.Minute, CalleePerDay: 3, Location: time.UTC}
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("ABUSE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	pbx := sandbox.New(sandbox.Config{Username: "wcb", Secret: "sandbox-secret", TimeScale: 0.01, Seed: 1})
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go pbx.Serve(pl)
	t.Cleanup(func() { pbx.Close() })
	tap := newTap(t, pl.Addr().String())

	// No keepalive Ping: any byte on the wire is the service's doing.
	client, err := ami.Dial(ctx, ami.Config{Addr: tap.ln.Addr().String(), Username: "wcb", Secret: "sandbox-secret",
		AuthMD5: true, Events: "call,cdr,user", PingInterval: -1, Logger: log})
	if err != nil {
		t.Fatalf("ami dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })

	// Work around a store bug (reported to the lead): InsertCDR prepares
	// statements on the pool while it holds SQLite's write lock, so when
	// every pooled connection is an Admit waiting for that lock, both wait
	// out the 20 s busy timeout. A pool larger than the flood's concurrency
	// (50) keeps the floods about the policy.
	st, err := store.OpenWith(ctx, "sqlite:"+t.TempDir()+"/abuse.db", store.Options{MaxOpenConns: 64})
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// Engine caps as serve's defaults, but a call rate the test can wait for.
	eng, err := callflow.New(callflow.Config{Limit: 20 * time.Second, Warning: 5 * time.Second, MaxConcurrent: 100,
		MaxPerSecond: 100, QueueSize: 100, QueueWait: 15 * time.Second, PBXTimeScale: 0.01, Logger: log}, client, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		eng.Shutdown(sctx)
	})

	pc := policy.DefaultConfig()
	if o.policy != nil {
		o.policy(&pc)
	}
	rules := o.rules
	if rules == nil {
		rules = defaultRules()
	}
	guard, err := policy.New(pc, st, rules, log)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} // the flood's X-Forwarded-For
	h, err := web.New(web.Config{AdminToken: "abuse-test-admin-token-0123", CallLimit: 20 * time.Second, DefaultLang: "en",
		TrustedProxies: trusted},
		web.Deps{Service: eng, Store: st, Guard: guard, Sandbox: true, Logger: log, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpguard.NewServer(hl.Addr().String(), h, log)
	go srv.Serve(hl)
	t.Cleanup(func() { srv.Close() })
	return &env{URL: "http://" + hl.Addr().String(), Tap: tap, Store: st}
}

// post sends one body to the public endpoint.
func (e *env) post(t testing.TB, ctype string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", e.URL+"/api/v1/callbacks", body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b
}

// waitOriginates waits until the tap has seen n Originates (the engine
// originates asynchronously), then a little longer for any extra one, and
// returns them; it fails when the count is not n.
func (e *env) waitOriginates(t testing.TB, n int) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(originates(e.Tap.Sent())) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	o := originates(e.Tap.Sent())
	if len(o) != n {
		t.Fatalf("%d Originates reached AMI, want %d", len(o), n)
	}
	return o
}
