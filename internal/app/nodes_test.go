package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"webcallback/internal/app"
	"webcallback/internal/app/apptest"
	"webcallback/internal/config"
	"webcallback/internal/sandbox"
	"webcallback/internal/testenv"
)

// servePBX runs a sandbox PBX on l (nil: a new loopback port) until the
// test ends, and returns its address.
func servePBX(t *testing.T, l net.Listener) string {
	t.Helper()
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	sb := sandbox.New(sandbox.Config{Username: "wcb", Secret: "nodes-secret", TimeScale: 0.01})
	go sb.Serve(l)
	t.Cleanup(func() { sb.Close() })
	return l.Addr().String()
}

// TestNodeDownAtStart: with several nodes the service starts while one is
// down: ready, that node listed down in /readyz, and up once it answers.
// With every node down it does not start.
func TestNodeDownAtStart(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	// y is down until served: its port held (testenv.HoldPort), not left
	// free for another test's socket to take.
	x, yHeld := servePBX(t, nil), testenv.HoldPort(t, "127.0.0.1:0")
	y := yHeld.Addr()
	ami := "tcp://wcb:nodes-secret@" + x + ",tcp://wcb:nodes-secret@" + y
	svc := apptest.Start(t, nil, []string{"--ami", ami})
	resp, err := http.Get(svc.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "node "+x+" up") || !strings.Contains(string(body), "node "+y+" down") {
		t.Errorf("/readyz with %s down: %s %q", y, resp.Status, body)
	}
	servePBX(t, yHeld.Release())
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if s := svc.Nodes.Status(context.Background()); s[1].State == "up" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never came up: %+v", y, svc.Nodes.Status(context.Background()))
		}
	}

	l := config.NewLoader("test")
	l.FS.SetOutput(io.Discard)
	if err := l.Parse([]string{"--db", "sqlite:" + t.TempDir() + "/wcb.db", "--config=", "--ami",
		"tcp://wcb:nodes-secret@" + testenv.HoldPort(t, "127.0.0.1:0").Addr() + ",tcp://wcb:nodes-secret@" + testenv.HoldPort(t, "127.0.0.1:0").Addr()}); err != nil {
		t.Fatal(err)
	}
	if a, err := app.New(context.Background(), l.S, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "no Asterisk node answers") {
		if a != nil {
			a.Close(context.Background())
		}
		t.Errorf("every node down: New = %v, want no Asterisk node answers", err)
	}
}
