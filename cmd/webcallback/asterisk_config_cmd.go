package main

import (
	"context"
	"errors"
	"flag"
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

// kitFlags are the settings only the Asterisk side needs; the shared ones
// (--ami, --trunk, --did, --lang, --call-limit, ...) come from config.
type kitFlags struct {
	out              string
	trunkMode        string
	gateway          string
	registerServer   string
	registerUser     string
	registerPassword string
	passwordFile     string
	fromDomain       string
	sipBind          string
	amiBind          string
	amiPermit        string
}

func (k *kitFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.out, "out", "", "write the files into this directory (e.g. /etc/asterisk) instead of printing them")
	fs.StringVar(&k.trunkMode, "trunk-mode", asterisk.TrunkIP, "ip (a gateway that trusts our address) or register (a carrier account with digest auth)")
	fs.StringVar(&k.gateway, "gateway", "127.0.0.1:5060", "trunk-mode ip: the gateway's host[:port]")
	fs.StringVar(&k.registerServer, "register-server", "", "trunk-mode register: the carrier's registrar host[:port]")
	fs.StringVar(&k.registerUser, "register-user", "", "trunk-mode register: the account's user name")
	fs.StringVar(&k.registerPassword, "register-password", "", "trunk-mode register: the account's password (prefer the env variable or --register-password-file: flags show in process listings)")
	fs.StringVar(&k.passwordFile, "register-password-file", "", "read --register-password from this file (first line)")
	fs.StringVar(&k.fromDomain, "from-domain", "", "trunk-mode register: domain of our From header (default: the registrar's host)")
	fs.StringVar(&k.sipBind, "sip-bind", "0.0.0.0:5060", "address:port chan_pjsip listens on (UDP)")
	fs.StringVar(&k.amiBind, "ami-bind", "", "address:port of the manager interface (default: the host and port of --ami, else 127.0.0.1:5038)")
	fs.StringVar(&k.amiPermit, "ami-permit", "", "network allowed to log in to AMI (default: 127.0.0.1/32 when AMI is on loopback; required otherwise)")
}

// kitFlagNames lists the flags above that also read WEBCALLBACK_<NAME>.
var kitFlagNames = []string{"out", "trunk-mode", "gateway", "register-server", "register-user", "register-password",
	"register-password-file", "from-domain", "sip-bind", "ami-bind", "ami-permit"}

func runAsteriskConfig(ctx context.Context, args []string) error {
	l := config.NewLoader("asterisk-config")
	var k kitFlags
	k.register(l.FS)
	l.FS.Usage = func() {
		fmt.Fprintf(l.FS.Output(), "usage: webcallback asterisk-config [--out DIR] [settings]\n\n"+
			"Renders manager.conf, pjsip.conf, extensions.conf, cdr.conf, cdr_manager.conf and\n"+
			"modules.conf for Asterisk 20/22 from the service's settings (flags, WEBCALLBACK_* env,\n"+
			"--config file). See docs/asterisk.md.\n\n")
		l.FS.PrintDefaults()
	}
	if err := l.Parse(args); err != nil {
		return err
	}
	if err := applyKitEnv(l.FS); err != nil {
		return err
	}
	s, err := kitSettings(l.S, &k)
	if err != nil {
		return err
	}
	files, err := asterisk.Render(s)
	if err != nil {
		return err
	}
	warnMissing(os.Stderr, s.Missing())
	if strings.HasPrefix(l.S.AMI, "tls://") {
		fmt.Fprintf(os.Stderr, "asterisk-config: WARNING: --ami is tls://, but manager.conf is rendered for plain TCP: add tlsenable=yes, tlsbindaddr, tlscertfile and tlsprivatekey to its [general] (see docs/asterisk.md)\n")
	}
	if k.out == "" {
		return asterisk.WriteBundle(os.Stdout, files)
	}
	if err := asterisk.WriteFiles(k.out, files); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "asterisk-config: wrote %s into %s\n", strings.Join(asterisk.Files, ", "), k.out)
	return nil
}

// applyKitEnv fills the kit flags the command line did not set from their
// WEBCALLBACK_* variables, as config does for the shared settings.
func applyKitEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range kitFlagNames {
		if set[name] {
			continue
		}
		if v, ok := os.LookupEnv(config.EnvName(name)); ok {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("env %s: %w", config.EnvName(name), err)
			}
		}
	}
	return nil
}

// kitSettings maps the service's settings and the kit flags onto the
// renderer's settings. The AMI user and secret come from --ami (and
// --ami-secret); with no secret the renderer writes a placeholder.
func kitSettings(cs *config.Settings, k *kitFlags) (asterisk.Settings, error) {
	s := asterisk.DefaultSettings()
	s.Trunk, s.DID, s.Lang = cs.Trunk, cs.DID, cs.Lang
	s.CallLimit, s.CallWarning, s.CalleeRing, s.WarnCallee = cs.CallLimit, cs.CallWarning, cs.CalleeRing, cs.WarnCallee
	s.TrunkMode, s.SIPBind = k.trunkMode, k.sipBind
	switch k.trunkMode {
	case asterisk.TrunkIP:
		host, port, err := net.SplitHostPort(k.gateway)
		if err != nil {
			host, port = k.gateway, "5060"
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return s, fmt.Errorf("--gateway %q: port %q is not a number", k.gateway, port)
		}
		s.GatewayHost, s.GatewayPort = host, n
	case asterisk.TrunkRegister:
		s.RegisterServer, s.RegisterUsername, s.FromDomain = k.registerServer, k.registerUser, k.fromDomain
		s.RegisterPassword = k.registerPassword
		if k.passwordFile != "" {
			b, err := os.ReadFile(k.passwordFile)
			if err != nil {
				return s, fmt.Errorf("--register-password-file: %w", err)
			}
			line, _, _ := strings.Cut(string(b), "\n")
			s.RegisterPassword = strings.TrimRight(line, "\r")
		}
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
	if k.amiBind != "" {
		s.AMIBind = k.amiBind
	}
	s.AMIPermit = k.amiPermit
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
