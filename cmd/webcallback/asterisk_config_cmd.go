package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
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
			"Renders %s and the database CDR backend of\n--db (--cdr-source table) for Asterisk 20/22 from the service's settings (flags, WEBCALLBACK_* env,\n"+
			"--config file: give it the file serve reads, so both agree). --install writes them into\n"+
			"%s (odbc.ini's data source into %s) and the prompts (zh, en) into %s,\n"+
			"from this binary alone.\n"+
			"See docs/asterisk.md.\n\n", strings.Join(asterisk.Files, ", "), asterisk.DefaultConfDir, asterisk.DefaultODBCIni, asterisk.DefaultSoundsDir)
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
	// odbc.ini is unixODBC's, not Asterisk's: --install merges its data
	// source into --odbc-ini; --out leaves it beside the rest to append.
	odbcINI, hasODBC := files["odbc.ini"]
	if k.Install && hasODBC && k.ODBCIni == "" {
		return config.BadSetting(errors.New("--odbc-ini: empty; the CDR backend's data source needs a file (default " + asterisk.DefaultODBCIni + ")"))
	}
	if k.Install {
		delete(files, "odbc.ini")
	}
	if err := asterisk.WriteFiles(k.Out, files); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "asterisk-config: wrote %s into %s\n", strings.Join(slices.Sorted(maps.Keys(files)), ", "), k.Out)
	if !k.Install {
		return nil
	}
	if hasODBC {
		if err := asterisk.InstallODBCIni(k.ODBCIni, odbcINI); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "asterisk-config: wrote the [%s] data source into %s\n", asterisk.ODBCDSN, k.ODBCIni)
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
		u, err := kitNode(cs.AMI, k.Node)
		if err != nil {
			return s, err
		}
		if u.User == nil || u.User.Username() == "" {
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

// kitNode picks the AMI URL of --ami to render the kit for: the only one,
// or with several (one per Asterisk node) the one whose host:port is node
// (--node): each node gets its own config set, rendered once per node.
func kitNode(list, node string) (*url.URL, error) {
	var names []string
	for _, raw := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Hostname() == "" {
			return nil, errors.New("--ami: want tcp://user:secret@host:5038 (several nodes: comma-separated)")
		}
		port := u.Port()
		if port == "" {
			port = map[bool]string{false: "5038", true: "5039"}[u.Scheme == "tls"]
		}
		name := net.JoinHostPort(u.Hostname(), port)
		if name == node || node == "" && !strings.Contains(list, ",") {
			return u, nil
		}
		names = append(names, name)
	}
	if node == "" {
		return nil, fmt.Errorf("--ami names %d Asterisk nodes: render each one's config with --node (one of %s)", len(names), strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("--node %s: not a node of --ami (%s)", node, strings.Join(names, ", "))
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
