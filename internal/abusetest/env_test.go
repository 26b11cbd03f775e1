package abusetest

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/app"
	"webcallback/internal/app/apptest"
	"webcallback/internal/sandbox"
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

// env is the service as serve assembles it (app.New), its AMI link to
// the sandbox PBX through the tap.
type env struct {
	URL string
	Tap *amiTap
}

type envOpts struct {
	flags []string // serve flags after the suite's own (a later flag wins)
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	var log *slog.Logger
	if os.Getenv("ABUSE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pbx := sandbox.New(sandbox.Config{Username: "wcb", Secret: "sandbox-secret", TimeScale: 0.01, Seed: 1})
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go pbx.Serve(pl)
	t.Cleanup(func() { pbx.Close() })
	tap := newTap(t, pl.Addr().String())

	flags := []string{
		"--ami", "tcp://wcb:sandbox-secret@" + tap.ln.Addr().String(),
		// serve's defaults but: a talk limit and a call rate the test can
		// wait for, quota days in UTC, the flood's X-Forwarded-For believed.
		"--call-limit", "20s", "--call-warning", "5s", "--max-cps", "100",
		"--timezone", "UTC", "--trusted-proxies", "127.0.0.1/32",
		"--admin-token", "abuse-test-admin-token-0123", "--lang", "en",
	}
	// No keepalive Ping: any byte on the wire is the service's doing.
	noPing := app.WithAMIConfig(func(c *ami.Config) { c.PingInterval = -1 })
	svc := apptest.Start(t, log, append(flags, o.flags...), noPing)
	return &env{URL: svc.URL, Tap: tap}
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
