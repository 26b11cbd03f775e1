package ami

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config says where and how a Client connects.
type Config struct {
	Addr             string      // host:port, e.g. "127.0.0.1:5038"
	TLS              *tls.Config // nil = plain TCP
	Username, Secret string
	AuthMD5          bool   // Challenge/MD5 login: the secret never crosses the wire
	Events           string // Login "Events:" value, e.g. "call,cdr,user" or "on"/"off"; "" = not sent (Asterisk's default: on)

	// Zero values take the defaults: 5s, 10s, 20s. PingInterval < 0
	// turns the keepalive Ping off. DialTimeout bounds the TCP (and TLS)
	// connect and the wait for the banner; the login exchange may take
	// the larger of DialTimeout and ActionTimeout, as Asterisk answers a
	// wrong secret only after a second.
	DialTimeout, ActionTimeout, PingInterval time.Duration
	// Delay before reconnect attempt n is ReconnectMin*2^n capped at
	// ReconnectMax, less up to half of it at random (so a fleet of
	// clients does not come back in step). Defaults 500ms, 30s.
	ReconnectMin, ReconnectMax time.Duration

	// SlowSubscriberWait is how long the reader may wait for a full
	// Subscription per episode before dropping its events (see
	// Subscription). Default 100ms; < 0 never waits.
	SlowSubscriberWait time.Duration

	Logger *slog.Logger // nil = no logs
}

func (cfg *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration, negativeMeansOff bool) {
		if *d == 0 || (*d < 0 && !negativeMeansOff) {
			*d = v
		}
	}
	def(&cfg.DialTimeout, 5*time.Second, false)
	def(&cfg.ActionTimeout, 10*time.Second, false)
	def(&cfg.PingInterval, 20*time.Second, true)
	def(&cfg.ReconnectMin, 500*time.Millisecond, false)
	def(&cfg.ReconnectMax, 30*time.Second, false)
	def(&cfg.SlowSubscriberWait, 100*time.Millisecond, true)
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

// ConnState is the state of a Client's connection.
type ConnState int

const (
	Disconnected ConnState = iota
	Connecting             // dialling or logging in
	Connected              // logged in
)

func (s ConnState) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	}
	return "ConnState(" + strconv.Itoa(int(s)) + ")"
}

// StateChange is one transition of the connection, seen through Watch.
type StateChange struct {
	State      ConnState
	Err        error  // why it is Disconnected (ErrClosed after Close), else nil
	Reconnects uint64 // successful reconnects so far: when it grows, resync
}

// Client is one long-lived AMI connection shared by many goroutines. It
// reconnects (and logs in again) by itself until Close, but never re-sends
// an action: a re-sent Originate rings a person twice.
type Client struct {
	cfg      Config
	log      *slog.Logger
	idPrefix string
	idSeq    atomic.Uint64

	ctx    context.Context // cancelled by Close: aborts dials and backoff waits
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	mu         sync.Mutex
	sess       *session // current session, nil while disconnected
	state      ConnState
	stateErr   error // StateChange.Err of the current state
	reconnects uint64
	closed     bool
	connecting bool // Connect is running
	running    bool // run started: Close must wait for done
	watchers   map[chan StateChange]struct{}

	subMu      sync.Mutex
	subs       atomic.Pointer[[]*Subscription]
	subsClosed bool
}

// Dial connects and logs in once (an error, e.g. ErrAuth, if that fails),
// then keeps the connection alive and reconnects in the background until
// Close. ctx bounds this first connection only. It is New plus Connect.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c := New(cfg)
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// New returns a client that is not connected yet, so that subscriptions
// made before Connect see every event from the first login on.
func New(cfg Config) *Client {
	cfg.setDefaults()
	var rnd [4]byte
	_, _ = crand.Read(rnd[:]) // never fails since Go 1.24
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger.With("addr", cfg.Addr),
		idPrefix: "ami-" + hex.EncodeToString(rnd[:]) + "-",
		done:     make(chan struct{}),
		watchers: make(map[chan StateChange]struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Connect connects and logs in once; on success the client stays
// connected in the background until Close. After a failure it may be
// called again. ctx bounds this first connection only.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.connecting || c.running:
		c.mu.Unlock()
		return errors.New("ami: Connect called twice")
	}
	c.connecting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.connecting = false
		c.mu.Unlock()
	}()

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(c.ctx, stop)() // Close aborts it
	c.setState(nil, Connecting, nil)
	s, err := c.connect(ctx, 0)
	if err != nil {
		c.setState(nil, Disconnected, err)
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.kill(ErrClosed)
		return ErrClosed
	}
	c.running = true // from here on run owns done, and Close waits for it
	c.mu.Unlock()
	c.setState(s, Connected, nil)
	go c.run(s)
	return nil
}

// nextID returns a fresh ActionID, unique across this client's
// connections and (by its random prefix) across clients on one Asterisk.
func (c *Client) nextID() string {
	return c.idPrefix + strconv.FormatUint(c.idSeq.Add(1), 10)
}

// Do sends action with a fresh ActionID (replacing any) in one write and
// waits for its response; for a list action (EventList: start) it also
// waits for the closing ...Complete event and returns the items. The wait
// ends at ctx's deadline or Config.ActionTimeout, whichever is first.
//
// A "Response: Error" returns the Response and its *ActionError. Other
// errors: ErrNotConnected (nothing sent), ErrConnLost (sent, connection
// dropped before the answer), ErrTimeout (sent, no answer in time),
// ErrClosed, ErrInvalidHeader (nothing sent). Do never re-sends.
func (c *Client) Do(ctx context.Context, action *Message) (*Response, error) {
	c.mu.Lock()
	s, closed := c.sess, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case s == nil:
		return nil, fmt.Errorf("ami: %s not sent: %w", action.Get("Action"), ErrNotConnected)
	}
	return s.do(ctx, action, c.cfg.ActionTimeout, false)
}

// State returns the connection's current state.
func (c *Client) State() ConnState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Watch returns a channel of state changes, starting with the current
// state, and a function to stop watching. A watcher that lags keeps only
// the newest changes (the channel holds 16); Reconnects still tells it how
// many reconnects happened. The channel is closed by stop or Close.
func (c *Client) Watch() (<-chan StateChange, func()) {
	ch := make(chan StateChange, 16)
	c.mu.Lock()
	defer c.mu.Unlock()
	ch <- StateChange{State: c.state, Err: c.stateErr, Reconnects: c.reconnects}
	if c.closed {
		close(ch)
		return ch, func() {}
	}
	c.watchers[ch] = struct{}{}
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.watchers[ch]; ok {
			delete(c.watchers, ch)
			close(ch)
		}
	}
}

// setState records a transition and tells the watchers. s is the session
// to use from now on (nil unless Connected).
func (c *Client) setState(s *session, st ConnState, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess, c.state, c.stateErr = s, st, err
	sc := StateChange{State: st, Err: err, Reconnects: c.reconnects}
	for ch := range c.watchers {
		for sent := false; !sent; {
			select {
			case ch <- sc:
				sent = true
			default:
				select { // full: drop the oldest change
				case <-ch:
				default:
				}
			}
		}
	}
}

// run keeps the client connected: after each drop it waits a jittered,
// growing delay and connects again, until Close.
func (c *Client) run(s *session) {
	defer close(c.done)
	attempt := 0
	for {
		select {
		case <-s.dead:
		case <-c.ctx.Done():
			s.kill(ErrClosed)
		}
		<-s.readerDone // EventDisconnected is out before any new event
		if c.isClosed() {
			return // Close's Logoff ended it: no reconnect, no "lost" noise
		}
		err := s.failure()
		c.log.Warn("ami: connection lost", "err", err)
		c.setState(nil, Disconnected, err)
		if time.Since(s.started) >= c.cfg.ReconnectMax {
			attempt = 0 // a connection that lived long resets the backoff; a flapping one does not
		}
		for s = nil; s == nil; attempt++ {
			select {
			case <-time.After(c.backoff(attempt)):
			case <-c.ctx.Done():
				return
			}
			c.setState(nil, Connecting, nil)
			c.mu.Lock()
			next := c.reconnects + 1
			c.mu.Unlock()
			if s, err = c.connect(c.ctx, next); err != nil {
				c.log.Warn("ami: reconnect failed", "attempt", attempt+1, "err", err)
				c.setState(nil, Disconnected, err)
			}
		}
		c.mu.Lock()
		c.reconnects++
		c.mu.Unlock()
		c.setState(s, Connected, nil)
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// backoff is the delay before reconnect attempt n (0-based).
func (c *Client) backoff(n int) time.Duration {
	d, limit := c.cfg.ReconnectMin, c.cfg.ReconnectMax
	for ; n > 0 && d < limit; n-- {
		if d > limit/2 {
			d = limit // doubling would pass the cap (or overflow)
			break
		}
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

// Close logs off (briefly waiting for Asterisk's Goodbye), closes the
// connection, stops reconnecting, fails the actions in flight with
// ErrConnLost and ErrClosed, and closes every Subscription and Watch
// channel. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s, running := c.sess, c.running
	c.mu.Unlock()
	if s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = s.do(ctx, NewMessage("Action", "Logoff"), time.Second, false)
		cancel()
	}
	c.cancel()
	if running {
		<-c.done
	}
	c.setState(nil, Disconnected, ErrClosed)
	c.mu.Lock()
	for ch := range c.watchers {
		delete(c.watchers, ch)
		close(ch)
	}
	c.mu.Unlock()
	c.closeSubs()
	return nil
}
