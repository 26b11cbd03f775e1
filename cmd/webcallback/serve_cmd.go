package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"webcallback/internal/app"
	"webcallback/internal/config"
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
	serveErr := a.Serve(ctx, ln)
	cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a.Close(cctx)
	return serveErr
}
