package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits on what a Reader accepts from the peer. Asterisk's largest real
// messages are Command replies (one Output: header per line); these bounds
// leave room for big dialplans while keeping a hostile peer from growing
// memory without bound.
const (
	MaxLineBytes    = 64 << 10 // one line, terminator included
	MaxMessageBytes = 1 << 20  // one message, terminators included
	MaxHeaders      = 4096     // header lines in one message
)

var (
	// ErrMessageTooLarge reports a line, message or header count over the
	// limits above. The Reader has skipped the rest of that message and
	// can read the next one.
	ErrMessageTooLarge = errors.New("ami: message too large")
	// ErrMalformed reports a line that is not "Key: Value" or a banner that
	// is not one. The Reader has skipped the rest of that message and can
	// read the next one.
	ErrMalformed = errors.New("ami: malformed message")
)

// A Reader reads AMI messages from a byte stream: the banner line first,
// then messages of "Key: Value" lines each ended by an empty line. It
// accepts "\r\n" and bare "\n" line ends. A Reader is not safe for
// concurrent use.
type Reader struct {
	br *bufio.Reader
	// buf collects the key and value bytes of the message being read;
	// spans indexes into it. Both are reused from message to message so
	// a message costs one string, one header slice and the Message itself.
	buf   []byte
	spans []span
	long  []byte // a line longer than br's buffer, gathered

	msgs    []Message // slabs for newMessage
	headers []Header
}

type span struct{ k0, k1, v1 int32 } // key = buf[k0:k1], value = buf[k1:v1]

// readBufferSize holds every line Asterisk usually sends; longer lines (up
// to MaxLineBytes) are gathered in Reader.long.
const readBufferSize = 16 << 10

// NewReader returns a Reader reading from r through its own buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBufferSize)}
}

// readLine returns the next line without its "\n" or "\r\n". The slice is
// valid until the next read. n counts the bytes consumed. tooLong reports a
// line over MaxLineBytes, of which the rest has been consumed and dropped.
func (r *Reader) readLine() (line []byte, n int, tooLong bool, err error) {
	line, err = r.br.ReadSlice('\n')
	n = len(line)
	if errors.Is(err, bufio.ErrBufferFull) {
		// Longer than the buffer: gather it, up to MaxLineBytes.
		r.long = append(r.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.br.ReadSlice('\n')
			n += len(line)
			if !tooLong && n <= MaxLineBytes {
				r.long = append(r.long, line...)
			} else {
				tooLong = true
			}
		}
		line = r.long
	}
	if err != nil {
		if err == io.EOF && n > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, n, tooLong, err
	}
	if tooLong || n > MaxLineBytes {
		return nil, n, true, nil
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, n, false, nil
}

// ReadBanner reads the greeting line Asterisk sends on connect, e.g.
// "Asterisk Call Manager/11.0.0", and returns it without its line end.
// No empty line follows the banner.
func (r *Reader) ReadBanner() (string, error) {
	line, _, tooLong, err := r.readLine()
	switch {
	case err != nil:
		return "", fmt.Errorf("ami: reading banner: %w", err)
	case tooLong:
		return "", fmt.Errorf("%w: banner longer than %d bytes", ErrMessageTooLarge, MaxLineBytes)
	case len(line) == 0 || bytes.IndexByte(line, ':') >= 0 || bytes.IndexByte(line, '/') < 0:
		return "", fmt.Errorf("%w: banner %q is not \"<name>/<version>\"", ErrMalformed, clip(line))
	}
	return string(line), nil
}

// ReadMessage reads the next message. It returns io.EOF only at a clean
// end of stream (between messages) and io.ErrUnexpectedEOF inside a
// message. The message shares no memory with the Reader's buffers: it may
// be kept and changed freely.
// A message over the limits or with a line that is not "Key: Value" gives
// an error wrapping ErrMessageTooLarge or ErrMalformed after the rest of the
// message has been skipped, so the next call reads the next message.
// Empty lines before a message are skipped. The value is the text after
// the first colon, less one following space: "Output: " gives "" and
// indentation after that space is kept.
func (r *Reader) ReadMessage() (*Message, error) {
	r.buf = r.buf[:0]
	r.spans = r.spans[:0]
	total := 0
	var fail error // first problem found; the message is then skipped to its end
	for {
		line, n, tooLong, err := r.readLine()
		if err != nil {
			if err == io.EOF && total == 0 {
				return nil, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("ami: reading message: %w", err)
		}
		if len(line) == 0 && !tooLong {
			if total == 0 {
				continue // stray empty line between messages
			}
			break
		}
		total += n
		if fail != nil {
			continue
		}
		switch {
		case tooLong:
			fail = fmt.Errorf("%w: line %d longer than %d bytes", ErrMessageTooLarge, len(r.spans)+1, MaxLineBytes)
		case total > MaxMessageBytes:
			fail = fmt.Errorf("%w: more than %d bytes", ErrMessageTooLarge, MaxMessageBytes)
		case len(r.spans) == MaxHeaders:
			fail = fmt.Errorf("%w: more than %d headers", ErrMessageTooLarge, MaxHeaders)
		default:
			fail = r.addHeader(line)
		}
	}
	if fail != nil {
		return nil, fail
	}
	s := string(r.buf)
	m := r.newMessage(len(r.spans))
	for i, sp := range r.spans {
		m.Headers[i] = Header{Key: s[sp.k0:sp.k1], Value: s[sp.k1:sp.v1]}
	}
	if cap(r.buf) > 4*MaxLineBytes {
		r.buf = nil // don't pin one huge message's buffer for the connection's life
	}
	return m, nil
}

// Messages and their header arrays are carved from small slabs, so that a
// message costs about one allocation (its string) instead of three. A
// message kept long keeps at most its slab alive (a few KiB).
const (
	msgSlab    = 32
	headerSlab = 256
)

// newMessage returns a message with n zero headers. The header slice's
// capacity is n, so Add on it copies instead of writing into a neighbour.
func (r *Reader) newMessage(n int) *Message {
	if len(r.msgs) == 0 {
		r.msgs = make([]Message, msgSlab)
	}
	m := &r.msgs[0]
	r.msgs = r.msgs[1:]
	if n > len(r.headers) {
		r.headers = make([]Header, max(n, headerSlab))
	}
	m.Headers = r.headers[:n:n]
	r.headers = r.headers[n:]
	return m
}

// addHeader splits a "Key: Value" line into r.buf and r.spans.
func (r *Reader) addHeader(line []byte) error {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return fmt.Errorf("%w: line %d %q is not \"Key: Value\"", ErrMalformed, len(r.spans)+1, clip(line))
	}
	val := line[colon+1:]
	if len(val) > 0 && val[0] == ' ' {
		val = val[1:]
	}
	k0 := int32(len(r.buf))
	r.buf = append(r.buf, line[:colon]...)
	k1 := int32(len(r.buf))
	r.buf = append(r.buf, val...)
	r.spans = append(r.spans, span{k0, k1, int32(len(r.buf))})
	return nil
}

// clip shortens hostile input quoted in an error message.
func clip(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return b[:max]
	}
	return b
}
