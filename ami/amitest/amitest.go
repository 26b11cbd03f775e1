// Package amitest serves AMI over a real loopback socket for tests: it
// replays the real Asterisk transcripts (the .log files of
// shared/fixtures/ami) against a client, checking that the client sends
// what the recorded client sent and answering what Asterisk answered.
package amitest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"webcallback/ami"
)

// Dir is the direction of a transcript block.
type Dir int

const (
	Recv Dir = iota // Asterisk to client ("#<<< RECV")
	Sent            // client to Asterisk ("#>>> SENT")
)

func (d Dir) String() string {
	if d == Recv {
		return "RECV"
	}
	return "SENT"
}

// Block is one marker-delimited part of a .log transcript: the banner or
// one message, with its time since connect.
type Block struct {
	Dir  Dir
	At   time.Duration
	Data []byte // verbatim wire bytes
}

// ParseLog splits a .log transcript ("#<<< RECV +S.mmm" and
// "#>>> SENT +S.mmm" marker lines, each followed by the bytes of one
// message) into blocks.
func ParseLog(data []byte) ([]Block, error) {
	var blocks []Block
	for lineNo := 1; len(data) > 0; lineNo++ {
		eol := bytes.IndexByte(data, '\n')
		if eol < 0 {
			eol = len(data) - 1
		}
		line := strings.TrimRight(string(data[:eol+1]), "\r\n")
		data = data[eol+1:]
		if !strings.HasPrefix(line, "#") {
			if len(blocks) == 0 {
				return nil, fmt.Errorf("amitest: line %d: data before the first marker", lineNo)
			}
			b := &blocks[len(blocks)-1]
			b.Data = append(b.Data, line...)
			b.Data = append(b.Data, "\r\n"...)
			continue
		}
		var b Block
		var at string
		switch {
		case strings.HasPrefix(line, "#<<< RECV +"):
			b.Dir, at = Recv, strings.TrimPrefix(line, "#<<< RECV +")
		case strings.HasPrefix(line, "#>>> SENT +"):
			b.Dir, at = Sent, strings.TrimPrefix(line, "#>>> SENT +")
		default:
			return nil, fmt.Errorf("amitest: line %d: unknown marker %q", lineNo, line)
		}
		secs, err := strconv.ParseFloat(at, 64)
		if err != nil || !(secs >= 0 && secs <= 1e6) { // also rejects NaN and overflow
			return nil, fmt.Errorf("amitest: line %d: bad time in %q", lineNo, line)
		}
		b.At = time.Duration(secs * float64(time.Second))
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// Messages parses the blocks of one direction into messages, skipping the
// banner.
func Messages(blocks []Block, dir Dir) ([]*ami.Message, error) {
	var msgs []*ami.Message
	for i, b := range blocks {
		if b.Dir != dir || (i == 0 && dir == Recv) {
			continue
		}
		r := ami.NewReader(bytes.NewReader(b.Data))
		for {
			m, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("amitest: block %d: %w", i, err)
			}
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

// Server accepts AMI clients on a loopback port and runs a handler per
// connection.
type Server struct {
	ln      net.Listener
	handler func(net.Conn) error
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	errs  []error
	n     int
}

// NewServer listens on 127.0.0.1 (a free port) and serves every
// connection with handler, which owns the connection (Server closes it
// after handler returns). Handler errors are collected for Close.
func NewServer(handler func(net.Conn) error) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("amitest: listen: %w", err)
	}
	s := &Server{ln: ln, handler: handler, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the host:port to dial.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Accepted returns how many connections were accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// DropAll closes every open connection, as a crashing Asterisk would.
func (s *Server) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.n++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.handler(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			if err != nil {
				s.errs = append(s.errs, err)
			}
			s.mu.Unlock()
		}()
	}
}

// Close stops listening, closes open connections, waits for the handlers
// and returns their errors joined.
func (s *Server) Close() error {
	s.ln.Close()
	s.DropAll()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// Replay returns a handler that plays a transcript: it writes the RECV
// blocks and, at each SENT block, reads one message from the client and
// checks it has the recorded headers in the recorded order. ActionIDs are
// the exception: the client picks its own, and the replay echoes the
// client's in the recorded responses and events (and, where the recorded
// action had none, inserts the client's as the second line of the next
// response that lacks one, as Asterisk would have). speed scales the
// recorded delays (1 = real time, 0 = none). When the transcript ends the
// connection is closed, as Asterisk does after Logoff or a failed login. A
// client that hangs up early ends the replay without error.
func Replay(blocks []Block, speed float64) func(net.Conn) error {
	return func(c net.Conn) error {
		r := ami.NewReader(c)
		ids := map[string]string{} // recorded ActionID -> client's
		var unanswered []string    // client ActionIDs of actions recorded without one
		start := time.Now()
		for i, b := range blocks {
			if speed > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(float64(b.At) / speed))))
			}
			if b.Dir == Sent {
				got, err := r.ReadMessage()
				if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("amitest: block %d: reading the client's action: %w", i, err)
				}
				want, err := ami.NewReader(bytes.NewReader(b.Data)).ReadMessage()
				if err != nil {
					return fmt.Errorf("amitest: block %d: %w", i, err)
				}
				if err := sameAction(want, got, ids, &unanswered); err != nil {
					return fmt.Errorf("amitest: block %d: %w", i, err)
				}
				continue
			}
			data := b.Data
			if i > 0 { // not the banner
				var err error
				if data, err = rewrite(b.Data, ids, &unanswered); err != nil {
					return fmt.Errorf("amitest: block %d: %w", i, err)
				}
			}
			if _, err := c.Write(data); err != nil {
				return nil // the client hung up
			}
		}
		return nil
	}
}

// sameAction compares a recorded action with the client's, all headers in
// order except ActionID values, and learns the ActionID mapping.
func sameAction(want, got *ami.Message, ids map[string]string, unanswered *[]string) error {
	strip := func(m *ami.Message) string {
		var sb strings.Builder
		for _, h := range m.Headers {
			if !strings.EqualFold(h.Key, "ActionID") {
				sb.WriteString(h.Key + ": " + h.Value + "\n")
			}
		}
		return sb.String()
	}
	if w, g := strip(want), strip(got); w != g {
		return fmt.Errorf("client sent\n%s\nrecorded client sent\n%s", g, w)
	}
	switch wid, gid := want.ActionID(), got.ActionID(); {
	case wid != "":
		ids[wid] = gid
	case gid != "":
		*unanswered = append(*unanswered, gid)
	}
	return nil
}

// rewrite replaces recorded ActionIDs in a RECV block by the client's.
func rewrite(data []byte, ids map[string]string, unanswered *[]string) ([]byte, error) {
	r := ami.NewReader(bytes.NewReader(data))
	var out []byte
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if id, ok := m.Lookup("ActionID"); ok {
			if cid, ok := ids[id]; ok {
				m.Set("ActionID", cid)
			}
		} else if m.Response() != "" && len(*unanswered) > 0 {
			m.Headers = append(m.Headers[:1], append([]ami.Header{{Key: "ActionID", Value: (*unanswered)[0]}}, m.Headers[1:]...)...)
			*unanswered = (*unanswered)[1:]
		}
		if out, err = m.AppendTo(out); err != nil {
			return nil, err
		}
	}
}

// Banner is the greeting Asterisk 20/22 sends on connect (no empty line
// follows it).
const Banner = "Asterisk Call Manager/11.0.0\r\n"

// ErrHangUp, returned by an Actions callback, ends the connection without
// an error (as Asterisk does after Logoff).
var ErrHangUp = errors.New("amitest: hang up")

// Actions returns a handler that sends Banner and then calls f with each
// action the client sends, until the client hangs up or f returns an error
// (ErrHangUp: a clean end). f writes its answers to c itself, e.g. with
// Message.WriteTo.
func Actions(f func(c net.Conn, action *ami.Message) error) func(net.Conn) error {
	return func(c net.Conn) error {
		if _, err := io.WriteString(c, Banner); err != nil {
			return nil
		}
		r := ami.NewReader(c)
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return nil // the client hung up, or the server is closing
			}
			if err := f(c, m); err != nil {
				if errors.Is(err, ErrHangUp) {
					return nil
				}
				return err
			}
		}
	}
}
