package testenv

import (
	"net"
	"testing"
	"time"
)

// HeldPort keeps a loopback port while its server is down: see HoldPort.
type HeldPort struct {
	l       *net.TCPListener
	down    chan struct{}
	refused chan struct{}
}

// HoldPort listens on addr (a server's, just closed; or 127.0.0.1:0: a
// new port whose server is down from the start) and hangs up on whoever
// connects before any byte, as a host with nothing serving would, until
// Release. Tests that take a server down and bring it back on the same
// address hold its port meanwhile, rather than leave it free (FreeAddr):
// another socket of the machine (a parallel test's) could take it, and
// the server could not come back, or something else would answer there.
func HoldPort(tb testing.TB, addr string) *HeldPort {
	tb.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("holding %s while its server is down: %v", addr, err)
	}
	h := &HeldPort{l: l.(*net.TCPListener), down: make(chan struct{}), refused: make(chan struct{})}
	go h.refuse()
	tb.Cleanup(func() {
		select {
		case <-h.down: // released: the listener is the next server's
		default:
			close(h.down)
			<-h.refused
			l.Close()
		}
	})
	return h
}

// refuse accepts with a short deadline, to look at down between
// connections, so that no Accept is pending once it returns.
func (h *HeldPort) refuse() {
	defer close(h.refused)
	defer h.l.SetDeadline(time.Time{})
	for {
		select {
		case <-h.down:
			return
		default:
		}
		h.l.SetDeadline(time.Now().Add(20 * time.Millisecond))
		if c, err := h.l.Accept(); err == nil {
			c.Close()
		}
	}
}

// Release stops hanging up and returns the listener, open, for the
// server that comes back (which closes it). Call it once.
func (h *HeldPort) Release() net.Listener {
	close(h.down)
	<-h.refused
	return h.l
}

// Addr is the held address (host:port), also when HoldPort was given
// port 0 (a new port, down from the start).
func (h *HeldPort) Addr() string { return h.l.Addr().String() }
