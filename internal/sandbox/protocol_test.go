package sandbox

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
)

// TestWrongSecretRaw: wrong secret → "Authentication failed" after a delay,
// byte for byte as Asterisk 22, then the server closes the connection and a
// later action gets nothing (fixture wrong-password).
func TestWrongSecretRaw(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.05})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.WriteString(nc, "Action: Login\r\nActionID: login-1\r\nUsername: webcallback\r\nSecret: wrong-secret\r\n\r\n")
	io.WriteString(nc, "Action: Ping\r\nActionID: ping-after-failed-login\r\n\r\n")
	got, err := io.ReadAll(nc) // returns at EOF: the server closed
	if err != nil {
		t.Fatalf("read: %v (want EOF after the error)", err)
	}
	want := "Asterisk Call Manager/11.0.0\r\nResponse: Error\r\nActionID: login-1\r\nMessage: Authentication failed\r\n\r\n"
	if string(got) != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if d := time.Since(start); d < 40*time.Millisecond { // 1 s simulated at scale 0.05
		t.Errorf("failure answered after %v, want the (scaled) 1 s delay", d)
	}
}

// TestMD5Login: Challenge, then Login with md5(challenge+secret) (fixture
// md5-login); a wrong key fails.
func TestMD5Login(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.01, Seed: 3})
	for _, tc := range []struct {
		name string
		key  func(ch string) string
		ok   bool
	}{
		{"right key", func(ch string) string { s := md5.Sum([]byte(ch + testSecret)); return hex.EncodeToString(s[:]) }, true},
		{"wrong key", func(ch string) string { s := md5.Sum([]byte(ch + "nope")); return hex.EncodeToString(s[:]) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.send("Action", "Challenge", "ActionID", "chal-1", "AuthType", "MD5")
			r := c.read()
			ch := r.Get("Challenge")
			if r.Response() != "Success" || r.ActionID() != "chal-1" || !regexp.MustCompile(`^[0-9]+$`).MatchString(ch) {
				t.Fatalf("challenge reply %v", r)
			}
			c.send("Action", "Login", "ActionID", "login-1", "AuthType", "MD5", "Username", testUser, "Key", tc.key(ch))
			r = c.read()
			if got := r.Get("Message"); (got == "Authentication accepted") != tc.ok {
				t.Fatalf("login: %v", r)
			}
			if tc.ok {
				if ev := c.read(); ev.Event() != "FullyBooted" || ev.Get("Privilege") != "system,all" || ev.Get("Status") != "Fully Booted" {
					t.Errorf("after login: %v", ev)
				}
			}
		})
	}
}

// TestActionsRaw checks responses to single actions against what Asterisk
// 22 answers (fixtures ping, command, unknown-context-*; manager.c).
func TestActionsRaw(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.01})
	tests := []struct {
		name   string
		login  bool
		action []string
		want   []string // headers in order, "*" matches any value
	}{
		{"before login", false, []string{"Action", "Ping", "ActionID", "p"}, []string{"Response", "Error", "ActionID", "p", "Message", "Permission denied"}},
		{"missing action", true, []string{"ActionID", "x"}, []string{"Response", "Error", "ActionID", "x", "Message", "Missing action in request"}},
		{"ping", true, []string{"Action", "Ping", "ActionID", "ping-1"}, []string{"Response", "Success", "ActionID", "ping-1", "Ping", "Pong", "Timestamp", "*"}},
		{"ping without id", true, []string{"Action", "Ping"}, []string{"Response", "Success", "Ping", "Pong", "Timestamp", "*"}},
		{"unknown action", true, []string{"Action", "NoSuchAction", "ActionID", "bad-1"},
			[]string{"Response", "Error", "ActionID", "bad-1", "Message", "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."}},
		{"action name any case", true, []string{"Action", "ping", "ActionID", "p2"}, []string{"Response", "Success", "ActionID", "p2", "Ping", "Pong", "Timestamp", "*"}},
		{"core show version", true, []string{"Action", "Command", "ActionID", "cmd-1", "Command", "core show version"},
			[]string{"Response", "Success", "ActionID", "cmd-1", "Message", "Command output follows", "Output", "*"}},
		{"unknown command", true, []string{"Action", "Command", "ActionID", "cmd-2", "Command", "module unload chan_pjsip.so"},
			[]string{"Response", "Error", "ActionID", "cmd-2", "Message", "Command output follows", "Output", "No such command 'module unload chan_pjsip.so' (type 'core show help module unload chan_pjsip.so' for other possible commands)"}},
		{"core settings", true, []string{"Action", "CoreSettings", "ActionID", "cs-1"},
			[]string{"Response", "Success", "ActionID", "cs-1", "AMIversion", "11.0.0", "AsteriskVersion", "22.10.1", "SystemName", "", "CoreMaxCalls", "0",
				"CoreMaxLoadAvg", "0.000000", "CoreRunUser", "", "CoreRunGroup", "", "CoreMaxFilehandles", "0", "CoreRealTimeEnabled", "No",
				"CoreCDRenabled", "Yes", "CoreHTTPenabled", "No", "SoundsSearchCustomDir", "No"}},
		{"challenge without type", true, []string{"Action", "Challenge", "ActionID", "c"}, []string{"Response", "Error", "ActionID", "c", "Message", "Must specify AuthType"}},
		{"login again", true, []string{"Action", "Login", "ActionID", "l2", "Username", testUser, "Secret", testSecret},
			[]string{"Response", "Success", "ActionID", "l2", "Message", "Already authenticated"}},
		{"events off", true, []string{"Action", "Events", "ActionID", "e", "EventMask", "off"}, []string{"Response", "Success", "ActionID", "e", "Events", "Off"}},
		{"hangup no channel", true, []string{"Action", "Hangup", "ActionID", "h"}, []string{"Response", "Error", "ActionID", "h", "Message", "No channel specified"}},
		{"hangup unknown", true, []string{"Action", "Hangup", "ActionID", "h", "Channel", "PJSIP/gateway-000000ff"}, []string{"Response", "Error", "ActionID", "h", "Message", "No such channel"}},
		{"hangup bad regex", true, []string{"Action", "Hangup", "ActionID", "h", "Channel", "/(/"}, []string{"Response", "Error", "ActionID", "h", "Message", "Regex compile failed on: /(/"}},
		{"status unknown", true, []string{"Action", "Status", "ActionID", "s", "Channel", "PJSIP/x"}, []string{"Response", "Error", "ActionID", "s", "Message", "No such channel"}},
		{"originate unknown context", true, []string{"Action", "Originate", "ActionID", "orig-1", "Channel", "PJSIP/13800001001@gateway",
			"Context", "no-such-context", "Exten", "s", "Priority", "1", "Async", "true"}, []string{"Response", "Error", "ActionID", "orig-1", "Message", "Extension does not exist."}},
		{"originate unknown context sync", true, []string{"Action", "Originate", "ActionID", "orig-1", "Channel", "PJSIP/13800001001@gateway",
			"Context", "no-such-context", "Exten", "s", "Priority", "1"}, []string{"Response", "Error", "ActionID", "orig-1", "Message", "Extension does not exist."}},
		{"originate no channel", true, []string{"Action", "Originate", "ActionID", "o", "Context", "webcallback", "Exten", "s"},
			[]string{"Response", "Error", "ActionID", "o", "Message", "Channel not specified"}},
		{"originate other trunk", true, []string{"Action", "Originate", "ActionID", "o", "Channel", "PJSIP/1@other", "Context", "webcallback", "Exten", "s", "Async", "yes"},
			[]string{"Response", "Error", "ActionID", "o", "Message", "Originate failed"}},
		{"originate long channel id", true, []string{"Action", "Originate", "ActionID", "o", "Channel", "PJSIP/1@gateway", "Context", "webcallback", "Exten", "s", "ChannelId", strings.Repeat("a", 150)},
			[]string{"Response", "Error", "ActionID", "o", "Message", "Uniqueid length exceeds maximum of 149"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			if tt.login {
				c.login("off")
			}
			c.send(tt.action...)
			m := c.read()
			if len(m.Headers) != len(tt.want)/2 {
				t.Fatalf("got %q, want %q", m.Headers, tt.want)
			}
			for i, h := range m.Headers {
				k, v := tt.want[2*i], tt.want[2*i+1]
				if h.Key != k || (v != "*" && h.Value != v) {
					t.Errorf("header %d: got %s: %q, want %s: %q", i, h.Key, h.Value, k, v)
				}
			}
		})
	}
}

// TestLogoff: Goodbye, then the server closes (fixtures, README §1).
func TestLogoff(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.01})
	c := dialRaw(t, addr)
	c.login("off")
	c.send("Action", "Logoff", "ActionID", "logoff-1")
	got, err := io.ReadAll(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Response: Goodbye\r\nActionID: logoff-1\r\nMessage: Thanks for all the fish.\r\n\r\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestMalformedInput: garbage gets an error reply and the session goes on;
// a message over the reader's limits too.
func TestMalformedInput(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.01})
	c := dialRaw(t, addr)
	c.login("off")
	io.WriteString(c.nc, "this is not a header\r\n\r\n")
	if m := c.read(); m.Get("Message") != "Missing action in request" {
		t.Errorf("garbage: %v", m)
	}
	c.nc.Write(append(append([]byte("Action: Ping\r\nX: "), bytes.Repeat([]byte("a"), ami.MaxLineBytes+10)...), "\r\n\r\n"...))
	if m := c.read(); m.Response() != "Error" {
		t.Errorf("huge line: %v", m)
	}
	c.send("Action", "Ping", "ActionID", "still-alive")
	if m := c.read(); m.ActionID() != "still-alive" {
		t.Errorf("after bad input: %v", m)
	}
}

// TestCloseEndsConnections: Close drops clients and Serve returns.
func TestCloseEndsConnections(t *testing.T) {
	s, addr := startServer(t, Config{TimeScale: 0.01})
	c := dialRaw(t, addr)
	c.login("")
	c.send("Action", "Originate", "ActionID", "o", "Channel", "PJSIP/13800001001@gateway", "Context", "webcallback", "Exten", "s", "Async", "true",
		"Variable", "WCB_ID=1,WCB_CALLEE=13800002002")
	c.until(func(m *ami.Message) bool { return m.Event() == "Newchannel" })
	s.Close()
	_, err := io.ReadAll(c.nc)
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && !ne.Timeout()) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("after Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Close")
	}
}

// TestLimits: a client that never logs in is closed after the auth
// timeout; one that stops reading is dropped when its queue is full, and
// the server goes on serving others.
func TestLimits(t *testing.T) {
	s := New(Config{Username: testUser, Secret: testSecret, TimeScale: 0.0005})
	s.authTimeout, s.maxQueued = 100*time.Millisecond, 64<<10
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	addr := l.Addr().String()

	t.Run("auth timeout", func(t *testing.T) {
		c := dialRaw(t, addr)
		if _, err := io.ReadAll(c.nc); err != nil {
			t.Errorf("want a close after the auth timeout, got %v", err)
		}
	})
	t.Run("slow reader", func(t *testing.T) {
		slow := dialRaw(t, addr)
		slow.login("on")
		if tc, ok := slow.nc.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10) // fill the socket buffers quickly
		}
		c := dialRaw(t, addr)
		c.login("off")
		// Calls until the slow session is dropped: how many it takes
		// depends on the kernel's socket buffers (large and autotuned on
		// loopback), so the test does not guess a number; it only bounds
		// the loop so that a server that never drops fails rather than
		// hangs. Each Originate's response is read before the next, so the
		// check needs no sleep.
		const maxCalls = 20000
		for i := 0; ; i++ {
			s.mu.Lock()
			n := len(s.conns)
			s.mu.Unlock()
			if n == 1 {
				break
			}
			if i == maxCalls {
				t.Fatalf("slow client still connected after %d calls (%d sessions)", i, n)
			}
			c.send("Action", "Originate", "Channel", "PJSIP/13800001001@gateway", "Context", "webcallback", "Exten", "s", "Async", "true",
				"ChannelId", fmt.Sprintf("slow-%d", i), "Variable", "WCB_ID=1,WCB_CALLEE=13811111001")
			c.read()
		}
		c.send("Action", "Ping", "ActionID", "alive")
		if m := c.read(); m.ActionID() != "alive" {
			t.Errorf("other session: %v", m)
		}
	})
}

// TestCLI: "core show channels" lists a live call as Asterisk formats it,
// ListCommands names every action.
func TestCLI(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.002})
	c := dialRaw(t, addr)
	c.login("user")
	c.send("Action", "Originate", "Channel", "PJSIP/13800001001@gateway", "Context", "webcallback", "Exten", "s", "Async", "true",
		"ChannelId", "cli-1", "Variable", "WCB_ID=1,WCB_CALLEE=13800002002,WCB_LIMIT_MS=600000")
	c.until(func(m *ami.Message) bool { return m.Get("Stage") == "connected" })
	c.send("Action", "Command", "ActionID", "cmd", "Command", "core  show channels")
	m := c.until(func(m *ami.Message) bool { return m.ActionID() == "cmd" })
	out := m[len(m)-1].Values("Output")
	want := []string{"2 active channels", "1 active call", "1 call processed"}
	if len(out) != 6 || !strings.HasPrefix(out[0], "Channel ") || !strings.Contains(out[1], "s@webcallback:") ||
		!strings.Contains(out[1], "Up      Dial(PJSIP/13800002002@gateway,30,") || !slices.Equal(out[3:], want) {
		t.Errorf("core show channels:\n%s", strings.Join(out, "\n"))
	}
	c.send("Action", "ListCommands", "ActionID", "lc")
	m = c.until(func(m *ami.Message) bool { return m.ActionID() == "lc" })
	for _, a := range []string{"Originate", "Hangup", "CoreShowChannels", "Status", "Login"} {
		if v := m[len(m)-1].Get(a); !strings.HasSuffix(v, "(Priv: <none>)") {
			t.Errorf("ListCommands %s: %q", a, v)
		}
	}
}

// TestAuthLimit: beyond authlimit unauthenticated sessions, a new
// connection is closed at once; logged-in sessions do not count.
func TestAuthLimit(t *testing.T) {
	s := New(Config{Username: testUser, Secret: testSecret, TimeScale: 0.01})
	s.authLimit = 2
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	addr := l.Addr().String()
	in := dialRaw(t, addr)
	in.login("off")
	dialRaw(t, addr)
	dialRaw(t, addr)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(nc); err != nil || len(b) != 0 {
		t.Errorf("third unauthenticated session: read %q, %v; want a close without banner", b, err)
	}
	in.send("Action", "Ping", "ActionID", "p")
	if m := in.read(); m.ActionID() != "p" {
		t.Errorf("logged-in session: %v", m)
	}
}

// TestCloseLeavesNoGoroutines: Close with calls in flight and sessions
// open returns only when all of the server's goroutines have ended.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New(Config{Username: testUser, Secret: testSecret, TimeScale: 0.01})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { s.Serve(l); close(served) }()
	c := dialRaw(t, l.Addr().String())
	c.login("on")
	for i := range 5 {
		c.send("Action", "Originate", "Channel", "PJSIP/13800001001@gateway", "Context", "webcallback", "Exten", "s",
			"Async", fmt.Sprint(i%2 == 0), "Variable", "WCB_ID=1,WCB_CALLEE=13800002002")
	}
	c.until(func(m *ami.Message) bool { return m.Event() == "Newchannel" })
	dialRaw(t, l.Addr().String()) // one not logged in
	s.Close()
	<-served
	c.nc.Close()
	// Polled for up to 20 s: goroutines end on their own schedule, slowly
	// under the race detector on a busy machine.
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 4000 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNULInValues: a NUL ends a header value, as in Asterisk's C strings,
// so nothing unencodable is ever echoed.
func TestNULInValues(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.01})
	c := dialRaw(t, addr)
	c.login("off")
	io.WriteString(c.nc, "Action: Ping\r\nActionID: p1\x00junk\r\n\r\nAction: Ping\r\nActionID: p2\rjunk\r\n\r\n")
	for _, id := range []string{"p1", "p2"} {
		if m := c.read(); m.ActionID() != id || m.Get("Ping") != "Pong" {
			t.Errorf("got %v, want the Pong of %s", m, id)
		}
	}
}
