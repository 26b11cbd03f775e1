// Package asterisk renders the Asterisk side of webcallback: manager.conf
// (a least-privilege AMI user), pjsip.conf (the trunk), extensions.conf (the
// dialplan the engine originates into), cdr.conf, cdr_manager.conf and
// modules.conf, for Asterisk 20 and 22 with PJSIP.
//
// The dialplan is generated from internal/wcbproto, the contract shared with
// the engine and the sandbox PBX: its context, WCB_* variables and
// WebCallback UserEvents are those constants, and its cause → prompt tables
// are [wcbproto.CalleeOutcome] evaluated for every DIALSTATUS and Q.850
// cause, so the three cannot drift apart. [Render] writes the files for
// [Settings] (start from [DefaultSettings]); [ParseConf] reads them (or an
// operator's) back, which the tests here and in the sandbox use to check it.
package asterisk

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"webcallback/internal/wcbproto"
)

// Trunk modes.
const (
	// TrunkIP is a SIP gateway or carrier that trusts our IP address: no
	// registration, no digest auth; calls from its address are identified by IP.
	TrunkIP = "ip"
	// TrunkRegister is a carrier account: we register and answer digest
	// challenges with a user name and password.
	TrunkRegister = "register"
)

// Settings are what the rendered Asterisk configuration depends on.
// The zero value is not usable: start from DefaultSettings.
type Settings struct {
	// Trunk is the PJSIP endpoint name the engine dials through
	// (PJSIP/<number>@<Trunk>); it must match the engine's --trunk.
	Trunk string
	// TrunkMode is TrunkIP or TrunkRegister.
	TrunkMode string

	// GatewayHost and GatewayPort address the trunk in TrunkIP mode
	// (an IP address or a host name; port 5060 by default).
	GatewayHost string
	GatewayPort int

	// Register mode: the carrier's registrar/proxy (host[:port]), our account
	// and the domain of our From header (default: the server's host).
	RegisterServer   string
	RegisterUsername string
	RegisterPassword string // secret: goes only into pjsip.conf
	FromDomain       string

	// SIPBind is the UDP address:port chan_pjsip listens on.
	SIPBind string

	// AMIUser and AMISecret are the manager.conf account the service logs in
	// with. AMISecret goes only into manager.conf.
	AMIUser   string
	AMISecret string // secret
	// AMIBind is the address:port the manager interface listens on; keep it
	// on loopback unless the service runs on another host (then use TLS or
	// a tunnel, and narrow AMIPermit to that host).
	AMIBind string
	// AMIPermit is the network allowed to log in (everything else is denied).
	AMIPermit string

	// DID is our own number (digits); with it set, registrations carry it as
	// contact user so inbound calls to it are recognised. Optional.
	DID string
	// Lang is the prompt language when the engine sends none ("zh" or "en").
	Lang string

	// Fallbacks the dialplan uses when a WCB_* variable is missing or not a
	// number after FILTER(): a free call must never run without a limit.
	CallLimit   time.Duration
	CallWarning time.Duration
	CalleeRing  time.Duration
	WarnCallee  bool

	// CDR is the database Asterisk writes its CDRs into itself (the
	// service's --db, or --cdr-table-db); Kind CDRNone = AMI Cdr events only.
	CDR CDRDatabase
}

// DefaultSettings returns settings that render a complete configuration for
// an IP gateway on 127.0.0.1 with the production call limits, and no secret.
func DefaultSettings() Settings {
	return Settings{
		Trunk:       wcbproto.DefaultTrunk,
		TrunkMode:   TrunkIP,
		GatewayHost: "127.0.0.1",
		GatewayPort: 5060,
		SIPBind:     "0.0.0.0:5060",
		AMIUser:     "webcallback",
		AMIBind:     "127.0.0.1:5038",
		AMIPermit:   "127.0.0.1/32",
		Lang:        wcbproto.DefaultLang,
		CallLimit:   wcbproto.DefaultCallLimit,
		CallWarning: wcbproto.DefaultCallWarning,
		CalleeRing:  wcbproto.DefaultRing,
		WarnCallee:  true,
	}
}

// Missing lists the secrets that are not set; Render then writes a
// placeholder that cannot work (a commented-out line) in their place.
func (s Settings) Missing() []string {
	var m []string
	if s.AMISecret == "" {
		m = append(m, "AMI secret (manager.conf: the service cannot log in until it is set)")
	}
	if s.TrunkMode == TrunkRegister && s.RegisterPassword == "" {
		m = append(m, "trunk password (pjsip.conf: the registration fails until it is set)")
	}
	if (s.CDR.Kind == CDRMySQL || s.CDR.Kind == CDRPostgres) && s.CDR.Password == "" {
		m = append(m, "CDR database password (res_odbc.conf / cdr_pgsql.conf: Asterisk cannot write CDRs until it is set)")
	}
	return m
}

// Validate checks every value that lands in a configuration file: a value
// with a newline, a ';' or a '[' could inject sections or options, so names
// are tokens, numbers are digits and secrets are printable ASCII.
func (s Settings) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := wcbproto.CheckTrunk(s.Trunk); err != nil {
		errs = append(errs, err)
	}
	if !isName(s.AMIUser) {
		bad("AMI user %q: 1-40 letters, digits, '-' or '_'", s.AMIUser)
	}
	if err := checkSecret(s.AMISecret); err != nil {
		bad("AMI secret: %w", err)
	}
	switch s.TrunkMode {
	case TrunkIP:
		if !isHost(s.GatewayHost) {
			bad("gateway host %q: an IP address or a host name", s.GatewayHost)
		}
		if s.GatewayPort < 1 || s.GatewayPort > 65535 {
			bad("gateway port %d: 1-65535", s.GatewayPort)
		}
	case TrunkRegister:
		host, port := splitHostPort(s.RegisterServer)
		if !isHost(host) || (port != "" && !isPort(port)) {
			bad("register server %q: host or host:port", s.RegisterServer)
		}
		if !isSIPUser(s.RegisterUsername) {
			bad("register user name %q: 1-64 letters, digits or -_.+", s.RegisterUsername)
		}
		if err := checkSecret(s.RegisterPassword); err != nil {
			bad("trunk password: %w", err)
		}
		if s.FromDomain != "" && !isHost(s.FromDomain) {
			bad("from domain %q: a host name", s.FromDomain)
		}
	default:
		bad("trunk mode %q: %q or %q", s.TrunkMode, TrunkIP, TrunkRegister)
	}
	if host, port := splitHostPort(s.SIPBind); !isPort(port) || net.ParseIP(host) == nil {
		bad("SIP bind %q: ip:port", s.SIPBind)
	}
	if host, port := splitHostPort(s.AMIBind); !isPort(port) || net.ParseIP(host) == nil {
		bad("AMI bind %q: ip:port", s.AMIBind)
	}
	if _, err := netip.ParsePrefix(s.AMIPermit); err != nil {
		bad("AMI permit %q: a network such as 127.0.0.1/32", s.AMIPermit)
	}
	if s.DID != "" && !isDigits(s.DID) {
		bad("DID %q: digits only", s.DID)
	}
	if err := wcbproto.CheckLang(s.Lang); err != nil {
		errs = append(errs, err)
	}
	// errors.Join below drops the nil ones.
	errs = append(errs, wcbproto.CheckCallLimit(s.CallLimit), wcbproto.CheckCallWarning(s.CallWarning, s.CallLimit))
	if err := wcbproto.CheckRing(s.CalleeRing); err != nil {
		errs = append(errs, fmt.Errorf("callee ring: %w", err))
	}
	if err := s.CDR.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// amiPermit renders AMIPermit as manager.conf wants it: address/netmask.
func (s Settings) amiPermit() string {
	p, err := netip.ParsePrefix(s.AMIPermit)
	if err != nil || !p.Addr().Is4() {
		return s.AMIPermit // IPv6 prefixes are accepted as written
	}
	mask := net.CIDRMask(p.Bits(), 32)
	return p.Masked().Addr().String() + "/" + net.IP(mask).String()
}

func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return h, p
	}
	return hp, ""
}

func isName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isSIPUser(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.+", c)) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

func isPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// isHost accepts an IP address or a DNS name.
func isHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkSecret accepts "" (not set: a placeholder is rendered) or 8-128
// printable ASCII characters without spaces, quotes or backslashes: Asterisk
// trims spaces and treats ';' as a comment (escaped when rendered), and
// keeping to this set means no escaping surprises in either file.
func checkSecret(s string) error {
	if s == "" {
		return nil
	}
	if len(s) < 8 || len(s) > 128 {
		return errors.New("must be 8-128 characters")
	}
	for _, c := range s {
		if c <= ' ' || c > '~' || c == '"' || c == '\'' || c == '\\' {
			return errors.New("printable ASCII only, without spaces, quotes or backslashes")
		}
	}
	return nil
}

// confEscape escapes what Asterisk's config parser would take as a comment.
func confEscape(s string) string { return strings.ReplaceAll(s, ";", `\;`) }
