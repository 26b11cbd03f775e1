package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"webcallback/internal/app"
	"webcallback/internal/config"
	"webcallback/internal/sdnotify"
)

func init() {
	register("serve", "run the service: web page, API, admin, engine (sandbox PBX without --ami)", runServe)
}

func runServe(ctx context.Context, args []string) error {
	return serveCommand(ctx, args, os.Stderr)
}

// serveCommand runs the service until ctx ends. Every start-up error is
// returned (main prints it, one line per problem): a config.SettingError
// for a bad setting, any other for a dependency that failed.
func serveCommand(ctx context.Context, args []string, stderr io.Writer) error {
	l := config.NewLoader("serve")
	l.FS.SetOutput(stderr)
	if err := l.Parse(args); err != nil {
		return err
	}
	if l.FS.NArg() > 0 {
		return config.BadSetting(fmt.Errorf("unexpected arguments %q", l.FS.Args()))
	}
	s := l.S
	log := s.Logger(stderr)
	log.Info("starting webcallback", s.Redacted()...)
	// Listen before the slow parts, so a busy port fails at once.
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", s.Listen, err)
	}
	a, err := app.New(ctx, s, log)
	if err != nil {
		ln.Close()
		return err
	}
	// systemd (Type=notify): ready once the database and the PBX answer
	// and the port is bound; stopping as soon as the stop begins.
	notify(log, sdnotify.Ready, sdnotify.Status("serving on "+ln.Addr().String()))
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			notify(log, sdnotify.Stopping, sdnotify.Status("stopping: no new requests; live calls continue in the PBX"))
		case <-stopped:
		}
	}()
	serveErr := a.Serve(ctx, ln)
	cctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	a.Close(cctx)
	return serveErr
}

// closeWait bounds the stop after the HTTP server has shut down (up to
// 10 s): the engine, the CDRs already received (up to 10 s), the store.
// The systemd unit's TimeoutStopSec leaves room for both.
const closeWait = 15 * time.Second

// notify tells systemd the state when it runs the service; a failure is
// logged, never fatal (the service works without a supervisor).
func notify(log *slog.Logger, state ...string) {
	if _, err := sdnotify.Notify(state...); err != nil {
		log.Warn("systemd notification failed", "err", err)
	}
}
