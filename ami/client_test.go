package ami_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/ami/amitest"
)

// pbx is a scriptable fake Asterisk for client tests: banner, plain login
// checked against secret, Ping, Logoff; every other action goes to
// onAction, which answers through reply (safe from any goroutine).
type pbx struct {
	secret   string
	onAction func(reply func(*ami.Message), action *ami.Message)
	actions  atomic.Int64 // actions other than Login/Ping/Logoff
	refuse   atomic.Bool  // refuse every login (the secret was changed)
}

func (p *pbx) handle(c net.Conn) error {
	var wmu sync.Mutex
	reply := func(m *ami.Message) {
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = m.WriteTo(c)
	}
	return amitest.Actions(func(c net.Conn, m *ami.Message) error {
		id := m.ActionID()
		switch m.Get("Action") {
		case "Login":
			if m.Get("Secret") != p.secret || p.refuse.Load() {
				reply(ami.NewMessage("Response", "Error", "ActionID", id, "Message", "Authentication failed"))
				return amitest.ErrHangUp
			}
			reply(ami.NewMessage("Response", "Success", "ActionID", id, "Message", "Authentication accepted"))
			reply(ami.NewMessage("Event", "FullyBooted", "Privilege", "system,all", "Status", "Fully Booted"))
		case "Ping":
			reply(ami.NewMessage("Response", "Success", "ActionID", id, "Ping", "Pong"))
		case "Logoff":
			reply(ami.NewMessage("Response", "Goodbye", "ActionID", id, "Message", "Thanks for all the fish."))
			return amitest.ErrHangUp
		default:
			p.actions.Add(1)
			if p.onAction != nil {
				p.onAction(reply, m)
			}
		}
		return nil
	})(c)
}

// start serves p on loopback and connects a client to it, after setup (if
// any) has made its subscriptions; both are closed at cleanup.
func (p *pbx) start(t testing.TB, cfg ami.Config, setup ...func(*ami.Client)) (*amitest.Server, *ami.Client) {
	t.Helper()
	srv, err := amitest.NewServer(p.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg.Addr = srv.Addr()
	if cfg.Username == "" {
		cfg.Username, cfg.Secret = "u", p.secret
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = -1
	}
	c := ami.New(cfg)
	for _, f := range setup {
		f(c)
	}
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c
}

func TestConcurrentDoOutOfOrder(t *testing.T) {
	// Answers arrive in random order, each echoing the request's Seq.
	p := &pbx{secret: "s", onAction: func(reply func(*ami.Message), a *ami.Message) {
		go func() {
			n, _ := strconv.Atoi(a.Get("Seq"))
			time.Sleep(time.Duration(n%7) * time.Millisecond)
			reply(ami.NewMessage("Response", "Success", "ActionID", a.ActionID(), "Seq", a.Get("Seq")))
		}()
	}}
	_, c := p.start(t, ami.Config{})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			resp, err := c.Do(context.Background(), ami.NewMessage("Action", "Echo", "Seq", strconv.Itoa(i)))
			if err != nil || resp.Get("Seq") != strconv.Itoa(i) {
				t.Errorf("Do %d: %v %v", i, resp, err)
			}
		})
	}
	wg.Wait()
}

func TestDoErrors(t *testing.T) {
	p := &pbx{secret: "s", onAction: func(reply func(*ami.Message), a *ami.Message) {
		switch a.Get("Action") {
		case "Silent": // never answers
		case "Stray": // a response for someone else first, then ours
			reply(ami.NewMessage("Response", "Success", "ActionID", "not-ours"))
			reply(ami.NewMessage("Response", "Success", "Message", "no id at all"))
			reply(ami.NewMessage("Response", "Success", "ActionID", a.ActionID(), "Message", "yours"))
		case "Bad":
			reply(ami.NewMessage("Response", "Error", "ActionID", a.ActionID(), "Message", "Invalid/unknown command"))
		}
	}}
	srv, c := p.start(t, ami.Config{ActionTimeout: 10 * time.Second})
	ctx := context.Background()

	impatient, err := ami.Dial(ctx, ami.Config{Addr: srv.Addr(), Username: "u", Secret: "s", ActionTimeout: 20 * time.Millisecond, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	if _, err := impatient.Do(ctx, ami.NewMessage("Action", "Silent")); !errors.Is(err, ami.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Silent: %v, want ErrTimeout from ActionTimeout", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Do(short, ami.NewMessage("Action", "Silent")); !errors.Is(err, ami.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Silent with ctx deadline: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if resp, err := c.Do(ctx, ami.NewMessage("Action", "Stray")); err != nil || resp.Get("Message") != "yours" {
		t.Errorf("Stray: %v %v", resp, err)
	}
	resp, err := c.Do(ctx, ami.NewMessage("Action", "Bad"))
	var ae *ami.ActionError
	if !errors.As(err, &ae) || ae.Action != "Bad" || ae.Message != "Invalid/unknown command" || resp == nil || resp.Err() == nil {
		t.Errorf("Bad: %v %v", resp, err)
	}
	// Injection: nothing of a bad action reaches the wire.
	before := p.actions.Load()
	for _, bad := range []*ami.Message{
		ami.NewMessage("Action", "Originate", "Channel", "PJSIP/1@gw\r\nApplication: System"),
		ami.NewMessage("Action", "Originate", "Exten", "s\nData: x"),
		ami.NewMessage("Action", "Originate", "Exten", "s\x00"),
		ami.NewMessage("Action", "Originate", "Bad Key", "v"),
		ami.NewMessage("Channel", "no action"),
	} {
		if _, err := c.Do(ctx, bad); !errors.Is(err, ami.ErrInvalidHeader) {
			t.Errorf("Do(%q) = %v, want ErrInvalidHeader", bad, err)
		}
	}
	if _, err := c.Do(ctx, ami.NewMessage("Action", "Stray")); err != nil {
		t.Fatal(err)
	}
	if n := p.actions.Load() - before; n != 1 {
		t.Errorf("server saw %d actions, want only the good one", n)
	}
	if c.State() != ami.Connected {
		t.Errorf("state %v after errors, want connected", c.State())
	}
}

func TestListAction(t *testing.T) {
	p := &pbx{secret: "s", onAction: func(reply func(*ami.Message), a *ami.Message) {
		id := a.ActionID()
		reply(ami.NewMessage("Response", "Success", "ActionID", id, "EventList", "start", "Message", "Channels will follow"))
		reply(ami.NewMessage("Event", "CoreShowChannel", "ActionID", id, "Channel", "PJSIP/a-1"))
		reply(ami.NewMessage("Event", "Newexten", "Channel", "PJSIP/a-1")) // a call event in the middle
		reply(ami.NewMessage("Event", "OriginateResponse", "ActionID", "orig-9", "Response", "Success"))
		reply(ami.NewMessage("Event", "CoreShowChannel", "ActionID", id, "Channel", "PJSIP/b-2"))
		reply(ami.NewMessage("Event", "CoreShowChannelsComplete", "ActionID", id, "EventList", "Complete", "ListItems", "2"))
	}}
	srv, err := amitest.NewServer(p.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := ami.New(ami.Config{Addr: srv.Addr(), Username: "u", Secret: "s", PingInterval: -1})
	sub := c.Subscribe(16)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), ami.NewMessage("Action", "CoreShowChannels"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != 2 || resp.Items[1].Get("Channel") != "PJSIP/b-2" || resp.Complete.Get("ListItems") != "2" {
		t.Errorf("items %v complete %v", resp.Items, resp.Complete)
	}
	c.Close()
	var got []string
	for m := range sub.C() {
		got = append(got, m.Event())
	}
	want := []string{ami.EventConnected, "FullyBooted", "Newexten", "OriginateResponse", ami.EventDisconnected}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("subscriber saw %v, want %v", got, want)
	}
}

func TestLoginFailure(t *testing.T) {
	p := &pbx{secret: "right"}
	srv, err := amitest.NewServer(p.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, err = ami.Dial(context.Background(), ami.Config{Addr: srv.Addr(), Username: "u", Secret: "wrong"})
	if !errors.Is(err, ami.ErrAuth) {
		t.Errorf("Dial = %v, want ErrAuth", err)
	}
	// Nothing listening: a clear dial error, not a hang.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := ami.Dial(context.Background(), ami.Config{Addr: addr, DialTimeout: time.Second}); err == nil {
		t.Error("Dial to a closed port succeeded")
	}
	// Something else on the port.
	web, err := amitest.NewServer(func(c net.Conn) error {
		_, err := c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
		time.Sleep(100 * time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer web.Close()
	if _, err := ami.Dial(context.Background(), ami.Config{Addr: web.Addr()}); !errors.Is(err, ami.ErrMalformed) {
		t.Errorf("Dial to an SSH server = %v, want ErrMalformed", err)
	}
	// A server that accepts but never sends the banner.
	mute, _ := net.Listen("tcp", "127.0.0.1:0")
	defer mute.Close()
	go func() {
		c, err := mute.Accept()
		if err == nil {
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	if _, err := ami.Dial(context.Background(), ami.Config{Addr: mute.Addr().String(), DialTimeout: 50 * time.Millisecond}); !errors.Is(err, ami.ErrMalformed) && !isTimeout(err) {
		t.Errorf("Dial to a mute server = %v, want a timeout", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestReconnect drops the connection with an Originate in flight: the
// Originate fails with ErrConnLost and is never sent again; the client
// reconnects, logs in again, and tells Watch and subscribers.
func TestReconnect(t *testing.T) {
	var srv *amitest.Server
	p := &pbx{secret: "s", onAction: func(reply func(*ami.Message), a *ami.Message) {
		if a.Get("Action") == "Originate" {
			go srv.DropAll() // Asterisk dies before answering
			return
		}
		reply(ami.NewMessage("Response", "Success", "ActionID", a.ActionID()))
	}}
	var sub *ami.Subscription
	srv, c := p.start(t, ami.Config{ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond},
		func(c *ami.Client) { sub = c.Subscribe(64) })
	for _, want := range []string{ami.EventConnected, "FullyBooted"} {
		if m := <-sub.C(); m.Event() != want {
			t.Fatalf("got %v, want %s", m, want)
		}
	}
	states, stop := c.Watch()
	defer stop()
	if sc := <-states; sc.State != ami.Connected || sc.Reconnects != 0 {
		t.Fatalf("first state %+v", sc)
	}

	_, err := c.Do(context.Background(), ami.NewMessage("Action", "Originate", "Channel", "PJSIP/1@gw"))
	if !errors.Is(err, ami.ErrConnLost) {
		t.Fatalf("Originate = %v, want ErrConnLost", err)
	}
	var seen []ami.ConnState
	for sc := range states {
		seen = append(seen, sc.State)
		if sc.State == ami.Disconnected && sc.Err == nil {
			t.Error("Disconnected without a reason")
		}
		if sc.State == ami.Connected {
			if sc.Reconnects != 1 {
				t.Errorf("Reconnects = %d, want 1", sc.Reconnects)
			}
			break
		}
	}
	if len(seen) < 3 || seen[0] != ami.Disconnected || seen[1] != ami.Connecting {
		t.Errorf("states %v, want disconnected, connecting, ..., connected", seen)
	}
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Status")); err != nil {
		t.Fatalf("Do after reconnect: %v", err)
	}
	if n := p.actions.Load(); n != 2 {
		t.Errorf("server saw %d actions, want 2 (Originate once, Status once)", n)
	}
	if srv.Accepted() != 2 {
		t.Errorf("%d connections, want 2", srv.Accepted())
	}
	var events []string
	for len(events) < 3 {
		m := <-sub.C()
		events = append(events, m.Event()+" "+m.Get("Reconnects"))
	}
	want := []string{ami.EventDisconnected + " ", ami.EventConnected + " 1", "FullyBooted "}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("subscriber saw %q, want %q", events, want)
	}
}

// TestNotConnected: while Asterisk is down, Do refuses at once with
// ErrNotConnected (nothing sent), and the client keeps trying.
func TestNotConnected(t *testing.T) {
	p := &pbx{secret: "s"}
	srv, c := p.start(t, ami.Config{ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond})
	states, stop := c.Watch()
	defer stop()
	<-states
	srv.Close() // stops listening too: reconnects fail
	for sc := range states {
		if sc.State == ami.Disconnected {
			break
		}
	}
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Ping")); !errors.Is(err, ami.ErrNotConnected) {
		t.Errorf("Do while down = %v, want ErrNotConnected", err)
	}
	attempts := 0
	for sc := range states {
		if sc.State == ami.Connecting {
			attempts++
		}
		if attempts == 3 {
			break
		}
	}
	c.Close()
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Ping")); !errors.Is(err, ami.ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
	if c.State() != ami.Disconnected {
		t.Errorf("state after Close %v", c.State())
	}
}

// TestKeepalive: a peer that stops answering is noticed by the Ping.
func TestKeepalive(t *testing.T) {
	var mute atomic.Bool
	var pings atomic.Int64
	srv, err := amitest.NewServer(amitest.Actions(func(c net.Conn, m *ami.Message) error {
		if m.Get("Action") == "Ping" {
			pings.Add(1)
		}
		if !mute.Load() {
			ami.NewMessage("Response", "Success", "ActionID", m.ActionID()).WriteTo(c)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := ami.Dial(context.Background(), ami.Config{Addr: srv.Addr(), PingInterval: 10 * time.Millisecond,
		ActionTimeout: 50 * time.Millisecond, ReconnectMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	states, stop := c.Watch()
	defer stop()
	<-states
	mute.Store(true)
	sc := <-states
	if sc.State != ami.Disconnected || !errors.Is(sc.Err, ami.ErrTimeout) {
		t.Errorf("after mute: %+v, want disconnected by a Ping timeout", sc)
	}
	if pings.Load() == 0 {
		t.Error("no Ping seen")
	}
}

// TestSlowSubscriber: a subscriber that does not read loses events, counted
// and announced in its stream; the other subscriber loses nothing and the
// reader never waits.
func TestSlowSubscriber(t *testing.T) {
	const n = 1000
	p := &pbx{secret: "s", onAction: func(reply func(*ami.Message), a *ami.Message) {
		for i := range n {
			reply(ami.NewMessage("Event", "Tick", "N", strconv.Itoa(i)))
		}
		reply(ami.NewMessage("Response", "Success", "ActionID", a.ActionID()))
	}}
	var slow, fast *ami.Subscription
	_, c := p.start(t, ami.Config{}, func(c *ami.Client) {
		slow = c.Subscribe(10)
		fast = c.Subscribe(2 * n)
	})
	for _, sub := range []*ami.Subscription{slow, fast} {
		for _, want := range []string{ami.EventConnected, "FullyBooted"} {
			if m := <-sub.C(); m.Event() != want {
				t.Fatalf("got %v, want %s", m, want)
			}
		}
	}
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Burst")); err != nil {
		t.Fatal(err)
	}
	if fast.Dropped() != 0 || len(fast.C()) != n {
		t.Errorf("fast: dropped %d, has %d", fast.Dropped(), len(fast.C()))
	}
	if slow.Dropped() != n-10 {
		t.Errorf("slow dropped %d, want %d", slow.Dropped(), n-10)
	}
	for range 10 {
		<-slow.C()
	}
	// The next event comes after a notice saying how many were lost.
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Burst")); err != nil {
		t.Fatal(err)
	}
	notice := <-slow.C()
	if notice.Event() != ami.EventDropped || notice.Get("Dropped") != strconv.Itoa(n-10) {
		t.Errorf("got %v, want %s with Dropped: %d", notice, ami.EventDropped, n-10)
	}
	if m := <-slow.C(); m.Get("N") != "0" {
		t.Errorf("after the notice: %v, want Tick 0", m)
	}
	slow.Close()
	slow.Close()
	for range slow.C() { // buffered events, then the end: Close closed the channel
	}
}

// TestBurst100k: a subscriber that keeps up gets every one of 100000
// events in wire order.
func TestBurst100k(t *testing.T) {
	const n = 100_000
	srv, err := amitest.NewServer(amitest.Actions(func(c net.Conn, m *ami.Message) error {
		// One write: the response, then (for Burst) n events.
		buf, _ := ami.NewMessage("Response", "Success", "ActionID", m.ActionID()).AppendTo(nil)
		if m.Get("Action") == "Burst" {
			for i := range n {
				buf, _ = ami.NewMessage("Event", "VarSet", "Privilege", "dialplan,all", "Channel", "PJSIP/gateway-0000004b",
					"Variable", "N", "Value", strconv.Itoa(i), "Uniqueid", "1795626078.131").AppendTo(buf)
			}
		}
		_, err := c.Write(buf)
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := ami.New(ami.Config{Addr: srv.Addr(), PingInterval: -1})
	sub := c.Subscribe(0)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := <-sub.C(); m.Event() != ami.EventConnected {
		t.Fatalf("first event %v", m)
	}
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Burst")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := <-sub.C()
		if m.Get("Value") != strconv.Itoa(i) {
			t.Fatalf("event %d: %v (dropped %d)", i, m, sub.Dropped())
		}
	}
	if sub.Dropped() != 0 {
		t.Errorf("dropped %d", sub.Dropped())
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	p := &pbx{secret: "s"}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { p.handle(c); c.Close() }()
		}
	}()
	c, err := ami.Dial(context.Background(), ami.Config{Addr: ln.Addr().String(), Username: "u", Secret: "s",
		TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp, err := c.Do(context.Background(), ami.NewMessage("Action", "Ping")); err != nil || resp.Get("Ping") != "Pong" {
		t.Errorf("Ping over TLS: %v %v", resp, err)
	}
	// A client that does not trust the certificate fails to connect.
	if _, err := ami.Dial(context.Background(), ami.Config{Addr: ln.Addr().String(), TLS: &tls.Config{ServerName: "localhost"}}); err == nil {
		t.Error("untrusted certificate accepted")
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// BenchmarkRoundTrip is one Ping action and its response over loopback,
// from one goroutine and from many at once.
func BenchmarkRoundTrip(b *testing.B) {
	p := &pbx{secret: "s"}
	_, c := p.start(b, ami.Config{})
	ping := ami.NewMessage("Action", "Ping")
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Do(context.Background(), ping); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Do(context.Background(), ping); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestListTooLong: a list longer than MaxListItems is read to its end and
// fails; memory stays bounded and the connection stays usable.
func TestListTooLong(t *testing.T) {
	p := &pbx{secret: "s", onAction: func(reply func(*ami.Message), a *ami.Message) {
		id := a.ActionID()
		reply(ami.NewMessage("Response", "Success", "ActionID", id, "EventList", "start"))
		if a.Get("Action") == "Huge" {
			for range ami.MaxListItems + 5 {
				reply(ami.NewMessage("Event", "Item", "ActionID", id))
			}
		}
		reply(ami.NewMessage("Event", "ListComplete", "ActionID", id, "EventList", "Complete"))
	}}
	_, c := p.start(t, ami.Config{ActionTimeout: time.Minute})
	resp, err := c.Do(context.Background(), ami.NewMessage("Action", "Huge"))
	if !errors.Is(err, ami.ErrMessageTooLarge) || len(resp.Items) != ami.MaxListItems {
		t.Errorf("Huge: %v, %d items", err, len(resp.Items))
	}
	if resp, err := c.Do(context.Background(), ami.NewMessage("Action", "Small")); err != nil || resp.Complete == nil {
		t.Errorf("after a huge list: %v %v", resp, err)
	}
}

// TestCloseReleasesEverything: after Close no goroutine of the client is
// left, even with a full subscription and a long SlowSubscriberWait.
func TestCloseReleasesEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	p := &pbx{secret: "s", onAction: func(reply func(*ami.Message), a *ami.Message) {
		for range 10 {
			reply(ami.NewMessage("Event", "Tick"))
		}
		reply(ami.NewMessage("Response", "Success", "ActionID", a.ActionID()))
	}}
	srv, err := amitest.NewServer(p.handle)
	if err != nil {
		t.Fatal(err)
	}
	c := ami.New(ami.Config{Addr: srv.Addr(), Username: "u", Secret: "s", PingInterval: time.Hour, SlowSubscriberWait: time.Hour})
	full := c.Subscribe(1)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	go c.Do(context.Background(), ami.NewMessage("Action", "Burst")) // the reader blocks on full
	time.Sleep(10 * time.Millisecond)
	full.Close() // must cut the reader's wait short
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Burst")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left (was %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestReconnectAuthFailure: when the secret stops working, the client
// reports ErrAuth on each attempt and keeps trying; once it works again the
// client is back.
func TestReconnectAuthFailure(t *testing.T) {
	p := &pbx{secret: "s"}
	srv, c := p.start(t, ami.Config{ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond})
	states, stop := c.Watch()
	defer stop()
	<-states
	p.refuse.Store(true)
	srv.DropAll()
	authFailures := 0
	for sc := range states {
		if sc.State == ami.Disconnected && errors.Is(sc.Err, ami.ErrAuth) {
			if authFailures++; authFailures == 3 {
				p.refuse.Store(false)
			}
		}
		if sc.State == ami.Connected {
			break
		}
	}
	if authFailures < 3 {
		t.Errorf("%d ErrAuth states before reconnecting", authFailures)
	}
	if _, err := c.Do(context.Background(), ami.NewMessage("Action", "Ping")); err != nil {
		t.Errorf("Ping after the secret works again: %v", err)
	}
}
