package ami

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// session is one logged-in TCP (or TLS) connection. It dies once, with the
// first error; the Client then makes a new one. Nothing is carried over:
// actions in flight fail with ErrConnLost and are never re-sent.
type session struct {
	c       *Client
	nc      net.Conn
	r       *Reader
	started time.Time

	wmu sync.Mutex // one writer at a time, so a write deadline belongs to its write

	mu      sync.Mutex
	pending map[string]*call // by ActionID
	err     error            // why the session died; set once
	dead    chan struct{}    // closed when err is set

	readerDone chan struct{} // closed when readLoop has delivered its last event
	reconnects uint64        // reported in EventConnected
	announced  bool          // EventConnected sent (readLoop only)
}

// call is one action waiting for its response (and list items).
type call struct {
	action string
	login  bool // its success starts the session's event stream
	resp   *Response
	list   bool // response said EventList: start; items follow until ...Complete
	excess int  // list items beyond MaxListItems, counted, not kept
	done   chan struct{}
}

// MaxListItems bounds the items one list action keeps (CoreShowChannels on
// a big system lists thousands); a longer list is read to its end and
// fails with ErrMessageTooLarge rather than growing memory without bound.
const MaxListItems = 100_000

// connect dials, reads the banner and logs in. reconnects is what the
// session will report in EventConnected.
func (c *Client) connect(ctx context.Context, reconnects uint64) (*session, error) {
	nc, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{
		c:          c,
		nc:         nc,
		r:          NewReader(nc),
		started:    time.Now(),
		pending:    make(map[string]*call),
		dead:       make(chan struct{}),
		readerDone: make(chan struct{}),
		reconnects: reconnects,
	}
	banner, err := s.readBanner(ctx)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ami: %s: %w", c.cfg.Addr, err)
	}
	go s.readLoop()
	if err := s.login(ctx); err != nil {
		s.kill(err)
		<-s.readerDone
		return nil, err
	}
	c.log.Info("ami: logged in", "banner", banner, "user", c.cfg.Username, "reconnects", reconnects)
	if c.cfg.PingInterval > 0 {
		go s.keepalive()
	}
	return s, nil
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	var nc net.Conn
	var err error
	if c.cfg.TLS != nil {
		nc, err = (&tls.Dialer{NetDialer: d, Config: c.cfg.TLS}).DialContext(ctx, "tcp", c.cfg.Addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", c.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ami: dial %s: %w", c.cfg.Addr, err)
	}
	return nc, nil
}

// readBanner reads the greeting within DialTimeout, or until ctx ends.
func (s *session) readBanner(ctx context.Context) (string, error) {
	if err := s.nc.SetReadDeadline(time.Now().Add(s.c.cfg.DialTimeout)); err != nil {
		return "", err
	}
	stop := context.AfterFunc(ctx, func() { _ = s.nc.SetReadDeadline(time.Unix(1, 0)) })
	banner, err := s.r.ReadBanner()
	if !stop() {
		return "", fmt.Errorf("waiting for the banner: %w", ctx.Err())
	}
	if err != nil {
		return "", err
	}
	if !strings.Contains(banner, "Call Manager/") { // e.g. an HTTP or SSH server on that port
		return "", fmt.Errorf("%w: not an AMI server: banner %q", ErrMalformed, banner)
	}
	return banner, s.nc.SetReadDeadline(time.Time{})
}

// login sends Login, after a Challenge for MD5. Headers are in the order
// Asterisk's own clients use; the secret itself never crosses the wire with
// MD5.
func (s *session) login(ctx context.Context) error {
	cfg := &s.c.cfg
	// Asterisk answers a wrong secret only after a second: a short
	// ActionTimeout must not turn that into a timeout.
	timeout := max(cfg.ActionTimeout, cfg.DialTimeout)
	login := NewMessage("Action", "Login")
	if cfg.AuthMD5 {
		resp, err := s.do(ctx, NewMessage("Action", "Challenge", "AuthType", "MD5"), timeout, false)
		if err != nil {
			return fmt.Errorf("ami: %s: MD5 challenge: %w", cfg.Addr, err)
		}
		challenge := resp.Get("Challenge")
		if challenge == "" {
			return fmt.Errorf("ami: %s: MD5 challenge: %w: no Challenge header", cfg.Addr, ErrMalformed)
		}
		sum := md5.Sum([]byte(challenge + cfg.Secret))
		login.Add("AuthType", "MD5")
		login.Add("Username", cfg.Username)
		login.Add("Key", hex.EncodeToString(sum[:]))
	} else {
		login.Add("Username", cfg.Username)
		login.Add("Secret", cfg.Secret)
	}
	if cfg.Events != "" {
		login.Add("Events", cfg.Events)
	}
	resp, err := s.do(ctx, login, timeout, true)
	var ae *ActionError
	if errors.As(err, &ae) {
		return fmt.Errorf("%w: %s as %q: %s", ErrAuth, cfg.Addr, cfg.Username, ae.Message)
	}
	if err != nil {
		return fmt.Errorf("ami: %s: login: %w", cfg.Addr, err)
	}
	if !strings.EqualFold(resp.Response(), "Success") {
		return fmt.Errorf("%w: %s as %q: unexpected Response: %s", ErrAuth, cfg.Addr, cfg.Username, resp.Response())
	}
	return nil
}

// do writes action with a fresh ActionID and waits for its response, and
// for list actions for the list's end.
func (s *session) do(ctx context.Context, action *Message, timeout time.Duration, login bool) (*Response, error) {
	name := action.Get("Action")
	if name == "" {
		return nil, fmt.Errorf("%w: no Action header", ErrInvalidHeader)
	}
	id := s.c.nextID()
	msg := withActionID(action, id)
	wire, err := msg.AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("ami: %s: %w", name, err) // nothing written
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ami: %s not sent: %w", name, err)
	}
	cl := &call{action: name, login: login, done: make(chan struct{})}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("ami: %s not sent: %w: %w", name, ErrNotConnected, s.err)
	}
	s.pending[id] = cl // before writing: the response can beat Write's return
	s.mu.Unlock()

	s.wmu.Lock()
	err = s.nc.SetWriteDeadline(time.Now().Add(timeout))
	if err == nil {
		_, err = s.nc.Write(wire)
	}
	s.wmu.Unlock()
	if err != nil {
		// Part of the action may be out: the connection's framing is gone.
		s.kill(fmt.Errorf("writing %s: %w", name, err))
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-cl.done:
		return cl.result()
	case <-s.dead:
		select {
		case <-cl.done: // the response made it before the drop
			return cl.result()
		default:
		}
		return nil, fmt.Errorf("ami: %s: %w: %w", name, ErrConnLost, s.err)
	case <-timer.C:
	case <-ctx.Done():
	}
	s.abandon(id)
	switch err := ctx.Err(); { // the context's reason first, should both have expired
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("ami: %s: %w: %w", name, ErrTimeout, err)
	case err != nil:
		return nil, fmt.Errorf("ami: %s: sent, then %w", name, err)
	}
	return nil, fmt.Errorf("ami: %s: no response in %v: %w", name, timeout, ErrTimeout)
}

// result is what do returns for a call that is done.
func (cl *call) result() (*Response, error) {
	if cl.excess > 0 {
		return cl.resp, fmt.Errorf("%w: %s listed %d items, kept the first %d",
			ErrMessageTooLarge, cl.action, MaxListItems+cl.excess, MaxListItems)
	}
	return cl.resp, cl.resp.Err()
}

// withActionID returns a copy of action with its ActionID set to id, as the
// second header (where Asterisk echoes it too).
func withActionID(action *Message, id string) *Message {
	m := &Message{Headers: make([]Header, 0, len(action.Headers)+1)}
	for _, h := range action.Headers {
		if strings.EqualFold(h.Key, "ActionID") {
			continue
		}
		m.Headers = append(m.Headers, h)
		if len(m.Headers) == 1 {
			m.Headers = append(m.Headers, Header{"ActionID", id})
		}
	}
	return m
}

// abandon forgets a call whose caller gave up; a late response is logged.
func (s *session) abandon(id string) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// kill ends the session with err (the first error wins) and closes the
// connection, which ends readLoop. Waiting callers see dead.
func (s *session) kill(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	s.pending = nil
	s.mu.Unlock()
	s.nc.Close()
	close(s.dead)
}

// failure returns why the session died, or nil.
func (s *session) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// readLoop reads messages until the connection fails. A malformed or
// oversized message is logged and skipped: the Reader has resynced.
func (s *session) readLoop() {
	defer close(s.readerDone)
	for {
		m, err := s.r.ReadMessage()
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrMessageTooLarge) {
			s.c.log.Warn("ami: skipped a bad message", "err", err)
			continue
		}
		if err != nil {
			s.kill(fmt.Errorf("reading: %w", err))
			break
		}
		s.dispatch(m)
	}
	if s.announced {
		s.c.broadcast(NewMessage("Event", EventDisconnected, "Reason", oneLine(s.failure().Error())))
	}
}

// dispatch routes one message: a response to its caller, a list item to
// its list, any other event to the subscribers.
func (s *session) dispatch(m *Message) {
	id := m.ActionID()
	if _, ok := m.Lookup("Event"); ok {
		if id != "" && s.claimListEvent(id, m) {
			return
		}
		s.c.broadcast(m)
		return
	}
	if _, ok := m.Lookup("Response"); !ok {
		s.c.log.Warn("ami: ignored a message that is neither event nor response", "headers", len(m.Headers))
		return
	}
	s.mu.Lock()
	cl := s.pending[id]
	if cl == nil || cl.resp != nil {
		s.mu.Unlock()
		s.c.log.Warn("ami: response for no waiting action (timed out, or not ours)", "actionid", id, "response", m.Response())
		return
	}
	cl.resp = &Response{Message: m, action: cl.action}
	if strings.EqualFold(m.Get("EventList"), "start") && cl.resp.Err() == nil {
		cl.list = true
		s.mu.Unlock()
		return
	}
	delete(s.pending, id)
	s.mu.Unlock()
	if cl.login && cl.resp.Err() == nil {
		s.announced = true
		s.c.broadcast(NewMessage("Event", EventConnected, "Reconnects", strconv.FormatUint(s.reconnects, 10)))
	}
	close(cl.done)
}

// claimListEvent adds m to the list action id if one is running, and
// reports whether it did. Other events with an ActionID (OriginateResponse)
// go to the subscribers.
func (s *session) claimListEvent(id string, m *Message) bool {
	s.mu.Lock()
	cl := s.pending[id]
	if cl == nil || !cl.list {
		s.mu.Unlock()
		return false
	}
	if strings.EqualFold(m.Get("EventList"), "Complete") || strings.HasSuffix(m.Event(), "Complete") {
		cl.resp.Complete = m
		delete(s.pending, id)
		s.mu.Unlock()
		close(cl.done)
		return true
	}
	if len(cl.resp.Items) < MaxListItems {
		cl.resp.Items = append(cl.resp.Items, m)
	} else {
		cl.excess++
	}
	s.mu.Unlock()
	return true
}

// keepalive pings so that a dead peer or a silent network drop is noticed
// within PingInterval+ActionTimeout, not at the next Originate.
func (s *session) keepalive() {
	t := time.NewTicker(s.c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.dead:
			return
		case <-t.C:
			_, err := s.do(context.Background(), NewMessage("Action", "Ping"), s.c.cfg.ActionTimeout, false)
			if errors.Is(err, ErrTimeout) {
				s.kill(fmt.Errorf("keepalive: %w", err))
				return
			}
		}
	}
}

// oneLine makes an error text safe as a header value.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}
