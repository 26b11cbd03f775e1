package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"
	"webcallback/internal/wcbproto"

	"webcallback/ami"
)

// Config configures a sandbox PBX.
type Config struct {
	// Username and Secret are the one AMI account (manager.conf). An empty
	// Username accepts none: every Login fails.
	Username, Secret string
	// TimeScale is wall-clock seconds per simulated second: 1 is real
	// time, 0.01 runs a 300 s call in 3 s. 0 means 1.
	TimeScale float64
	// Seed makes a run reproducible (MD5 challenges, bridge ids, which of
	// the orders real Asterisk produces is used where it varies).
	Seed int64
	// Trunk is the PJSIP endpoint the calls go out on; default "gateway".
	Trunk string
	// MaxChannels is the trunk's capacity in simultaneous channels (both
	// legs count); a call beyond it fails with 503 (cause 34, CONGESTION).
	// 0 = unlimited.
	MaxChannels int
	// MaxCallsPerSecond limits new outgoing channels per simulated second
	// (a carrier's call-rate limit); one beyond it fails like capacity.
	// 0 = unlimited.
	MaxCallsPerSecond float64
	// Logger receives connection and call logs; nil discards them.
	Logger *slog.Logger
	// CDRSink, when set, is the PBX's database CDR backend (Asterisk's
	// cdr_adaptive_odbc or cdr_pgsql with the kit's settings): it receives
	// every CDR row as the caller leg ends, whether or not an AMI client is
	// connected. It is called with the server's lock held and must not
	// block (queue the row; see internal/pbxcdr).
	CDRSink func(CDRRecord)
}

// DefaultTrunk is the trunk name when Config.Trunk is empty.
const DefaultTrunk = wcbproto.DefaultTrunk

// Banner is the first line Asterisk 20/22 sends on a manager connection.
const Banner = "Asterisk Call Manager/11.0.0"

// ErrServerClosed is returned by Serve and ListenAndServe after Close.
var ErrServerClosed = errors.New("sandbox: server closed")

// Server is a sandbox PBX. It is safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	clock *clock
	done  chan struct{} // closed by Close
	// stopNow is closed by StopNow ("core stop now"): every call hangs up
	// its channels as a stopping Asterisk does.
	stopNow  chan struct{}
	stopOnce sync.Once

	cdrSeq int // Asterisk's CDR sequence counter (under mu)

	// mu guards everything below and orders every event: an event is built
	// and queued to each connection under mu, so all connections see one
	// global order, as from one Asterisk.
	mu        sync.Mutex
	closed    bool
	stopping  bool // StopNow runs: no new calls
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	rng       *rand.Rand
	chans     map[string]*channel // by name
	byID      map[string]*channel // by Uniqueid
	chanSeq   int                 // PJSIP/<trunk>-%08x counter
	idSeq     int                 // the ".N" of generated Uniqueids
	devState  string              // DeviceState of PJSIP/<trunk>
	nUp       int                 // channels Up; the others are ringing or dialling
	// wantMask is the union of the logged-in sessions' event classes: an
	// event nobody takes is not even built.
	wantMask  eventClass
	processed int // calls processed (core show channels)
	rate      tokenBucket
	calls     sync.WaitGroup
	sessions  sync.WaitGroup // conn.serve goroutines

	// pending is every output (events and responses) in the one order
	// all connections see; dispatch encodes and delivers it outside mu,
	// so a call holds mu only to change state and append here.
	pending []outItem
	kick    chan struct{} // wakes dispatch; capacity 1

	// Limits, variables only so tests can make them small.
	authTimeout time.Duration
	authLimit   int
	maxQueued   int
	stopped     chan struct{} // closed when dispatch returns
}

// outItem is one queued output: an event for every interested session, or
// a response or control for one session.
type outItem struct {
	conn  *conn // nil: an event for every session whose mask has class
	class eventClass
	m     *ami.Message
	ctl   outCtl
}

type outCtl int

const (
	ctlNone   outCtl = iota
	ctlPause         // hold the session's output (a synchronous action runs)
	ctlResume        // m first, then what was held
	ctlFinish        // close the session after what is queued
)

// New returns a sandbox PBX; call Serve or ListenAndServe to run it.
func New(cfg Config) *Server {
	if cfg.Trunk == "" {
		cfg.Trunk = DefaultTrunk
	}
	if !(cfg.TimeScale > 0) {
		cfg.TimeScale = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seed := uint64(cfg.Seed)
	s := &Server{
		cfg:       cfg,
		log:       log.With("component", "sandbox"),
		clock:     newClock(cfg.TimeScale),
		done:      make(chan struct{}),
		stopNow:   make(chan struct{}),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		chans:     map[string]*channel{},
		byID:      map[string]*channel{},
		devState:  "NOT_INUSE",
	}
	s.rate = tokenBucket{rate: cfg.MaxCallsPerSecond}
	s.kick = make(chan struct{}, 1)
	s.authTimeout, s.authLimit, s.maxQueued = defaultAuthTimeout, defaultAuthLimit, defaultMaxQueued
	s.stopped = make(chan struct{})
	go s.dispatch()
	return s
}

// ListenAndServe listens on the TCP address addr and serves it.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Serve accepts AMI connections on l until Close; it then returns
// ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	s.log.Info("sandbox PBX listening", "addr", l.Addr().String(), "trunk", s.cfg.Trunk,
		"time_scale", s.cfg.TimeScale, "max_channels", s.cfg.MaxChannels, "max_cps", s.cfg.MaxCallsPerSecond)
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			select {
			case <-s.done:
				return ErrServerClosed
			case <-s.stopNow:
				<-s.done // StopNow closes the server once its calls are gone
				return ErrServerClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("sandbox: accept: %w", err)
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if s.unauthLocked() >= s.authLimit {
			// manager.conf authlimit: a flood of connections that never
			// log in cannot pile up.
			s.mu.Unlock()
			s.log.Warn("sandbox: too many unauthenticated AMI connections, refusing one", "remote", nc.RemoteAddr().String(), "authlimit", s.authLimit)
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.sessions.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Close stops the server: it closes the listeners and every connection and
// ends the simulated calls (a PBX shutting down hangs up its channels, but
// nobody is left to hear the events). It returns when every goroutine of
// the server has ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.calls.Wait()
	s.sessions.Wait()
	<-s.stopped
	return nil
}

// StopNow is Asterisk's "core stop now" (restart: "core restart now"),
// in the order a real Asterisk 22 shows it (fixture kit-pbx-shutdown):
// every channel is hung up, cause 16, with its calls' events and CDR rows
// (the database backend's too, so they outlive the stop); then the
// Shutdown event (system class, sent only after the channels are gone);
// then every AMI session is closed. It returns when the server is closed,
// so a standalone sandbox exits as Asterisk's process does.
func (s *Server) StopNow(restart bool) error {
	s.mu.Lock()
	if s.closed || s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	s.stopOnce.Do(func() { close(s.stopNow) })
	for l := range s.listeners {
		l.Close() // Asterisk takes no new manager sessions while it stops
	}
	s.mu.Unlock()
	s.calls.Wait()
	s.mu.Lock()
	restarting := "False"
	if restart {
		restarting = "True"
	}
	s.emitLocked(classSystem, ami.NewMessage("Event", "Shutdown", "Privilege", classSystem.privilege(),
		"Shutdown", "Cleanly", "Restart", restarting))
	for c := range s.conns {
		c.fin.Store(true)
		s.enqueueLocked(outItem{conn: c, ctl: ctlFinish}) // what is queued, then FIN
	}
	s.mu.Unlock()
	s.log.Info("sandbox PBX stopped (core stop now)", "restart", restart)
	// Clients close their side on the FIN; one that does not is cut.
	gone := make(chan struct{})
	go func() { s.sessions.Wait(); close(gone) }()
	select {
	case <-gone:
	case <-time.After(2 * time.Second):
	}
	return s.Close()
}

// removeConn forgets a finished connection.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.updateWantLocked()
	s.mu.Unlock()
}

// updateWantLocked recomputes wantMask after a login, an Events action or
// a session's end.
func (s *Server) updateWantLocked() {
	var m eventClass
	for c := range s.conns {
		if c.authed.Load() {
			m |= eventClass(c.mask.Load())
		}
	}
	s.wantMask = m
}

// unauthLocked counts the sessions that have not logged in.
func (s *Server) unauthLocked() int {
	n := 0
	for c := range s.conns {
		if !c.authed.Load() {
			n++
		}
	}
	return n
}

// wantsLocked reports whether any session takes events of class.
func (s *Server) wantsLocked(class eventClass) bool { return s.wantMask&class != 0 }

// emitLocked queues an event for every logged-in session whose event mask
// includes class. The caller holds s.mu; m must not change afterwards.
func (s *Server) emitLocked(class eventClass, m *ami.Message) {
	if s.wantMask&class == 0 {
		return
	}
	s.enqueueLocked(outItem{class: class, m: m})
}

// enqueueLocked appends to the output order and wakes the dispatcher.
func (s *Server) enqueueLocked(it outItem) {
	s.pending = append(s.pending, it)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// dispatch delivers queued output in order until Close.
func (s *Server) dispatch() {
	defer close(s.stopped)
	var batch []outItem
	var conns []*conn
	for {
		select {
		case <-s.kick:
		case <-s.done:
			return
		}
		s.mu.Lock()
		batch, s.pending = s.pending, batch[:0]
		conns = conns[:0]
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, it := range batch {
			s.deliver(it, conns)
		}
		clear(batch)
	}
}

func (s *Server) deliver(it outItem, conns []*conn) {
	var b []byte
	if it.m != nil {
		var err error
		if b, err = it.m.AppendTo(nil); err != nil {
			// Every value the sandbox writes comes from validated input
			// or from itself: a bad header is a bug, never sent half-written.
			s.log.Error("sandbox: dropping unencodable message", "event", it.m.Event(), "err", err)
			b = []byte("Response: Error\r\nMessage: Internal error\r\n\r\n")
			if it.conn == nil {
				return
			}
		}
	}
	if it.conn == nil {
		for _, c := range conns {
			c.sendEvent(it.class, b)
		}
		return
	}
	c := it.conn
	switch it.ctl {
	case ctlPause:
		c.out.pause()
	case ctlResume:
		c.out.resume(b)
	case ctlFinish:
		c.out.finish()
	default:
		if !c.out.push(b) {
			go c.close()
		}
	}
}

// tokenBucket limits new channels per simulated second.
type tokenBucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

// allow takes one token at simulated time now. The bucket holds at most
// max(1, rate) tokens, so a burst is no larger than one second's worth.
func (b *tokenBucket) allow(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	burst := max(1, b.rate)
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
