package ami

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Header is one "Key: Value" line of a message.
type Header struct {
	Key, Value string
}

// Message is one AMI message (action, response or event): an ordered list of
// headers. Repeated keys are kept (Output:, Variable:, ChanVariable:); key
// lookup is case-insensitive, as Asterisk treats keys.
type Message struct {
	Headers []Header
}

// NewMessage returns a message with the given key/value pairs in order.
// It panics on an odd number of arguments (a programming error).
func NewMessage(kv ...string) *Message {
	if len(kv)%2 != 0 {
		panic("ami.NewMessage: odd number of arguments")
	}
	m := &Message{Headers: make([]Header, 0, len(kv)/2)}
	for i := 0; i < len(kv); i += 2 {
		m.Headers = append(m.Headers, Header{kv[i], kv[i+1]})
	}
	return m
}

// Get returns the value of the first header named key, or "".
func (m *Message) Get(key string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value
		}
	}
	return ""
}

// Lookup is Get that also reports whether the header is present.
func (m *Message) Lookup(key string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value, true
		}
	}
	return "", false
}

// Values returns the values of every header named key, in order.
func (m *Message) Values(key string) []string {
	var vs []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			vs = append(vs, h.Value)
		}
	}
	return vs
}

// Add appends a header, keeping any existing one of the same name.
func (m *Message) Add(key, value string) { m.Headers = append(m.Headers, Header{key, value}) }

// Set replaces the first header named key (dropping later ones) or appends it.
func (m *Message) Set(key, value string) {
	for i, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			m.Headers[i].Value = value
			m.del(key, i+1)
			return
		}
	}
	m.Add(key, value)
}

// Del removes every header named key.
func (m *Message) Del(key string) { m.del(key, 0) }

func (m *Message) del(key string, from int) {
	out := m.Headers[:from]
	for _, h := range m.Headers[from:] {
		if !strings.EqualFold(h.Key, key) {
			out = append(out, h)
		}
	}
	m.Headers = out
}

// Event returns the Event header ("" for responses and actions).
func (m *Message) Event() string { return m.Get("Event") }

// Response returns the Response header ("" for events and actions).
func (m *Message) Response() string { return m.Get("Response") }

// ActionID returns the ActionID header.
func (m *Message) ActionID() string { return m.Get("ActionID") }

// ErrInvalidHeader reports a key or value that cannot be written safely:
// CR, LF or NUL anywhere (the AMI injection hole), a colon or space in a key,
// or an empty key.
var ErrInvalidHeader = errors.New("ami: invalid header")

// CheckHeader reports whether key and value can be written without changing
// the meaning of the message.
func CheckHeader(key, value string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidHeader)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c == ':' || c == 0x7f {
			return fmt.Errorf("%w: key %q has a forbidden byte %#02x", ErrInvalidHeader, key, c)
		}
	}
	if i := strings.IndexAny(value, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w: value of %s has a forbidden byte %#02x", ErrInvalidHeader, key, value[i])
	}
	return nil
}

// AppendTo checks every header, then appends the message in wire form
// ("Key: Value\r\n" per header, then "\r\n") to b. On error b is returned
// unchanged: nothing of a bad message is ever written.
func (m *Message) AppendTo(b []byte) ([]byte, error) {
	for _, h := range m.Headers {
		if err := CheckHeader(h.Key, h.Value); err != nil {
			return b, err
		}
	}
	for _, h := range m.Headers {
		b = append(b, h.Key...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// String returns the wire form, for logs and tests (invalid headers included
// as they are, so never write its result to a connection).
func (m *Message) String() string {
	var sb strings.Builder
	for _, h := range m.Headers {
		sb.WriteString(h.Key)
		sb.WriteString(": ")
		sb.WriteString(h.Value)
		sb.WriteString("\r\n")
	}
	sb.WriteString("\r\n")
	return sb.String()
}

// WriteTo writes the message to w in wire form with a single Write call, so
// that concurrent writers on one connection never interleave and Nagle's
// algorithm never holds back half an action. Every header is checked first:
// on an invalid header nothing is written.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	b, err := m.AppendTo(make([]byte, 0, m.wireLen()))
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// wireLen is the length of the wire form, to size the write buffer once.
func (m *Message) wireLen() int {
	n := 2
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 4
	}
	return n
}
