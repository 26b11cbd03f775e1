package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"webcallback/deploy/asterisk"
	"webcallback/internal/config"
)

func init() {
	register("asterisk-config", "print the Asterisk config for the current settings", runAsteriskConfig)
}

func runAsteriskConfig(ctx context.Context, args []string) error {
	l := config.NewLoader("asterisk-config")
	l.FS.Usage = func() {
		fmt.Fprintf(l.FS.Output(), "usage: webcallback asterisk-config [--out DIR | --install] [settings]\n\n"+
			"Renders %s for Asterisk 20/22 from the service's settings (flags, WEBCALLBACK_* env,\n"+
			"--config file: give it the file serve reads, so both agree). --install writes them into\n"+
			"%s and the prompts (zh, en) into %s, from this binary alone.\n"+
			"See docs/asterisk.md.\n\n", strings.Join(asterisk.Files, ", "), asterisk.DefaultConfDir, asterisk.DefaultSoundsDir)
		l.PrintHelp(l.FS.Output())
	}
	if err := l.Parse(args); err != nil {
		return err
	}
	if l.FS.NArg() > 0 {
		return config.BadSetting(fmt.Errorf("unexpected arguments %q", l.FS.Args()))
	}
	k := &l.S.Kit
	s, err := kitSettings(l.S)
	if err != nil {
		return config.BadSetting(err)
	}
	files, err := asterisk.Render(s)
	if err != nil {
		return config.BadSetting(err)
	}
	warnMissing(os.Stderr, s.Missing())
	if strings.HasPrefix(l.S.AMI, "tls://") {
		fmt.Fprintf(os.Stderr, "asterisk-config: WARNING: --ami is tls://, but manager.conf is rendered for plain TCP: add tlsenable=yes, tlsbindaddr, tlscertfile and tlsprivatekey to its [general] (see docs/asterisk.md)\n")
	}
	if k.Install && k.Out == "" {
		k.Out = asterisk.DefaultConfDir
	}
	if k.Out == "" {
		return asterisk.WriteBundle(os.Stdout, files)
	}
	if err := asterisk.WriteFiles(k.Out, files); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "asterisk-config: wrote %s into %s\n", strings.Join(asterisk.Files, ", "), k.Out)
	if !k.Install {
		return nil
	}
	written, err := asterisk.InstallSounds(k.SoundsDir, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "asterisk-config: wrote %d prompts into %s/{%s}\n", len(written), k.SoundsDir, strings.Join(asterisk.Languages, ","))
	return nil
}

// kitSettings maps the service's settings and the kit flags onto the
// renderer's settings. The AMI user and secret come from --ami (and
// --ami-secret); with no secret the renderer writes a placeholder.
func kitSettings(cs *config.Settings) (asterisk.Settings, error) {
	k := &cs.Kit
	s := asterisk.DefaultSettings()
	s.Trunk, s.DID, s.Lang = cs.Trunk, cs.DID, cs.Lang
	s.CallLimit, s.CallWarning, s.CalleeRing, s.WarnCallee = cs.CallLimit, cs.CallWarning, cs.CalleeRing, cs.WarnCallee
	s.TrunkMode, s.SIPBind = k.TrunkMode, k.SIPBind
	switch k.TrunkMode {
	case asterisk.TrunkIP:
		host, port, err := net.SplitHostPort(k.Gateway)
		if err != nil {
			host, port = k.Gateway, "5060"
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return s, fmt.Errorf("--gateway %q: port %q is not a number", k.Gateway, port)
		}
		s.GatewayHost, s.GatewayPort = host, n
	case asterisk.TrunkRegister:
		s.RegisterServer, s.RegisterUsername, s.FromDomain = k.RegisterServer, k.RegisterUser, k.FromDomain
		s.RegisterPassword = k.RegisterPassword // --register-password-file read by config
	}

	// AMI account and address: from --ami when set (the service connects
	// there, so Asterisk listens there), else the loopback default.
	amiHost, amiPort := "127.0.0.1", "5038"
	if cs.AMI != "" {
		u, err := url.Parse(cs.AMI)
		if err != nil || u.User == nil || u.User.Username() == "" {
			return s, errors.New("--ami: want tcp://user:secret@host:5038")
		}
		s.AMIUser = u.User.Username()
		s.AMISecret, _ = u.User.Password()
		if h := u.Hostname(); h != "" && h != "localhost" {
			amiHost = h
		}
		if p := u.Port(); p != "" {
			amiPort = p
		}
	}
	if cs.AMISecret != "" {
		s.AMISecret = cs.AMISecret
	}
	for _, sample := range config.SampleSecrets {
		if strings.EqualFold(s.AMISecret, sample) {
			return s, fmt.Errorf("--ami: %q is a well-known sample secret; use a long random one (openssl rand -hex 24)", sample)
		}
	}
	s.AMIBind = net.JoinHostPort(amiHost, amiPort)
	if k.AMIBind != "" {
		s.AMIBind = k.AMIBind
	}
	if cs.CDRSource == "table" {
		// Asterisk writes every CDR into the table the service reads.
		target := cs.CDRTable
		if target == "" {
			target = cs.DB
		}
		cdr, err := asterisk.ParseCDRDatabase(target)
		if err != nil {
			return s, fmt.Errorf("--db / --cdr-table-db: %w", err)
		}
		s.CDR = cdr
	}
	s.AMIPermit = k.AMIPermit
	if s.AMIPermit == "" {
		host, _, _ := net.SplitHostPort(s.AMIBind)
		a, err := netip.ParseAddr(host)
		if err != nil || !a.IsLoopback() {
			return s, fmt.Errorf("AMI listens on %s, not loopback: say which host may log in with --ami-permit (e.g. 10.0.0.5/32)", s.AMIBind)
		}
		s.AMIPermit = netip.PrefixFrom(a, a.BitLen()).String()
	}
	return s, nil
}

// warnMissing tells the operator which secrets were left as placeholders.
func warnMissing(w io.Writer, missing []string) {
	for _, m := range missing {
		fmt.Fprintf(w, "asterisk-config: WARNING: no %s; a commented-out placeholder was written\n", m)
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "asterisk-config: set the secrets (WEBCALLBACK_AMI_SECRET, WEBCALLBACK_REGISTER_PASSWORD or the --*-file flags) and render again\n")
	}
}
