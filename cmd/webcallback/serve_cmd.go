package main

import (
	"context"
	"fmt"
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
	l := config.NewLoader("serve")
	if err := l.Parse(args); err != nil {
		return err
	}
	if l.FS.NArg() > 0 {
		return config.BadSetting(fmt.Errorf("unexpected arguments %q", l.FS.Args()))
	}
	s := l.S
	log := s.Logger(os.Stderr)
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
