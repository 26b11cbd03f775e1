package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/sandbox"
)

// TestServeNotifiesSystemd: under a Type=notify unit serve says READY=1
// once it answers HTTP, and STOPPING=1 when the stop signal (ctx) comes,
// then returns cleanly.
func TestServeNotifiesSystemd(t *testing.T) {
	addr, notes, stop := startServe(t, "--db", "sqlite:"+filepath.Join(t.TempDir(), "wcb.db"), "--ami=")
	if got := readNote(t, notes); !strings.HasPrefix(got, "READY=1\nSTATUS=serving on "+addr) {
		t.Fatalf("first notification %q", got)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("READY=1 sent before the service answers: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz after READY=1: %s", resp.Status)
	}
	done := make(chan error, 1)
	go func() { done <- stop() }()
	if got := readNote(t, notes); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Fatalf("notification at stop %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve after stop: %v", err)
	}
}

// startServe runs serve with args on a loopback port of its own, under a
// notification socket as systemd gives a Type=notify unit. stop is the
// stop signal (main cancels the context on SIGTERM) and returns serve's
// result.
func startServe(t *testing.T, args ...string) (addr string, notes *net.UnixConn, stop func() error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	notes, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notes.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close() // serve binds it itself
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serveCommand(ctx, append([]string{"--listen", addr, "--config=", "--log-level", "error"}, args...), io.Discard)
	}()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() { cancel(); result = <-served })
		return result
	}
	t.Cleanup(func() { stop() })
	return addr, notes, stop
}

// readNote reads one notification (a hang guard bounds the wait).
func readNote(t *testing.T, notes *net.UnixConn) string {
	t.Helper()
	notes.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1024)
	n, err := notes.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// serveUntil is startServe once the service said READY=1.
func serveUntil(t *testing.T, args ...string) (base string, stop func() error) {
	t.Helper()
	addr, notes, stop := startServe(t, args...)
	if got := readNote(t, notes); !strings.HasPrefix(got, "READY=1") {
		t.Fatalf("serve's first notification %q", got)
	}
	return "http://" + addr, stop
}

// TestServeStopHandsCallsOver: the stop signal ends serve while a call is
// connected on a separate PBX (the sandbox as a process of its own, like
// Asterisk); the call goes on, stays unfinished in the database, and the
// next serve of the same instance adopts it: its events stream shows it
// and the operator can hang it up there.
func TestServeStopHandsCallsOver(t *testing.T) {
	pbx := sandbox.New(sandbox.Config{Username: "webcallback", Secret: "handover-secret", TimeScale: 0.05})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go pbx.Serve(l)
	defer pbx.Close()
	const token = "handover-admin-token-0123456789abcdef"
	args := []string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "wcb.db"), "--ami", "tcp://webcallback:handover-secret@" + l.Addr().String(),
		"--instance", "handover", "--call-limit", "1h", "--call-warning", "0", "--limits", "off", "--pow", "off", "--admin-token", token}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard
	defer cancel()

	base, stop := serveUntil(t, args...)
	api := &apiClient{base: base, http: &http.Client{}}
	r, err := api.create(ctx, "13800001001", "13800002002", "")
	if err != nil {
		t.Fatal(err)
	}
	connected := func(api *apiClient) {
		t.Helper()
		sctx, done := context.WithCancel(ctx)
		defer done()
		got := make(chan struct{})
		go api.stream(sctx, r.ID, "", func(u *callback.Request) {
			if u.State == callback.StateConnected {
				select {
				case got <- struct{}{}:
				default:
				}
			}
		})
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("the call never showed connected")
		}
	}
	connected(api)
	if err := stop(); err != nil {
		t.Fatalf("serve at the stop signal: %v", err)
	}

	base2, _ := serveUntil(t, args...)
	api2 := &apiClient{base: base2, http: &http.Client{}}
	connected(api2) // adopted: still connected, followed by the new process
	hangup, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base2+"/api/v1/admin/calls/"+r.ID, nil)
	hangup.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(hangup)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("hang-up on the new process: %s", resp.Status)
	}
	final, _, err := api2.stream(ctx, r.ID, "", func(*callback.Request) {})
	if err != nil || final == nil || final.State != callback.StateCanceled || final.Reason != callback.ReasonAdmin {
		t.Fatalf("final state after the hand-over: %+v, %v", final, err)
	}
}
