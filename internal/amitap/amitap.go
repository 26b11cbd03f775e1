// Package amitap is a TCP proxy in front of an AMI server that counts the
// Originate actions its clients send: the cluster tests and bench/cluster
// check with it that no call is originated twice, whatever instance sends it.
package amitap

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync/atomic"
)

// Tap forwards every connection to the AMI server and counts Originates.
type Tap struct {
	ln net.Listener
	n  atomic.Int64
}

// New listens on a loopback port and forwards to target (host:port).
func New(target string) (*Tap, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &Tap{ln: ln}
	go t.serve(target)
	return t, nil
}

// Addr is where AMI clients connect instead of the server.
func (t *Tap) Addr() string { return t.ln.Addr().String() }

// Originates is how many Originate actions went through.
func (t *Tap) Originates() int { return int(t.n.Load()) }

// Close stops accepting connections (open ones end with their peers).
func (t *Tap) Close() error { return t.ln.Close() }

func (t *Tap) serve(target string) {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		go func() { io.Copy(c, s); c.Close() }()
		go t.forward(c, s)
	}
}

// forward copies the client's lines to the server, counting Originates.
func (t *Tap) forward(c, s net.Conn) {
	defer s.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if bytes.EqualFold(bytes.TrimSpace(line), []byte("Action: Originate")) {
			t.n.Add(1)
		}
		if _, werr := s.Write(line); err != nil || werr != nil {
			return
		}
	}
}
