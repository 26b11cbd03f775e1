package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeNotifiesSystemd: under a Type=notify unit serve says READY=1
// once it answers HTTP, and STOPPING=1 when the stop signal (ctx) comes,
// then returns cleanly.
func TestServeNotifiesSystemd(t *testing.T) {
	dir := t.TempDir()
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("NOTIFY_SOCKET", filepath.Join(dir, "notify"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // serve binds it itself
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serveCommand(ctx, []string{"--listen", addr, "--db", "sqlite:" + filepath.Join(dir, "wcb.db"),
			"--ami=", "--config=", "--log-level", "error"}, io.Discard)
	}()
	read := func() string {
		sock.SetReadDeadline(time.Now().Add(30 * time.Second)) // hang guard
		buf := make([]byte, 1024)
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	if got := read(); !strings.HasPrefix(got, "READY=1\nSTATUS=serving on "+addr) {
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
	stop()
	if got := read(); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Fatalf("notification at stop %q", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve after stop: %v", err)
	}
}
