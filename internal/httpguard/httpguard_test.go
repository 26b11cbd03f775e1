package httpguard

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/store/storetest"
	"webcallback/internal/testenv"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"socket", "192.0.2.7:5555", nil, nil, "192.0.2.7"},
		{"xff ignored without trusted proxies", "192.0.2.7:5555", []string{"203.0.113.1"}, nil, "192.0.2.7"},
		{"xff ignored from untrusted peer", "192.0.2.7:5555", []string{"203.0.113.1"}, trusted, "192.0.2.7"},
		{"trusted proxy", "10.1.2.3:80", []string{"203.0.113.1"}, trusted, "203.0.113.1"},
		{"spoofed left entries ignored", "10.1.2.3:80", []string{"1.1.1.1, 203.0.113.1"}, trusted, "203.0.113.1"},
		{"chain of proxies", "10.1.2.3:80", []string{"203.0.113.1, 10.9.9.9", "10.8.8.8"}, trusted, "203.0.113.1"},
		{"all trusted", "10.1.2.3:80", []string{"10.9.9.9"}, trusted, "10.9.9.9"},
		{"malformed hop stops", "10.1.2.3:80", []string{"203.0.113.1, junk\r\n"}, trusted, "10.1.2.3"},
		{"v6 peer", "[2001:db8::1]:443", nil, trusted, "2001:db8::1"},
		{"v6 zone dropped", "[fe80::1%eth0]:443", nil, nil, "fe80::1"},
		{"mapped v4", "[::ffff:192.0.2.9]:1", nil, nil, "192.0.2.9"},
		{"trusted v6 loopback proxy", "[::1]:1", []string{"198.51.100.4"}, trusted, "198.51.100.4"},
		{"no port", "192.0.2.8", nil, nil, "192.0.2.8"},
		{"garbage", "nonsense", nil, nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientIP(r, tt.trusted).String(); got != tt.want {
				t.Fatalf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "203.0.113.1, 10.0.0.2")
	f.Add("[::1]:1", "::ffff:1.2.3.4,,, x")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		a := ClientIP(r, trusted)
		if a.IsValid() && (a.Is4In6() || a.Zone() != "") {
			t.Fatalf("ClientIP = %v: not normalised", a)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	h := SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	plain := httptest.NewServer(h)
	defer plain.Close()
	for _, tt := range []struct {
		url  string
		c    *http.Client
		hsts bool
	}{{srv.URL, srv.Client(), true}, {plain.URL, plain.Client(), false}} {
		resp, err := tt.c.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
			t.Errorf("CSP %q allows inline, eval or wildcard", csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if resp.Header.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
			}
		}
		if (resp.Header.Get("Strict-Transport-Security") != "") != tt.hsts {
			t.Errorf("%s: HSTS %q", tt.url, resp.Header.Get("Strict-Transport-Security"))
		}
	}
}

func TestMaxBody(t *testing.T) {
	h := MaxBody(1024)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprint(w, len(b))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"small", strings.NewReader("{}"), 200},
		{"limit", strings.NewReader(strings.Repeat("a", 1024)), 200},
		{"content-length over", strings.NewReader(strings.Repeat("a", 2<<20)), 413},
		{"chunked over", io.MultiReader(strings.NewReader(strings.Repeat("a", 2<<20))), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL, tt.body)
			if tt.name == "chunked over" {
				req.ContentLength = -1
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	c, err := NewCSRF(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewCSRF(time.Hour)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tok := c.Token(now)
	tampered := []byte(tok)
	tampered[2] ^= 1
	tests := []struct {
		name string
		c    *CSRF
		tok  string
		at   time.Time
		want bool
	}{
		{"fresh", c, tok, now, true},
		{"within ttl", c, tok, now.Add(59 * time.Minute), true},
		{"expired", c, tok, now.Add(61 * time.Minute), false},
		{"from the future", c, tok, now.Add(-2 * time.Minute), false},
		{"other key", other, tok, now, false},
		{"tampered", c, string(tampered), now, false},
		{"empty", c, "", now, false},
		{"garbage", c, strings.Repeat("%", len(tok)), now, false},
	}
	for _, tt := range tests {
		if got := tt.c.Valid(tt.tok, tt.at); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCrossOrigin(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(CrossOrigin(ok))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name, method, ctype string
		hdr                 map[string]string
		status              int
	}{
		{"get", "GET", "", nil, 200},
		{"json post", "POST", "application/json", nil, 200},
		{"bodiless delete", "DELETE", "", nil, 200},
		{"same origin", "POST", "application/json", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"cross site", "POST", "application/json", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", "POST", "application/json", map[string]string{"Origin": "https://evil.example"}, 403},
		{"own origin", "POST", "application/json", map[string]string{"Origin": "http://" + host}, 200},
		{"cross site get passes", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.method == "POST" {
				body = strings.NewReader("{}")
			}
			req, _ := http.NewRequest(tt.method, srv.URL, body)
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestAdminAuth(t *testing.T) {
	const token = "s3cret-admin-token-0123"
	st := storetest.SQLite(t)
	clk := testenv.NewClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	a := NewAdminAuth(AdminConfig{Token: token, Audit: st, Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Actor(r) == "" {
			t.Error("no actor in an admin request")
		}
		if r.Method == "POST" {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
		}
	}))
	do := func(method, auth, remote string) *http.Response {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader(`{"number":"+8613800001001","kind":"block","note":"bomb\r\nfake: line"}`)
		}
		r := httptest.NewRequest(method, "/api/v1/admin/overrides?number=%2B8613800001001", body)
		r.RemoteAddr = remote
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	steps := []struct {
		name, method, auth, remote string
		status                     int
	}{
		{"no header", "GET", "", "192.0.2.1:1", 401},
		{"wrong scheme", "GET", "Basic " + token, "192.0.2.1:1", 401},
		{"prefix of token", "GET", "Bearer " + token[:10], "192.0.2.1:1", 401},
		{"good token", "GET", "Bearer " + token, "192.0.2.1:1", 200},
		{"good token, audited post", "POST", "Bearer " + token, "192.0.2.1:1", 201},
		{"4th failure", "GET", "Bearer wrong", "192.0.2.1:1", 401},
		{"5th failure blocks", "GET", "Bearer wrong2", "192.0.2.1:1", 429},
		{"blocked even with the token", "GET", "Bearer " + token, "192.0.2.1:1", 429},
		{"other address unaffected", "GET", "Bearer " + token, "198.51.100.1:1", 200},
	}
	retry := ""
	for _, s := range steps {
		resp := do(s.method, s.auth, s.remote)
		if s.status == 429 {
			retry = resp.Header.Get("Retry-After")
		}
		if resp.StatusCode != s.status {
			t.Fatalf("%s: status %d, want %d", s.name, resp.StatusCode, s.status)
		}
		if s.status == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: 429 without Retry-After", s.name)
		}
		if s.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: 401 without WWW-Authenticate", s.name)
		}
	}
	wait, err := time.ParseDuration(retry + "s")
	if err != nil || wait != time.Minute {
		// docs/security.md: the first lockout is one minute.
		t.Fatalf("Retry-After %q", retry)
	}
	clk.Add(wait)
	if resp := do("GET", "Bearer "+token, "192.0.2.1:1"); resp.StatusCode != 200 {
		t.Fatalf("after the backoff: %d", resp.StatusCode)
	}
	entries, err := st.ListAudit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" by "+e.Actor)
		if strings.Contains(e.Detail+e.Target+e.Actor, token) {
			t.Fatalf("token in the audit log: %+v", e)
		}
	}
	got := strings.Join(actions, "; ")
	var post string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "POST") {
			post = e.Detail
		}
	}
	if post != `status 201; body: {"number":"+8613800001001","kind":"block","note":"bomb\r\nfake: line"}` {
		t.Errorf("audit detail %q", post)
	}
	for _, want := range []string{"POST /api/v1/admin/overrides by admin@192.0.2.1", "admin_blocked by anonymous@192.0.2.1"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log %q lacks %q", got, want)
		}
	}
}

func TestAdminDisabled(t *testing.T) {
	a := NewAdminAuth(AdminConfig{})
	called := false
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		r := httptest.NewRequest("GET", "/api/v1/admin/", nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || called {
			t.Fatalf("disabled admin with %q: %d, handler called %v", auth, w.Code, called)
		}
	}
}

// TestServerSlowloris: a client that dribbles its headers or its body is
// cut off, whatever it puts in Accept; a handler that streams (Stream)
// outlives the timeouts with or without Accept: text/event-stream. Real
// sockets, short timeouts.
func TestServerSlowloris(t *testing.T) {
	tm := Timeouts{ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond, Write: 300 * time.Millisecond, Idle: time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /body", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		fmt.Fprint(w, "read")
	})
	// The stream's second event waits until every deadline the request
	// had is past, so it is sent only if Stream really lifted them.
	past := tm.Read + tm.Write
	sseDone := make(chan error, 3)
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		Stream(w, r)
		rc := http.NewResponseController(w)
		for i := 0; i < 2; i++ {
			if i == 1 {
				select {
				case <-r.Context().Done():
					sseDone <- fmt.Errorf("context ended: %w", r.Context().Err())
					return
				case <-time.After(time.Until(start.Add(past))):
				}
			}
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				sseDone <- err
				return
			}
			rc.Flush()
		}
		sseDone <- nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServerTimeouts(ln.Addr().String(), mux, slog.New(slog.DiscardHandler), tm)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() }) // after the parallel subtests
	addr := ln.Addr().String()

	// Each attack waits out a deadline of its own: they run side by side.
	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		// The connection is closed before the headers are complete.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slow headers: connection not closed by the server: %v", err)
		}
	})

	// Slow body, with or without the Accept of an event stream (the
	// attack of issue 11): the handler's read fails, the connection ends.
	for _, accept := range []string{"", "Accept: text/event-stream\r\n"} {
		t.Run("slow body "+accept, func(t *testing.T) {
			t.Parallel()
			c2, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			fmt.Fprint(c2, "POST /body HTTP/1.1\r\nHost: x\r\n"+accept+"Content-Length: 100\r\n\r\nabc")
			c2.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c2)
			if err != nil || strings.Contains(string(b), "read") {
				t.Fatalf("slow body (%q): %q %v", accept, b, err)
			}
		})
	}

	// A stream lives past the read and write deadlines, whatever Accept
	// says (curl sends */*). Every stream must end well; which handler's
	// word a subtest reads does not matter.
	for _, accept := range []string{"text/event-stream", "*/*", ""} {
		t.Run("stream accept "+accept, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest("GET", "http://"+addr+"/events", nil)
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data: ") {
					n++
				}
			}
			resp.Body.Close()
			if err := <-sseDone; err != nil || n != 2 {
				t.Fatalf("Accept %q: stream cut: %d events, %v", accept, n, err)
			}
		})
	}
}

// TestLimitListener: connections over the per-address or the total bound
// are closed at accept and counted; others, and later ones once a place is
// free, are served.
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	kinds := map[string]int{}
	ref := NewRefusals(slog.New(slog.DiscardHandler), func(k string) { mu.Lock(); kinds[k]++; mu.Unlock() })
	lim := LimitListener(ln, ConnLimits{PerIP: 3, Total: 8}, ref) // headroom: 1
	srv := NewServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }), slog.New(slog.DiscardHandler))
	go srv.Serve(lim)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// dial connects from a loopback source address and makes one request
	// on the connection, which the server keeps open (keep-alive).
	dial := func(src string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			return nil, err
		}
		resp.Body.Close()
		return c, nil
	}
	mustDial := func(src string) net.Conn {
		t.Helper()
		c, err := dial(src)
		if err != nil {
			t.Fatalf("from %s: %v", src, err)
		}
		return c
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 3 {
		held = append(held, mustDial("127.0.0.1"))
	}
	if _, err := dial("127.0.0.1"); err == nil {
		t.Fatal("connection over the per-address bound served")
	}
	for range 3 {
		held = append(held, mustDial("127.0.0.2"))
	}
	held = append(held, mustDial("127.0.0.3"), mustDial("127.0.0.3")) // the total: 8
	// Over the total, an address already holding two is refused; a
	// newcomer gets the headroom (Total/8 = 1), then nobody.
	if _, err := dial("127.0.0.3"); err == nil {
		t.Fatal("connection over the total served to an address holding two")
	}
	held = append(held, mustDial("127.0.0.4"))
	if _, err := dial("127.0.0.5"); err == nil {
		t.Fatal("connection over the total and its headroom served")
	}
	mu.Lock()
	if kinds[RefusedConnsPerIP] != 1 || kinds[RefusedConnsTotal] != 2 {
		t.Errorf("refusals counted %v", kinds)
	}
	mu.Unlock()
	// A place freed is a place again, once the server has seen the close.
	held[0].Close()
	held[1].Close()
	ip := netip.MustParseAddr("127.0.0.1")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, n := lim.Open(ip); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed connection never released")
		}
		runtime.Gosched()
	}
	mustDial("127.0.0.1").Close()

	// A trusted proxy carries many visitors: the total bounds it, not
	// the per-address bound.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxied := LimitListener(ln2, ConnLimits{PerIP: 1, Total: 3, Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.7/32")}}, nil)
	srv2 := NewServer("", srv.Handler, slog.New(slog.DiscardHandler))
	go srv2.Serve(proxied)
	defer srv2.Close()
	port = ln2.Addr().(*net.TCPAddr).Port
	for range 3 {
		held = append(held, mustDial("127.0.0.7"))
	}
	if _, err := dial("127.0.0.7"); err == nil {
		t.Fatal("proxy's connection over the total served")
	}
}

// TestRefusals: a flood of refusals is one log line per interval, with
// the counts; every refusal reaches the hook.
func TestRefusals(t *testing.T) {
	var buf bytes.Buffer
	hooked := 0
	r := NewRefusals(slog.New(slog.NewTextHandler(&buf, nil)), func(string) { hooked++ })
	for i := 0; i < 40000; i++ {
		r.AddDetail("rate_limited", fmt.Sprintf("per-IP limit for 192.0.2.%d", i%250))
	}
	r.Add("conns_per_ip")
	if n := r.Flush(); n != 40001 {
		t.Fatalf("flushed %d", n)
	}
	if r.Flush() != 0 {
		t.Fatal("a second flush wrote again")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || hooked != 40001 ||
		!strings.Contains(lines[0], "rate_limited=40000") || !strings.Contains(lines[0], "conns_per_ip=1") ||
		!strings.Contains(lines[0], `rate_limited_example="per-IP limit for 192.0.2.0"`) {
		t.Fatalf("hooked %d, log %q", hooked, buf.String())
	}
	var nilR *Refusals
	nilR.Add("x") // a nil counter counts nothing, without a crash
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:    `{"a":1}`,
		"x\r\ny":     "x\uFFFD\uFFFDy",
		"\x00\xff号码": "\uFFFD\uFFFD号码",
	} {
		if got := printable([]byte(in)); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCSRFValid(f *testing.F) {
	c, _ := NewCSRF(time.Hour)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.Add(c.Token(now))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		if c.Valid(tok, now) && tok != c.Token(now) {
			// A different string that validates would be a forgery, unless
			// it decodes to the same bytes (base64 has no other encodings
			// of a given length without padding bits set).
			t.Fatalf("forged token %q accepted", tok)
		}
	})
}

// TestAdminLockoutDoubles: each lockout lasts exactly its backoff (1 min,
// then 2 min: as documented), and the address starts a clean count after.
func TestAdminLockoutDoubles(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	ref := NewRefusals(slog.New(slog.DiscardHandler), nil)
	a := NewAdminAuth(AdminConfig{Token: "the-right-admin-token", Logger: slog.New(slog.DiscardHandler), Now: clk.Now, Refusals: ref})
	h := a.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(tok string) (int, string) {
		r := httptest.NewRequest("GET", "/api/v1/admin/stats", nil)
		r.RemoteAddr = "192.0.2.1:1"
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Header().Get("Retry-After")
	}
	for round, want := range []string{"60", "120"} {
		for i := 1; i <= 4; i++ {
			if code, _ := do("wrong"); code != 401 {
				t.Fatalf("round %d, failure %d: %d", round, i, code)
			}
		}
		if code, retry := do("wrong"); code != 429 || retry != want {
			t.Fatalf("round %d lockout: %d Retry-After %q, want 429 %s", round, code, retry, want)
		}
		wait, _ := time.ParseDuration(want + "s")
		clk.Add(wait - time.Second)
		if code, _ := do("the-right-admin-token"); code != 429 {
			t.Fatalf("round %d: right token a second before the end: %d", round, code)
		}
		clk.Add(time.Second)
		if code, _ := do("the-right-admin-token"); code != 200 {
			t.Fatalf("round %d: right token after the lockout: %d", round, code)
		}
	}
	// Per round: 5 bad tokens, 1 attempt while locked out.
	if n := ref.Flush(); n != 12 {
		t.Errorf("refusals counted: %d, want 12", n)
	}
}
