package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// amiProxy sits between the service and the sandbox PBX: dropping its
// connections is an AMI connection drop as the service sees one (a TCP
// close mid-stream), and reading what the service sends counts its
// Originates per ChannelId (the request id): a request originated twice is
// a call rung twice.
type amiProxy struct {
	l      net.Listener
	target string

	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	upSince    time.Time // when the current link was made (zero: none)
	originates map[string]int
	closed     bool
	wg         sync.WaitGroup
}

func newAMIProxy(target string) (*amiProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &amiProxy{l: l, target: target, conns: map[net.Conn]struct{}{}, originates: map[string]int{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *amiProxy) Addr() string { return p.l.Addr().String() }

func (p *amiProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil { // the PBX is down (restarting): the service retries
			c.Close()
			continue
		}
		if !p.track(c, up) {
			c.Close()
			up.Close()
			return
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			p.countOriginates(io.TeeReader(c, upWriter{up}))
			p.drop(c, up)
		}()
		go func() {
			defer p.wg.Done()
			io.Copy(c, up)
			p.drop(c, up)
		}()
	}
}

// upWriter hides ReadFrom, so TeeReader's writes go straight through.
type upWriter struct{ w io.Writer }

func (u upWriter) Write(b []byte) (int, error) { return u.w.Write(b) }

func (p *amiProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	p.upSince = time.Now()
	return true
}

// waitLinkUp waits until a link has been up for at least settle (the
// service logged in over it) and reports false if ctx ends first.
func (p *amiProxy) waitLinkUp(ctx context.Context, settle time.Duration) bool {
	for {
		p.mu.Lock()
		up := len(p.conns) > 0 && time.Since(p.upSince) >= settle
		p.mu.Unlock()
		if up {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *amiProxy) drop(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// countOriginates reads the service's actions (AMI: header lines, a blank
// line ends one) until the connection ends.
func (p *amiProxy) countOriginates(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var originate bool
	var channelID string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			if originate && channelID != "" {
				p.mu.Lock()
				p.originates[channelID]++
				p.mu.Unlock()
			}
			originate, channelID = false, ""
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "action":
			originate = strings.EqualFold(strings.TrimSpace(v), "Originate")
		case "channelid":
			channelID = strings.TrimSpace(v)
		}
	}
}

// DropAll closes every proxied connection: the service sees its AMI link
// fail and reconnects.
func (p *amiProxy) DropAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
		n++
	}
	return n / 2
}

// Originates returns how many Originates each ChannelId got.
func (p *amiProxy) Originates() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.originates))
	for k, v := range p.originates {
		out[k] = v
	}
	return out
}

func (p *amiProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.l.Close()
	p.DropAll()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
