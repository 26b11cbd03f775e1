package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// listen opens a datagram socket as systemd does and points NOTIFY_SOCKET
// at it.
func listen(t *testing.T, name, env string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", env)
	return c
}

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	abstract := "@webcallback-sdnotify-test-" + strconv.Itoa(os.Getpid())
	for _, tc := range []struct{ name, sock, env string }{
		{"path", path, path},
		{"abstract", abstract, abstract},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := listen(t, tc.sock, tc.env)
			sent, err := Notify(Ready, Status("serving\non 127.0.0.1:8080"))
			if !sent || err != nil {
				t.Fatalf("Notify = %v, %v", sent, err)
			}
			buf := make([]byte, 512)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(buf[:n]), "READY=1\nSTATUS=serving on 127.0.0.1:8080"; got != want {
				t.Fatalf("datagram %q, want %q", got, want)
			}
		})
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify(Ready); sent || err != nil {
		t.Fatalf("Notify without NOTIFY_SOCKET = %v, %v; want nothing done", sent, err)
	}
	t.Setenv("NOTIFY_SOCKET", "relative/path")
	if _, err := Notify(Ready); err == nil {
		t.Fatal("a relative NOTIFY_SOCKET was accepted")
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens"))
	if _, err := Notify(Ready); err == nil {
		t.Fatal("a socket nobody listens on gave no error")
	}
}
