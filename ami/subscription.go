package ami

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Synthetic events the client puts on every Subscription, in wire order
// with the real ones, so a consumer reading only its channel knows when its
// view of Asterisk has a hole and it must resync (e.g. CoreShowChannels).
// No Asterisk event has these names.
const (
	// EventConnected follows a successful login, before any event of that
	// connection. Header "Reconnects": 0 on the first connection, then the
	// number of reconnects so far. Events between the previous
	// EventDisconnected and this one were lost.
	EventConnected = "AMIConnected"
	// EventDisconnected follows the last event of a connection that
	// dropped. Header "Reason": why.
	EventDisconnected = "AMIDisconnected"
	// EventDropped comes where events were dropped because the subscriber's
	// buffer was full. Header "Dropped": how many since the previous notice.
	EventDropped = "AMIEventsDropped"
)

// DefaultSubscriptionBuffer is the buffer of Subscribe(0).
const DefaultSubscriptionBuffer = 16384

// A Subscription receives every event of the client's connection in wire
// order, except list items claimed by a Do, plus the synthetic events above.
// Every subscription gets the same *Message: treat it as read-only.
//
// Slow subscriber policy. When a subscription's buffer is full, the
// connection's reader waits for room, but for at most
// Config.SlowSubscriberWait in total per episode (an episode ends when the
// buffer is back to half full): a subscriber that keeps up on average
// rides out a scheduling hiccup without loss, while a stuck or slower one
// holds up the reader (and so every other subscriber and every response)
// only that long, not for good. After that its events are dropped and
// counted (Dropped); as soon as there is room again an EventDropped notice
// is delivered before the next event, so a gap is never silent.
type Subscription struct {
	c        *Client
	ch       chan *Message
	dropped  atomic.Uint64
	quit     chan struct{} // closed first by close: cuts short a wait for room
	quitOnce sync.Once

	mu     sync.Mutex // guards the fields below and sends on ch
	closed bool
	gap    uint64        // dropped since the last EventDropped delivered
	waited time.Duration // the reader's wait for room in this episode
}

// C returns the channel of events. It is closed by Close and Client.Close.
func (s *Subscription) C() <-chan *Message { return s.ch }

// Dropped returns how many events were dropped in total because the buffer
// was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery and closes the channel. It is idempotent.
func (s *Subscription) Close() {
	s.c.unsubscribe(s)
	s.close()
}

func (s *Subscription) close() {
	s.quitOnce.Do(func() { close(s.quit) })
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	s.mu.Unlock()
}

// deliver hands m to the subscriber without ever blocking.
func (s *Subscription) deliver(m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.gap > 0 {
		if !s.send(NewMessage("Event", EventDropped, "Dropped", strconv.FormatUint(s.gap, 10))) {
			s.drop()
			return
		}
		s.gap = 0
	}
	if !s.send(m) {
		s.drop()
	}
}

// send puts m in the buffer, waiting for room within what is left of the
// episode's budget.
func (s *Subscription) send(m *Message) bool {
	select {
	case s.ch <- m:
		if len(s.ch) <= cap(s.ch)/2 {
			s.waited = 0 // caught up: a new episode may wait again
		}
		return true
	default:
	}
	budget := s.c.cfg.SlowSubscriberWait - s.waited
	if budget <= 0 {
		return false
	}
	start := time.Now()
	t := time.NewTimer(budget)
	defer t.Stop()
	select {
	case s.ch <- m:
		s.waited += time.Since(start)
		return true
	case <-t.C:
		s.waited = s.c.cfg.SlowSubscriberWait
		return false
	case <-s.quit:
		return false
	}
}

func (s *Subscription) drop() {
	s.gap++
	s.dropped.Add(1)
}

// Subscribe returns a new subscription with room for buffer events
// (DefaultSubscriptionBuffer if buffer <= 0). After Close it returns a
// subscription whose channel is already closed.
func (c *Client) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultSubscriptionBuffer
	}
	s := &Subscription{c: c, ch: make(chan *Message, buffer), quit: make(chan struct{})}
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if c.subsClosed {
		s.close()
		return s
	}
	// Copy on write: the reader loads the list without a lock per event.
	old := c.loadSubs()
	subs := make([]*Subscription, len(old), len(old)+1)
	copy(subs, old)
	subs = append(subs, s)
	c.subs.Store(&subs)
	return s
}

func (c *Client) unsubscribe(s *Subscription) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	old := c.loadSubs()
	subs := make([]*Subscription, 0, len(old))
	for _, o := range old {
		if o != s {
			subs = append(subs, o)
		}
	}
	c.subs.Store(&subs)
}

func (c *Client) loadSubs() []*Subscription {
	if p := c.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// broadcast hands m to every subscription.
func (c *Client) broadcast(m *Message) {
	for _, s := range c.loadSubs() {
		s.deliver(m)
	}
}

// closeSubs closes every subscription for good (Client.Close).
func (c *Client) closeSubs() {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.subsClosed = true
	for _, s := range c.loadSubs() {
		s.close()
	}
	c.subs.Store(nil)
}
