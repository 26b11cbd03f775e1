// Package apptest starts the service exactly as `webcallback serve` does
// (config flags → app.New → App.Serve on a loopback port) for end-to-end
// tests, so they exercise the production assembly rather than a copy.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/app"
	"webcallback/internal/config"
)

// Service is a running service; Close runs at the end of the test.
type Service struct {
	*app.App
	URL string // http://127.0.0.1:port
}

// Start parses args as serve's flags, with --db a fresh SQLite file in the
// test's temporary directory and --ami empty (the built-in sandbox) unless
// args name others (a later flag wins),
// builds the service with opts and serves it on a loopback port until the
// test ends. log nil discards the service's logs.
func Start(t testing.TB, log *slog.Logger, args []string, opts ...app.Option) *Service {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := config.NewLoader("test")
	l.FS.SetOutput(io.Discard) // a bad flag fails the test with the error instead
	// The database, the PBX and the settings file are pinned so that a
	// WEBCALLBACK_* variable of the developer's shell never points a test
	// at a real database or a real Asterisk.
	pinned := []string{"--db", "sqlite:" + t.TempDir() + "/wcb.db", "--ami=", "--config="}
	if err := l.Parse(append(pinned, args...)); err != nil {
		t.Fatalf("settings %q: %v", args, err)
	}
	if l.S.SpoolDir == "" && !strings.HasPrefix(l.S.DB, "sqlite:") {
		// Not data/spool/<instance> under the package's source directory.
		l.S.SpoolDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, l.S, log, opts...)
	if err != nil {
		cancel()
		t.Fatalf("app.New: %v", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close(context.Background())
		t.Fatal(err)
	}
	tl := &trackingListener{Listener: hl}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, tl) }()
	t.Cleanup(func() {
		// Cancelling ends the requests (their context derives from ctx),
		// open event streams included. Closing every connection spares the
		// graceful shutdown its wait for the sockets clients opened and
		// never used (a browser's preconnects): 5 s in net/http.
		cancel()
		tl.closeAll()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		cctx, c := context.WithTimeout(context.Background(), 15*time.Second)
		defer c()
		a.Close(cctx)
	})
	return &Service{App: a, URL: "http://" + hl.Addr().String()}
}

// trackingListener remembers the connections it accepted, to close them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}
