package amitest

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
)

func TestParseLog(t *testing.T) {
	tests := []struct {
		name, in string
		blocks   int
		err      bool
	}{
		{"banner and one exchange", "#<<< RECV +0.001\r\n" + Banner + "#>>> SENT +1.500\r\nAction: Ping\r\n\r\n#<<< RECV +1.501\r\nResponse: Success\r\n\r\n", 3, false},
		{"bare LF", "#<<< RECV +0.001\nAsterisk Call Manager/11.0.0\n", 1, false},
		{"empty", "", 0, false},
		{"data first", "Action: Ping\r\n", 0, true},
		{"unknown marker", "#=== NOTE +0.1\r\n", 0, true},
		{"bad time", "#<<< RECV +soon\r\n", 0, true},
		{"negative time", "#<<< RECV +-1\r\n", 0, true},
	}
	for _, tt := range tests {
		blocks, err := ParseLog([]byte(tt.in))
		if (err != nil) != tt.err || len(blocks) != tt.blocks {
			t.Errorf("%s: %d blocks, %v", tt.name, len(blocks), err)
		}
	}
	blocks, _ := ParseLog([]byte(tests[0].in))
	if blocks[1].Dir != Sent || blocks[1].At != 1500*time.Millisecond || string(blocks[1].Data) != "Action: Ping\r\n\r\n" {
		t.Errorf("block 1 = %+v", blocks[1])
	}
}

// TestReplayMismatch: an action other than the recorded one is reported.
func TestReplayMismatch(t *testing.T) {
	log := "#<<< RECV +0.001\r\n" + Banner + "#>>> SENT +0.002\r\nAction: Ping\r\nActionID: p1\r\n\r\n#<<< RECV +0.003\r\nResponse: Success\r\nActionID: p1\r\n\r\n"
	blocks, err := ParseLog([]byte(log))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		send    string
		wantErr bool
	}{
		{"Action: Ping\r\nActionID: mine\r\n\r\n", false},
		{"Action: Originate\r\nActionID: mine\r\n\r\n", true},
	} {
		srv, err := NewServer(Replay(blocks, 0))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		r := ami.NewReader(c)
		if _, err := r.ReadBanner(); err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, tc.send)
		m, err := r.ReadMessage()
		if !tc.wantErr && (err != nil || m.ActionID() != "mine") {
			t.Errorf("response %v, %v; want ActionID mine", m, err)
		}
		c.Close()
		if err := srv.Close(); (err != nil) != tc.wantErr {
			t.Errorf("send %q: server error %v", strings.SplitN(tc.send, "\r", 2)[0], err)
		}
	}
	if srv, err := NewServer(Actions(func(net.Conn, *ami.Message) error { return errors.New("boom") })); err == nil {
		c, _ := net.Dial("tcp", srv.Addr())
		io.WriteString(c, "Action: Ping\r\n\r\n")
		io.ReadAll(c) // until the server hangs up
		c.Close()
		if err := srv.Close(); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("Close = %v, want the handler's error", err)
		}
	}
}

// FuzzParseLog: any bytes give blocks or an error, never a panic, and
// every block keeps its bytes.
func FuzzParseLog(f *testing.F) {
	f.Add([]byte("#<<< RECV +0.001\r\n" + Banner + "#>>> SENT +1.5\r\nAction: Ping\r\n\r\n"))
	f.Add([]byte("#>>> SENT +1e9\n\n#<<< RECV +0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := ParseLog(data)
		if err != nil {
			return
		}
		for _, b := range blocks {
			if b.At < 0 {
				t.Fatalf("negative time %v", b.At)
			}
		}
	})
}
