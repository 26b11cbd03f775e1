package ami

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"webcallback/internal/testenv"
)

// fixtureFiles returns the contents of every fixture file ending in ext.
func fixtureFiles(tb testing.TB, ext string) map[string][]byte {
	tb.Helper()
	dir := testenv.FixturesDir(tb)
	names, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no %s fixtures in %s: %v", ext, dir, err)
	}
	files := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		files[filepath.Base(n)] = b
	}
	return files
}

// TestReaderFixtures parses every byte Asterisk sent in each transcript:
// the banner, then exactly as many messages as a plain blank-line split
// finds, and re-encoding them gives back the file byte for byte.
func TestReaderFixtures(t *testing.T) {
	for name, data := range fixtureFiles(t, ".ami") {
		t.Run(name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(data))
			banner, err := r.ReadBanner()
			if err != nil {
				t.Fatal(err)
			}
			if banner != "Asterisk Call Manager/11.0.0" {
				t.Errorf("banner = %q", banner)
			}
			rest := strings.TrimPrefix(string(data), banner+"\r\n")
			want := 0
			for _, part := range strings.Split(rest, "\r\n\r\n") {
				if part != "" {
					want++
				}
			}
			var out strings.Builder
			out.WriteString(banner + "\r\n")
			got := 0
			for {
				m, err := r.ReadMessage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("message %d: %v", got+1, err)
				}
				got++
				out.WriteString(m.String())
			}
			if got != want {
				t.Errorf("parsed %d messages, blank-line split gives %d", got, want)
			}
			if out.String() != string(data) {
				t.Errorf("re-encoded messages differ from the fixture")
			}
		})
	}
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]Header // messages expected before io.EOF
	}{
		{"crlf", "Response: Success\r\nActionID: a\r\n\r\n",
			[][]Header{{{"Response", "Success"}, {"ActionID", "a"}}}},
		{"bare lf", "Event: X\nA: 1\n\nEvent: Y\n\n",
			[][]Header{{{"Event", "X"}, {"A", "1"}}, {{"Event", "Y"}}}},
		{"colons in value", "Channel: PJSIP/gw-01\r\nTime: 12:34:56\r\n\r\n",
			[][]Header{{{"Channel", "PJSIP/gw-01"}, {"Time", "12:34:56"}}}},
		{"empty values", "Output: \r\nSystemName:\r\n\r\n",
			[][]Header{{{"Output", ""}, {"SystemName", ""}}}},
		{"indentation kept", "Output:   'h' => 1.\r\n\r\n",
			[][]Header{{{"Output", "  'h' => 1."}}}},
		{"repeated keys in order", "Output: a\r\nOutput: b\r\nVariable: x=1\r\nOutput: c\r\n\r\n",
			[][]Header{{{"Output", "a"}, {"Output", "b"}, {"Variable", "x=1"}, {"Output", "c"}}}},
		{"stray empty lines", "\r\n\r\nPing: Pong\r\n\r\n\r\n",
			[][]Header{{{"Ping", "Pong"}}}},
		{"empty stream", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in))
			var got [][]Header
			for {
				m, err := r.ReadMessage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m.Headers)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadMessageErrors checks that bad input gives the right error and
// that the Reader then goes on with the next message.
func TestReadMessageErrors(t *testing.T) {
	next := "Event: Next\r\n\r\n"
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"no colon", "Event: X\r\n--END COMMAND--\r\n\r\n" + next, ErrMalformed},
		{"empty key", ": value\r\n\r\n" + next, ErrMalformed},
		{"long line", "A: " + strings.Repeat("x", MaxLineBytes) + "\r\nB: 1\r\n\r\n" + next, ErrMessageTooLarge},
		{"too many headers", strings.Repeat("A: 1\r\n", MaxHeaders+1) + "\r\n" + next, ErrMessageTooLarge},
		{"too many bytes", strings.Repeat("A: "+strings.Repeat("y", 1000)+"\r\n", MaxMessageBytes/1000) + "\r\n" + next, ErrMessageTooLarge},
		{"eof inside message", "Event: X\r\nA: 1\r\n", io.ErrUnexpectedEOF},
		{"eof inside line", "Event: X\r\nA: 1", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in))
			_, err := r.ReadMessage()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == io.ErrUnexpectedEOF {
				return
			}
			m, err := r.ReadMessage()
			if err != nil || m.Event() != "Next" {
				t.Fatalf("after error: %v %v, want Event: Next", m, err)
			}
		})
	}
}

func TestReadBanner(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n", "Asterisk Call Manager/11.0.0", nil},
		{"Asterisk Call Manager/2.10.4\n", "Asterisk Call Manager/2.10.4", nil},
		{"Response: Success\r\n", "", ErrMalformed},
		{"\r\n", "", ErrMalformed},
		{strings.Repeat("B", MaxLineBytes+1) + "/1\r\n", "", ErrMessageTooLarge},
		{"Asterisk Call Manager/11.0.0", "", io.ErrUnexpectedEOF},
		{"", "", io.EOF},
	}
	for _, tt := range tests {
		got, err := NewReader(strings.NewReader(tt.in)).ReadBanner()
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ReadBanner(%.30q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzReader feeds arbitrary bytes to the Reader: it must never panic, and
// every message it returns must survive an encode/parse round trip.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\n",
		"Event: X\nOutput: \n\n\n",
		"A:b:c\r\n:\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	if _, ok := testenv.Fixtures(); ok {
		for _, b := range fixtureFiles(f, ".ami") {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		_, _ = r.ReadBanner()
		for i := 0; i < 10000; i++ {
			m, err := r.ReadMessage()
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("unexpected error class: %v", err)
				}
				continue
			}
			if len(m.Headers) == 0 {
				t.Fatal("empty message returned")
			}
			wire, err := m.AppendTo(nil)
			if err != nil {
				continue // a key with spaces or a value with a lone CR: readable, not writable
			}
			back, err := NewReader(bytes.NewReader(wire)).ReadMessage()
			if err != nil || !reflect.DeepEqual(back.Headers, m.Headers) {
				t.Fatalf("round trip of %q: %v, %v", wire, back, err)
			}
		}
	})
}

// BenchmarkReader parses the bytes of every .ami fixture, as one stream
// (one banner, then every file's messages) the way one long-lived
// connection reads them. It reports MB/s, messages/s and allocations.
func BenchmarkReader(b *testing.B) {
	const banner = "Asterisk Call Manager/11.0.0\r\n"
	stream := []byte(banner)
	for _, data := range fixtureFiles(b, ".ami") {
		stream = append(stream, bytes.TrimPrefix(data, []byte(banner))...)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	msgs := 0
	for b.Loop() {
		r := NewReader(bytes.NewReader(stream))
		if _, err := r.ReadBanner(); err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			msgs++
		}
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
}
