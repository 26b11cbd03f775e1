package sandbox

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webcallback/internal/testenv"
)

func FuzzParseEventMask(f *testing.F) {
	for _, s := range []string{"on", "off", "call,cdr,user", "system,call,log,verbose,command,agent,user,originate,reporting,cdr,dialplan", "123", "all", " , ,", "4294967295"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m := parseEventMask(s); m&^classAll != 0 {
			t.Errorf("parseEventMask(%q) = %#x has unknown classes", s, m)
		}
	})
}

func FuzzOriginateFields(f *testing.F) {
	f.Add("PJSIP/13800001001@gateway", `"Web" <13800002002>`, "+8613811111001")
	f.Add("PJSIP/@gateway", "<>", "0086")
	f.Add("Local/s@ctx", `"<" <`, "86")
	f.Fuzz(func(t *testing.T, ch, cid, number string) {
		if num, ok := pjsipNumber(ch, DefaultTrunk); ok {
			if num == "" || strings.Trim(num, "+0123456789") != "" {
				t.Errorf("pjsipNumber(%q) = %q", ch, num)
			}
		}
		parseCallerID(cid)
		d := nationalDigits(number)
		if strings.Trim(d, "0123456789") != "" {
			t.Errorf("nationalDigits(%q) = %q", number, d)
		}
		p := plan(number)
		if p.RingFor <= 0 || p.Answer == (p.Cause != 0) {
			t.Errorf("plan(%q) = %+v", number, p)
		}
		for _, set := range []string{"0-9", "0-9a-f-", "a-z"} {
			if got := filter(set, number); len(got) > len(number) {
				t.Errorf("filter grew %q to %q", number, got)
			}
		}
	})
}

// FuzzSession feeds arbitrary client bytes to a session over an in-memory
// pipe: the server must answer or close, never panic or hang.
func FuzzSession(f *testing.F) {
	f.Add([]byte("Action: Login\r\nUsername: webcallback\r\nSecret: s3cret-lab\r\n\r\nAction: Ping\r\n\r\n"))
	f.Add([]byte("Action: Login\r\nUsername: webcallback\r\nSecret: s3cret-lab\r\nEvents: off\r\n\r\n" +
		"Action: Originate\r\nChannel: PJSIP/13811111001@gateway\r\nContext: webcallback\r\nExten: s\r\n\r\n" +
		"Action: Status\r\n\r\nAction: CoreShowChannels\r\n\r\nAction: Hangup\r\nChannel: /.*/\r\n\r\n"))
	f.Add([]byte("\r\n\r\n::::\r\nAction\r\n\r\n"))
	if dir, ok := testenv.Fixtures(); ok { // seeds only: fuzzing works without them
		files, _ := filepath.Glob(filepath.Join(dir, "*.sent"))
		for _, p := range files[:min(len(files), 6)] {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := New(Config{Username: testUser, Secret: testSecret, TimeScale: 0.0001})
		client, server := net.Pipe()
		c := newConn(s, server)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.sessions.Add(1)
		s.mu.Unlock()
		go c.serve()
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, client)
		}()
		// A synchronous Originate may legitimately hold the session for
		// its whole Timeout, so the input gets a bounded time, then the
		// server must close promptly.
		client.SetWriteDeadline(time.Now().Add(time.Second))
		client.Write(in)
		client.Write([]byte("\r\n\r\nAction: Logoff\r\n\r\n"))
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		closed := make(chan struct{})
		go func() { s.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		<-done
		client.Close()
	})
}
