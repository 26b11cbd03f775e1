package sandbox

import (
	"net"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
)

// testUser and testSecret are the sandbox account in tests.
const (
	testUser   = "webcallback"
	testSecret = "s3cret-lab"
)

// startServer runs a sandbox on a loopback port for the test's lifetime.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username, cfg.Secret = testUser, testSecret
	}
	s := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, l.Addr().String()
}

// rawClient is a minimal AMI client over a real socket, for tests that
// look at exact bytes and order.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	r  *ami.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc, r: ami.NewReader(nc)}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	banner, err := c.r.ReadBanner()
	if err != nil {
		t.Fatalf("banner: %v", err)
	}
	if banner != Banner {
		t.Fatalf("banner %q, want %q", banner, Banner)
	}
	return c
}

// send writes one action in one write.
func (c *rawClient) send(kv ...string) {
	c.t.Helper()
	b, err := ami.NewMessage(kv...).AppendTo(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() *ami.Message {
	c.t.Helper()
	m, err := c.r.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// login logs in with the test account and reads the reply and FullyBooted.
func (c *rawClient) login(events string) {
	c.t.Helper()
	kv := []string{"Action", "Login", "ActionID", "login-1", "Username", testUser, "Secret", testSecret}
	if events != "" {
		kv = append(kv, "Events", events)
	}
	c.send(kv...)
	if m := c.read(); m.Get("Message") != "Authentication accepted" {
		c.t.Fatalf("login: %v", m)
	}
}

// until reads messages until one matches, returning all read.
func (c *rawClient) until(match func(*ami.Message) bool) []*ami.Message {
	c.t.Helper()
	var all []*ami.Message
	for {
		m := c.read()
		all = append(all, m)
		if match(m) {
			return all
		}
	}
}

// digest summarizes a message for failure output.
func digest(m *ami.Message) string {
	var b strings.Builder
	if e := m.Event(); e != "" {
		b.WriteString(e)
	} else {
		b.WriteString("Response:" + m.Response())
	}
	for _, k := range []string{"Channel", "DestChannel", "DialStatus", "Cause", "Application", "AppData", "Reason", "Response", "Stage", "Prompt", "Disposition", "LastApplication", "UserField", "Message"} {
		if v, ok := m.Lookup(k); ok && (k != "Response" || m.Event() != "") {
			b.WriteString(" " + k + "=" + v)
		}
	}
	return b.String()
}
