package sandbox

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"webcallback/ami"
)

// Limits that keep a hostile or stuck client from costing more than a
// bounded amount of memory and goroutines.
const (
	// defaultAuthTimeout closes a connection that has not logged in
	// (manager.conf authtimeout, default 30 s).
	defaultAuthTimeout = 30 * time.Second
	// defaultAuthLimit is manager.conf's authlimit: at most this many
	// sessions may wait for their login at once.
	defaultAuthLimit = 50
	// authFailDelay is Asterisk's sleep(1) before "Authentication failed",
	// in simulated time (so tests at a small time scale stay fast).
	authFailDelay = time.Second
	// defaultMaxQueued bounds the bytes waiting for a slow client; beyond
	// it the client is disconnected, like Asterisk drops a client that
	// stops reading.
	defaultMaxQueued = 16 << 20
	// writeTimeout bounds one write to a client.
	writeTimeout = 30 * time.Second
)

// eventClass is one AMI event class (manager.conf read=...).
type eventClass uint32

const (
	classSystem eventClass = 1 << iota
	classCall
	classLog
	classVerbose
	classCommand
	classAgent
	classUser
	classConfig
	classDTMF
	classReporting
	classCDR
	classDialplan
	classOriginate
	classAgi
	classCC
	classAOC
	classTest
	classSecurity
	classMessage
	classAll = 1<<iota - 1
)

var classNames = []string{"system", "call", "log", "verbose", "command", "agent", "user", "config",
	"dtmf", "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message"}

// privilege is the Privilege header of an event of class c ("call,all").
func (c eventClass) privilege() string {
	for i, n := range classNames {
		if c == 1<<i {
			return n + ",all"
		}
	}
	return "all"
}

// parseEventMask reads a Login "Events:" or Events "EventMask:" value as
// Asterisk's strings_to_mask does: on/yes/true = everything, off/no/false =
// nothing, a number is a bit mask, otherwise a comma list of class names
// ("call,cdr,user"); unknown names are ignored.
func parseEventMask(v string) eventClass {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "on", "yes", "true", "y", "t", "1":
		return classAll
	case "off", "no", "false", "n", "f", "0", "":
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return eventClass(n) & classAll
	}
	var m eventClass
	for _, name := range strings.Split(v, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "all" {
			return classAll
		}
		for i, n := range classNames {
			if n == name {
				m |= 1 << i
			}
		}
	}
	return m
}

// conn is one manager session.
type conn struct {
	s   *Server
	nc  net.Conn
	log *slog.Logger
	out outQueue

	// Read by the dispatcher without s.mu.
	authed atomic.Bool
	mask   atomic.Uint32 // eventClass

	challenge string      // set by Challenge; only the session goroutine uses it
	fin       atomic.Bool // the PBX stops (Server.StopNow): FIN after the last queued byte
	closeOnce sync.Once
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, log: s.log.With("remote", nc.RemoteAddr().String())}
	c.out.cond = sync.NewCond(&c.out.mu)
	c.out.max = s.maxQueued
	return c
}

// close closes the socket now; queued output is lost.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.out.shut()
		c.nc.Close()
	})
}

// sendEvent queues an encoded event if the session wants its class.
func (c *conn) sendEvent(class eventClass, b []byte) {
	if !c.authed.Load() || eventClass(c.mask.Load())&class == 0 {
		return
	}
	if !c.out.push(b) {
		c.log.Warn("sandbox: AMI client too slow, disconnecting", "queued_bytes", c.out.max)
		go c.close()
	}
}

// reply queues a response to the session's own action, in the server's
// output order (after every event queued before it).
func (c *conn) reply(m *ami.Message) {
	c.s.mu.Lock()
	c.replyLocked(m)
	c.s.mu.Unlock()
}

// replyLocked is reply for a caller that holds s.mu.
func (c *conn) replyLocked(m *ami.Message) {
	c.s.enqueueLocked(outItem{conn: c, m: m})
}

// control queues a pause, resume or finish of the session's output.
func (c *conn) control(ctl outCtl, m *ami.Message) {
	c.s.mu.Lock()
	c.s.enqueueLocked(outItem{conn: c, ctl: ctl, m: m})
	c.s.mu.Unlock()
}

// serve runs the session: banner, then one action at a time, as Asterisk's
// session thread does (a synchronous Originate blocks the session).
func (c *conn) serve() {
	defer c.s.sessions.Done()
	defer c.s.removeConn(c)
	defer c.close()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.out.push([]byte(Banner + "\r\n"))
	r := ami.NewReader(c.nc)
	for {
		if c.authed.Load() {
			c.nc.SetReadDeadline(time.Time{})
		} else {
			c.nc.SetReadDeadline(time.Now().Add(c.s.authTimeout))
		}
		m, err := r.ReadMessage()
		if err != nil {
			if errors.Is(err, ami.ErrMalformed) || errors.Is(err, ami.ErrMessageTooLarge) {
				// The Reader skipped the bad message; Asterisk answers a
				// message without a usable Action header like this.
				c.reply(response("Error", "", "Message", "Missing action in request"))
				continue
			}
			c.out.finish()
			<-writerDone
			return
		}
		if !c.handle(m) {
			c.control(ctlFinish, nil) // flush the last response (Goodbye, Authentication failed), then close
			<-writerDone
			c.lingerClose()
			return
		}
	}
}

// lingerClose ends the session after its last response: FIN first, then a
// short drain of what the client still sends, so that unread input does not
// turn the close into a reset that could destroy the response in flight.
func (c *conn) lingerClose() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(tc, 1<<20))
	}
	c.close()
}

// writeLoop writes queued output, batching what has accumulated into one
// write (never splitting a message across writes it could share).
func (c *conn) writeLoop() {
	var buf []byte
	for {
		batch, ok := c.out.take(buf[:0])
		if len(batch) > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := c.nc.Write(batch); err != nil {
				c.close()
				return
			}
		}
		if !ok {
			if tc, isTCP := c.nc.(*net.TCPConn); isTCP && c.fin.Load() {
				tc.CloseWrite() // a stopping Asterisk closes the session
			}
			return
		}
		if cap(batch) <= 1<<20 {
			buf = batch
		} else {
			buf = nil
		}
	}
}

// outQueue is a connection's bounded output queue.
type outQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	items    [][]byte
	spare    [][]byte // the other half of a double buffer for take
	bytes    int
	max      int  // bound of bytes
	paused   bool // a synchronous action is running: hold events back
	finished bool // write what is queued, then close
	shutdown bool // close now
}

// push appends b; false means the queue is over its bound (b is dropped).
func (q *outQueue) push(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown || q.finished {
		return true
	}
	if q.bytes+len(b) > q.max {
		return false
	}
	q.items = append(q.items, b)
	q.bytes += len(b)
	q.cond.Signal()
	return true
}

// pause holds back output until resume.
func (q *outQueue) pause() {
	q.mu.Lock()
	q.paused = true
	q.mu.Unlock()
}

// resume puts first ahead of everything queued while paused and releases
// the queue: Asterisk writes a synchronous action's response before the
// events that happened while it ran (fixture sync-originate-busy).
func (q *outQueue) resume(first []byte) {
	q.mu.Lock()
	q.items = append([][]byte{first}, q.items...)
	q.bytes += len(first)
	q.paused = false
	q.cond.Signal()
	q.mu.Unlock()
}

func (q *outQueue) finish() {
	q.mu.Lock()
	q.finished = true
	q.paused = false
	q.cond.Signal()
	q.mu.Unlock()
}

func (q *outQueue) shut() {
	q.mu.Lock()
	q.shutdown = true
	q.cond.Signal()
	q.mu.Unlock()
}

// take waits for output and appends all of it to buf. ok is false when
// the connection is to be closed after writing the returned batch. The
// queue is swapped out under the lock and copied outside it, so pushers
// (who hold Server.mu) never wait for a big copy.
func (q *outQueue) take(buf []byte) (batch []byte, ok bool) {
	q.mu.Lock()
	for !q.shutdown && !q.finished && (len(q.items) == 0 || q.paused) {
		q.cond.Wait()
	}
	if q.shutdown {
		q.mu.Unlock()
		return buf, false
	}
	items := q.items
	q.items, q.spare = q.spare[:0], nil
	q.bytes = 0
	ok = !q.finished
	q.mu.Unlock()
	for _, it := range items {
		buf = append(buf, it...)
	}
	clear(items)
	q.mu.Lock()
	if q.spare == nil && cap(items) <= 4096 {
		q.spare = items[:0]
	}
	q.mu.Unlock()
	return buf, ok
}

// response builds "Response: <status>", the action's ActionID if any, then
// the given headers, as astman_send_response does.
func response(status, actionID string, kv ...string) *ami.Message {
	m := &ami.Message{Headers: make([]ami.Header, 0, 2+len(kv)/2)}
	m.Add("Response", status)
	if actionID != "" {
		m.Add("ActionID", actionID)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	return m
}

// login handles Login. It returns false to close the connection.
func (c *conn) login(m *ami.Message) bool {
	id := m.ActionID()
	if c.authed.Load() {
		c.reply(response("Success", id, "Message", "Already authenticated"))
		return true
	}
	if !c.authenticate(m) {
		c.log.Info("sandbox: AMI login failed", "user", m.Get("Username"))
		select {
		case <-time.After(c.s.clock.Real(authFailDelay)):
		case <-c.s.done:
		}
		c.reply(response("Error", id, "Message", "Authentication failed"))
		return false
	}
	mask := eventClass(classAll)
	if ev, ok := m.Lookup("Events"); ok {
		mask = parseEventMask(ev)
	}
	c.s.mu.Lock()
	c.mask.Store(uint32(mask))
	c.authed.Store(true)
	c.s.updateWantLocked()
	// Reply and FullyBooted are queued under s.mu so no call event can
	// slip between them (Asterisk appends FullyBooted right after the ack,
	// and only to sessions that take system events).
	c.replyLocked(response("Success", id, "Message", "Authentication accepted"))
	if mask&classSystem != 0 {
		up := strconv.FormatInt(int64(time.Since(c.s.clock.start)/time.Second), 10)
		c.replyLocked(ami.NewMessage("Event", "FullyBooted", "Privilege", classSystem.privilege(),
			"Uptime", up, "LastReload", up, "Status", "Fully Booted"))
	}
	c.s.mu.Unlock()
	c.log.Info("sandbox: AMI login", "user", m.Get("Username"))
	return true
}

// authenticate checks Username with Secret, or with Key for AuthType MD5
// (md5hex(challenge + secret) of a challenge this session asked for).
func (c *conn) authenticate(m *ami.Message) bool {
	cfg := c.s.cfg
	if cfg.Username == "" || !strings.EqualFold(m.Get("Username"), cfg.Username) {
		return false
	}
	if strings.EqualFold(m.Get("AuthType"), "MD5") {
		if c.challenge == "" {
			return false
		}
		sum := md5.Sum([]byte(c.challenge + cfg.Secret))
		want := hex.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(strings.ToLower(m.Get("Key"))), []byte(want)) == 1
	}
	return subtle.ConstantTimeCompare([]byte(m.Get("Secret")), []byte(cfg.Secret)) == 1
}
