package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"webcallback/ami"
	"webcallback/internal/config"
	"webcallback/internal/sandbox"
)

// PBX is the AMI connection to one Asterisk node a command works with,
// and the in-process sandbox PBX behind it when --ami is empty.
type PBX struct {
	Client  *ami.Client
	Sandbox *sandbox.Server // nil on a real Asterisk
	// SandboxStarted is when this process started Sandbox: a PBX younger
	// than every call a previous run left (callflow.Config.PBXStartedAt).
	SandboxStarted time.Time
	Addr           string // host:port: the node's name (Request.Node, metrics, admin)
	// The node's caps: its URL's max_concurrent and max_cps, else
	// --max-concurrent and --max-cps.
	MaxConcurrent int
	MaxCPS        float64
}

// Close logs off and stops the sandbox, if any.
func (p *PBX) Close() {
	p.Client.Close()
	if p.Sandbox != nil {
		p.Sandbox.Close()
	}
}

// connectPBXs connects to every Asterisk node --ami names or, with none,
// to the built-in sandbox (connectPBX). On error the nodes already
// connected are closed.
func connectPBXs(ctx context.Context, s *config.Settings, log *slog.Logger, edit func(*ami.Config), cdrSink func(sandbox.CDRRecord)) ([]*PBX, error) {
	if s.AMI == "" {
		p, err := connectPBX(ctx, s, log, nil, edit, cdrSink)
		if err != nil {
			closeIf(p)
			return nil, err
		}
		return []*PBX{p}, nil
	}
	es, err := s.AMIEndpoints()
	if err != nil {
		return nil, config.BadSetting(err)
	}
	if len(es) == 1 {
		p, err := connectPBX(ctx, s, log, &es[0], edit, nil)
		if err != nil {
			closeIf(p)
			return nil, err
		}
		return []*PBX{p}, nil
	}
	// Several nodes: the service starts with at least one up; the others
	// get no calls (their link is down) until they answer.
	out := make([]*PBX, len(es))
	errs := make([]error, len(es))
	var wg sync.WaitGroup
	for i := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = connectPBX(ctx, s, log, &es[i], edit, nil)
		}()
	}
	wg.Wait()
	var up int
	for i, p := range out {
		switch {
		case errs[i] == nil:
			up++
		case p != nil: // down for now
			log.Warn("Asterisk node down at start; it gets calls once it answers", "node", p.Addr, "err", errs[i])
			go keepConnecting(p.Client, log)
		}
	}
	if up == 0 {
		for _, p := range out {
			closeIf(p)
		}
		return nil, fmt.Errorf("no Asterisk node answers: %w", errors.Join(errs...))
	}
	for i, err := range errs {
		if err != nil && out[i] == nil {
			for _, p := range out {
				closeIf(p)
			}
			return nil, err // a setting's fault (config.BadSetting)
		}
	}
	return out, nil
}

// closeIf closes p's client, when there is one (a node that failed to connect).
func closeIf(p *PBX) {
	if p != nil && p.Client != nil {
		p.Client.Close()
	}
}

// nodeRetry is how often a node that was down at start is tried again.
const nodeRetry = 2 * time.Second

// keepConnecting retries the first connection of a node that was down at
// start until it succeeds or the client is closed (from then on the
// client reconnects by itself).
func keepConnecting(c *ami.Client, log *slog.Logger) {
	for {
		err := c.Connect(context.Background())
		if err == nil || errors.Is(err, ami.ErrClosed) {
			return
		}
		time.Sleep(nodeRetry) // Close makes the next Connect return ErrClosed
	}
}

// connectPBX connects to the Asterisk node e or, with none, starts the
// sandbox PBX on a loopback port and connects to it exactly like to a
// real Asterisk: the production code path is the one that runs. edit, when
// not nil, is applied to the AMI client's config last (see WithAMIConfig).
//
// cdrSink, when not nil, is the sandbox's database CDR backend.
func connectPBX(ctx context.Context, s *config.Settings, log *slog.Logger, e *config.AMIEndpoint, edit func(*ami.Config), cdrSink func(sandbox.CDRRecord)) (*PBX, error) {
	cfg := ami.Config{Events: s.AMIEvents, AuthMD5: s.AMIAuth == "md5", ReconnectMax: s.AMIReconnectMax}
	p := &PBX{MaxConcurrent: s.MaxConcurrent, MaxCPS: s.MaxCPS}
	if e == nil {
		secret := make([]byte, 16)
		rand.Read(secret)
		cfg.Username, cfg.Secret = "webcallback", hex.EncodeToString(secret)
		sb := sandbox.New(sandbox.Config{
			Username:          cfg.Username,
			Secret:            cfg.Secret,
			TimeScale:         s.SandboxTimeScale,
			Seed:              s.SandboxSeed,
			Trunk:             s.Trunk,
			MaxChannels:       s.SandboxMaxChannels,
			MaxCallsPerSecond: s.SandboxMaxCPS,
			Logger:            log,
			CDRSink:           cdrSink,
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("sandbox PBX: %w", err)
		}
		go sb.Serve(l)
		p.Sandbox, p.SandboxStarted, p.Addr = sb, time.Now(), l.Addr().String()
		cfg.Addr = p.Addr
		log.Warn("no --ami given: using the built-in SANDBOX PBX; no real phone will ring",
			"addr", p.Addr, "time_scale", s.SandboxTimeScale)
	} else {
		cfg.Addr, cfg.Username, cfg.Secret = e.Addr, e.Username, e.Secret
		if e.TLS {
			tc, err := amiTLS(s, *e)
			if err != nil {
				return nil, config.BadSetting(err)
			}
			cfg.TLS = tc
		}
		p.Addr = e.Addr
		if e.MaxConcurrent > 0 {
			p.MaxConcurrent = e.MaxConcurrent
		}
		if e.MaxCPS > 0 {
			p.MaxCPS = e.MaxCPS
		}
	}
	cfg.Logger = log.With("component", "ami")
	if edit != nil {
		edit(&cfg)
	}
	p.Client = ami.New(cfg)
	if err := p.Client.Connect(ctx); err != nil {
		if p.Sandbox != nil {
			p.Sandbox.Close()
		}
		// p (not yet connected, Client usable) lets a pool of several
		// nodes start without this one.
		return p, fmt.Errorf("connect to AMI at %s: %w", cfg.Addr, err)
	}
	return p, nil
}

// amiTLS builds the TLS settings for tls:// AMI: verified against the
// system roots or --ami-ca-file, never skipped.
func amiTLS(s *config.Settings, e config.AMIEndpoint) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.Host}
	if s.AMIServerName != "" {
		tc.ServerName = s.AMIServerName
	}
	if s.AMICAFile != "" {
		pem, err := os.ReadFile(s.AMICAFile)
		if err != nil {
			return nil, fmt.Errorf("--ami-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ami-ca-file %s: no PEM certificate in it", s.AMICAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
