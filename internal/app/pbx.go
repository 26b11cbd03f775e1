package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"

	"webcallback/ami"
	"webcallback/internal/config"
	"webcallback/internal/sandbox"
)

// PBX is the AMI connection a command works with, and the in-process
// sandbox PBX behind it when --ami is empty.
type PBX struct {
	Client  *ami.Client
	Sandbox *sandbox.Server // nil on a real Asterisk
	Addr    string
}

// Close logs off and stops the sandbox, if any.
func (p *PBX) Close() {
	p.Client.Close()
	if p.Sandbox != nil {
		p.Sandbox.Close()
	}
}

// connectPBX connects to the Asterisk named by --ami or, with none, starts
// the sandbox PBX on a loopback port and connects to it exactly like to a
// real Asterisk: the production code path is the one that runs. edit, when
// not nil, is applied to the AMI client's config last (see WithAMIConfig).
//
// cdrSink, when not nil, is the sandbox's database CDR backend.
func connectPBX(ctx context.Context, s *config.Settings, log *slog.Logger, edit func(*ami.Config), cdrSink func(sandbox.CDRRecord)) (*PBX, error) {
	cfg := ami.Config{Events: s.AMIEvents, AuthMD5: s.AMIAuth == "md5", ReconnectMax: s.AMIReconnectMax,
		Logger: log.With("component", "ami")}
	p := &PBX{}
	if s.AMI == "" {
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
		p.Sandbox, p.Addr = sb, l.Addr().String()
		cfg.Addr = p.Addr
		log.Warn("no --ami given: using the built-in SANDBOX PBX; no real phone will ring",
			"addr", p.Addr, "time_scale", s.SandboxTimeScale)
	} else {
		e, err := s.AMIEndpoint()
		if err != nil {
			return nil, config.BadSetting(err)
		}
		cfg.Addr, cfg.Username, cfg.Secret = e.Addr, e.Username, e.Secret
		if e.TLS {
			tc, err := amiTLS(s, e)
			if err != nil {
				return nil, config.BadSetting(err)
			}
			cfg.TLS = tc
		}
		p.Addr = e.Addr
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := ami.Dial(ctx, cfg)
	if err != nil {
		if p.Sandbox != nil {
			p.Sandbox.Close()
		}
		return nil, fmt.Errorf("connect to AMI at %s: %w", cfg.Addr, err)
	}
	p.Client = c
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
