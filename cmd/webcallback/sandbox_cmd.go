package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"webcallback/internal/config"
	"webcallback/internal/pbxcdr"
	"webcallback/internal/sandbox"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

func init() {
	register("sandbox", "run only the sandbox PBX (an AMI server that simulates Asterisk)", runSandbox)
}

// sandboxSecretEnv holds the sandbox's AMI secret when --secret is not
// given (flags show in process listings; the environment does not).
const sandboxSecretEnv = "WEBCALLBACK_SANDBOX_SECRET"

// parseSandboxFlags reads the sandbox command's settings.
func parseSandboxFlags(args []string, stderr io.Writer) (cfg sandbox.Config, listen, cdrDB string, err error) {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&listen, "listen", "127.0.0.1:5038", "address:port the AMI server listens on (keep it on loopback)")
	fs.StringVar(&cfg.Username, "user", "webcallback", "AMI user name the clients log in with")
	fs.StringVar(&cfg.Secret, "secret", "", "AMI secret (prefer env "+sandboxSecretEnv+": flags show in process listings)")
	fs.Float64Var(&cfg.TimeScale, "time-scale", 1, "wall-clock seconds per simulated second: 1 = real time, 0.01 plays a 300 s call in 3 s")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the simulation's choices (challenges, ids, event orders real Asterisk varies)")
	fs.StringVar(&cfg.Trunk, "trunk", sandbox.DefaultTrunk, "PJSIP endpoint name the calls go out on (PJSIP/<number>@<trunk>)")
	fs.IntVar(&cfg.MaxChannels, "max-channels", 0, "trunk capacity in simultaneous channels, both legs counted; beyond it calls fail with 503 (0 = unlimited)")
	fs.StringVar(&cdrDB, "cdr-db", "", "database whose cdr table receives every CDR, as Asterisk's database CDR backend writes it (sqlite:<path>, mysql://..., postgres://...: the service's --db for serve --cdr-source table); empty = CDRs only as AMI Cdr events")
	fs.Float64Var(&cfg.MaxCallsPerSecond, "max-cps", 0, "trunk call-rate limit in new channels per simulated second; beyond it calls fail with 503 (0 = unlimited)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: webcallback sandbox [flags]\n\n"+
			"Runs the sandbox PBX alone: an AMI server that behaves like Asterisk 22 running\n"+
			"webcallback's dialplan against the test-number plan (docs/design.md §4).\n\n")
		fs.PrintDefaults()
	}
	fs.SetOutput(io.Discard) // a bad flag is one line, not the whole help
	err = fs.Parse(args)
	fs.SetOutput(stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return cfg, "", "", err
		}
		return cfg, "", "", config.BadSetting(err)
	}
	if fs.NArg() > 0 {
		return cfg, "", "", config.BadSetting(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if cfg.Secret == "" {
		cfg.Secret = os.Getenv(sandboxSecretEnv)
	}
	var bad []error
	if cfg.Secret == "" {
		bad = append(bad, fmt.Errorf("no AMI secret: set %s or --secret", sandboxSecretEnv))
	}
	if cfg.Username == "" {
		bad = append(bad, errors.New("--user is empty"))
	}
	if err := wcbproto.CheckTrunk(cfg.Trunk); err != nil {
		bad = append(bad, fmt.Errorf("--trunk: %w", err))
	}
	if !(cfg.TimeScale > 0) || math.IsInf(cfg.TimeScale, 0) {
		bad = append(bad, fmt.Errorf("--time-scale %v: must be a positive number", cfg.TimeScale))
	}
	if cfg.MaxChannels < 0 {
		bad = append(bad, fmt.Errorf("--max-channels %d: must be 0 (unlimited) or more", cfg.MaxChannels))
	}
	if cfg.MaxCallsPerSecond < 0 || math.IsNaN(cfg.MaxCallsPerSecond) || math.IsInf(cfg.MaxCallsPerSecond, 0) {
		bad = append(bad, fmt.Errorf("--max-cps %v: must be 0 (unlimited) or more", cfg.MaxCallsPerSecond))
	}
	if cdrDB != "" && !strings.HasPrefix(cdrDB, "sqlite:") && !strings.HasPrefix(cdrDB, "mysql://") && !strings.HasPrefix(cdrDB, "postgres://") {
		bad = append(bad, errors.New("--cdr-db: want sqlite:<path>, mysql://... or postgres://..."))
	}
	return cfg, listen, cdrDB, config.BadSetting(errors.Join(bad...))
}

// runSandbox runs the sandbox PBX until ctx is canceled.
func runSandbox(ctx context.Context, args []string) error {
	return sandboxCommand(ctx, args, os.Stderr, nil)
}

// sandboxCommand is runSandbox logging to stderr; l, when not nil, is
// where it serves instead of --listen (tests: a port of their own).
func sandboxCommand(ctx context.Context, args []string, stderr io.Writer, l net.Listener) error {
	cfg, listen, cdrDB, err := parseSandboxFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	if cdrDB != "" {
		st, err := store.Open(ctx, cdrDB)
		if err != nil {
			if errors.Is(err, store.ErrBadDSN) {
				return config.BadSetting(fmt.Errorf("--cdr-db: %w", err))
			}
			return fmt.Errorf("--cdr-db %s: %w", config.RedactDSN(cdrDB), err)
		}
		defer st.Close()
		// Like Asterisk, the sandbox does not create the table: the
		// service's migrations do (webcallback migrate).
		if _, _, err := st.SearchCDRs(ctx, store.CDRFilter{Limit: 1}); err != nil {
			return fmt.Errorf("--cdr-db %s: no usable cdr table (run webcallback migrate --db on it first): %w", config.RedactDSN(cdrDB), err)
		}
		w := pbxcdr.New(st, cfg.Logger, nil)
		wctx, cancel := context.WithCancel(context.Background())
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			w.Stop(sctx) // write what the calls left
			scancel()
			cancel()
		}()
		go w.Run(wctx)
		cfg.CDRSink = w.Sink
		cfg.Logger.Info("writing CDRs into the cdr table", "db", config.RedactDSN(cdrDB))
	}
	srv := sandbox.New(cfg)
	if l == nil {
		if l, err = net.Listen("tcp", listen); err != nil {
			return fmt.Errorf("--listen %s: %w", listen, err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		cfg.Logger.Info("sandbox PBX shutting down")
		srv.Close()
		<-errc
		return nil
	case err := <-errc:
		srv.Close()
		if errors.Is(err, sandbox.ErrServerClosed) {
			// "core stop now" (AMI Command): the PBX stopped, as Asterisk's
			// process exits; the deferred CDR writer still writes its rows.
			return nil
		}
		return err
	}
}
