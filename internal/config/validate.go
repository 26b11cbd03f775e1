package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"webcallback/deploy/asterisk"
	"webcallback/internal/callflow"
	"webcallback/internal/policy"
	"webcallback/internal/policy/pow"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// Limits of durations whose larger values are mistakes, not policies.
const (
	maxQueueWait  = 10 * time.Minute
	maxCooldown   = 30 * 24 * time.Hour
	maxBackoff    = 7 * 24 * time.Hour
	maxConcurrent = 100_000
)

// Validate checks what flag parsing alone cannot: each bad value is one
// line naming its setting. The checks of a kind of value (trunk name,
// language, region, international prefix, number prefix) are the ones the
// engine, the policy and the Asterisk kit apply themselves.
func (s *Settings) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	kind := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
		}
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		bad("--listen %q: want host:port (%v)", s.Listen, err)
	}
	if s.DB == "" {
		bad("--db is empty: want sqlite:<path>, mysql://... or postgres://...")
	}
	if s.AMIReconnectMax < time.Second || s.AMIReconnectMax > 10*time.Minute {
		bad("--ami-reconnect-max must be 1s to 10m, not %s", s.AMIReconnectMax)
	}
	if s.SpoolMaxMB < 1 || s.SpoolMaxMB > 1<<20 {
		bad("--spool-max-mb must be 1 to %d (MiB), not %d", 1<<20, s.SpoolMaxMB)
	}
	if strings.ContainsRune(s.SpoolDir, 0) {
		bad("--spool-dir %q: not a path", s.SpoolDir)
	}
	if s.AMI != "" {
		if _, err := s.AMIEndpoints(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.AMIAuth != "md5" && s.AMIAuth != "plain" {
		bad("--ami-auth must be md5 or plain, not %q", s.AMIAuth)
	}
	if !finite(s.SandboxTimeScale) || !(s.SandboxTimeScale > 0 && s.SandboxTimeScale <= 100) {
		bad("--sandbox-time-scale must be in (0, 100], not %v", s.SandboxTimeScale)
	}
	if s.SandboxMaxChannels < 0 {
		bad("--sandbox-max-channels must be 0 (unlimited) or more, not %d", s.SandboxMaxChannels)
	}
	if !finite(s.SandboxMaxCPS) || s.SandboxMaxCPS < 0 {
		bad("--sandbox-max-cps must be 0 (unlimited) or more, not %v", s.SandboxMaxCPS)
	}
	kind("call-limit", wcbproto.CheckCallLimit(s.CallLimit))
	kind("call-warning", wcbproto.CheckCallWarning(s.CallWarning, s.CallLimit))
	kind("caller-ring", wcbproto.CheckRing(s.CallerRing))
	kind("callee-ring", wcbproto.CheckRing(s.CalleeRing))
	kind("trunk", wcbproto.CheckTrunk(s.Trunk))
	switch s.CallerIDMode {
	case callflow.CallerIDPartner:
	case callflow.CallerIDDID:
		if s.DID == "" {
			bad("--callerid-mode did needs --did")
		}
	default:
		bad("--callerid-mode must be partner or did, not %q", s.CallerIDMode)
	}
	if s.DID != "" && (strings.Trim(s.DID, "0123456789") != "" || len(s.DID) > 20) {
		bad("--did %q: 1-20 digits only", s.DID)
	}
	if s.MaxConcurrent < 1 || s.MaxConcurrent > maxConcurrent {
		bad("--max-concurrent must be from 1 to %d, not %d", maxConcurrent, s.MaxConcurrent)
	}
	if !finite(s.MaxCPS) || s.MaxCPS <= 0 {
		bad("--max-cps must be a positive number, not %v", s.MaxCPS)
	}
	if s.QueueSize < 0 {
		bad("--queue-size must be 0 or more, not %d", s.QueueSize)
	}
	if s.QueueWait > maxQueueWait {
		bad("--queue-wait must be at most %v, not %v", maxQueueWait, s.QueueWait)
	}
	if s.MaxStreams < 1 {
		bad("--max-streams must be at least 1, not %d", s.MaxStreams)
	}
	if s.MaxStreamsPerIP < 1 || s.MaxStreamsPerIP > s.MaxStreams {
		bad("--max-streams-per-ip must be from 1 to --max-streams (%d), not %d", s.MaxStreams, s.MaxStreamsPerIP)
	}
	if s.MaxConns < 1 {
		bad("--max-conns must be at least 1, not %d", s.MaxConns)
	}
	if s.MaxConnsPerIP < 1 || s.MaxConnsPerIP > s.MaxConns {
		bad("--max-conns-per-ip must be from 1 to --max-conns (%d), not %d", s.MaxConns, s.MaxConnsPerIP)
	}
	kind("lang", wcbproto.CheckLang(s.Lang))
	kind("region", policy.CheckRegion(s.Region))
	kind("international-prefix", policy.CheckInternationalPrefix(s.Policy.InternationalPrefix))
	for _, r := range s.Policy.AllowRegions {
		if r != "*" {
			kind("allow-regions", policy.CheckRegion(strings.ToUpper(r)))
		}
	}
	for _, p := range s.Policy.AllowPrefixes {
		kind("allow-prefixes", policy.CheckNumberPrefix(p))
	}
	for _, p := range s.Policy.DenyPrefixes {
		kind("deny-prefixes", policy.CheckNumberPrefix(p))
	}
	switch s.PoW {
	case policy.PoWAuto, policy.PoWAlways, policy.PoWOff:
	default:
		bad("--pow must be auto, always or off, not %q", s.PoW)
	}
	if d := s.Policy.PoWDifficulty; d < 0 || d > pow.MaxDifficulty {
		bad("--pow-difficulty must be from 0 to %d bits, not %d", pow.MaxDifficulty, d)
	}
	if s.Policy.PoWAutoRate < 1 {
		bad("--pow-auto-rate must be at least 1 request per minute, not %d", s.Policy.PoWAutoRate)
	}
	if s.Policy.DailyMinutes < 0 {
		bad("--daily-minutes must be 0 (no budget) or more, not %d", s.Policy.DailyMinutes)
	}
	if b := s.Policy.BackoffBase; b > maxBackoff {
		bad("--backoff-base must be at most %v, not %v", maxBackoff, b)
	}
	if m := s.Policy.BackoffMax; m < s.Policy.BackoffBase || m > maxBackoff {
		bad("--backoff-max must be from --backoff-base (%v) to %v, not %v", s.Policy.BackoffBase, maxBackoff, m)
	}
	for _, q := range []struct {
		name string
		n    int
	}{
		{"caller-connected-per-day", s.CallerConnectedPerDay}, {"caller-attempts-per-day", s.CallerAttemptsPerDay},
		{"caller-billsec-per-day", s.CallerBillsecPerDay}, {"caller-billsec-lifetime", s.CallerBillsecLifetime},
		{"callee-per-day", s.CalleePerDay}, {"caller-no-confirm-per-day", s.CallerNoConfirmPerDay},
	} {
		if q.n < 0 {
			bad("--%s must be 0 (no cap) or more, not %d", q.name, q.n)
		}
	}
	if s.CallerCooldown > maxCooldown {
		bad("--caller-cooldown must be at most %v, not %v", maxCooldown, s.CallerCooldown)
	}
	// A request may be in progress this long after it was made.
	if longest := s.QueueWait + s.CallerRing + s.CalleeRing + s.CallLimit; s.Retention != 0 && s.Retention <= longest {
		bad("--retention must be 0 (keep) or longer than a call can last (%v), not %v: it would delete calls in progress", longest, s.Retention)
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "" {
		bad("--timezone %q: not a known time zone (e.g. Asia/Shanghai, UTC)", s.TimeZone)
	}
	if _, err := time.LoadLocation(s.PBXTimeZone); err != nil || s.PBXTimeZone == "" {
		bad("--pbx-timezone %q: not a known time zone (e.g. Local, Asia/Shanghai, UTC)", s.PBXTimeZone)
	}
	kind("ami-events", checkAMIEvents(s.AMIEvents, s.CDRSource))
	switch s.CDRSource {
	case "ami":
	case "table":
		// --cdr-table-db empty: Asterisk writes into --db's own cdr table.
		if t := s.CDRTable; t != "" && !strings.HasPrefix(t, "sqlite:") && !strings.HasPrefix(t, "mysql://") && !strings.HasPrefix(t, "postgres://") {
			bad("--cdr-table-db: want sqlite:<path>, mysql://... or postgres://... (with ?table=name if not cdr)")
		}
	default:
		bad("--cdr-source must be ami or table, not %q", s.CDRSource)
	}
	if s.WebhookURL != "" {
		if !httpURL(s.WebhookURL) {
			bad("--webhook-url %q: want an http(s) URL with a host", s.WebhookURL)
		} else if s.WebhookSecret == "" {
			bad("--webhook-url needs --webhook-secret (bodies are signed)")
		}
	}
	if s.PublicURL != "" && !httpURL(s.PublicURL) {
		bad("--public-url %q: want an http(s) URL with a host", s.PublicURL)
	}
	if s.AdminToken != "" && len(s.AdminToken) < 16 {
		bad("--admin-token must be at least 16 characters")
	}
	if !validInstance(s.Instance) {
		bad("--instance %q: 1-64 letters, digits, '-', '_' and '.'", s.Instance)
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("--log-level must be debug, info, warn or error, not %q", s.LogLevel)
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		bad("--log-format must be text or json, not %q", s.LogFormat)
	}
	s.validateKit(bad)
	return errors.Join(errs...)
}

// validateKit checks the kit's own settings; the renderer checks the rest
// of what lands in a file (asterisk.Settings.Validate).
func (s *Settings) validateKit(bad func(string, ...any)) {
	k := s.Kit
	switch k.TrunkMode {
	case asterisk.TrunkIP, asterisk.TrunkRegister:
	default:
		bad("--trunk-mode must be %s or %s, not %q", asterisk.TrunkIP, asterisk.TrunkRegister, k.TrunkMode)
	}
	if _, _, err := net.SplitHostPort(k.SIPBind); err != nil {
		bad("--sip-bind %q: want address:port", k.SIPBind)
	}
	if k.AMIBind != "" {
		if _, _, err := net.SplitHostPort(k.AMIBind); err != nil {
			bad("--ami-bind %q: want address:port", k.AMIBind)
		}
	}
	if k.AMIPermit != "" {
		if _, err := netip.ParsePrefix(k.AMIPermit); err != nil {
			bad("--ami-permit %q: want a network such as 10.0.0.5/32", k.AMIPermit)
		}
	}
}

// Warnings are the dangerous but legal settings, one line each saying what
// it opens; serve logs each once at start.
func (s *Settings) Warnings() []string {
	var w []string
	if !s.Limits {
		w = append(w, "--limits off: per-IP, per-subnet, per-number and per-prefix limits and the eligibility quotas are DISABLED: anyone can make the service ring any number as often as they like; for load tests and development only")
	}
	if !s.CallerConfirm {
		w = append(w, "--caller-confirm off: the friend is rung without the caller pressing 1, so anyone can type in someone else's number as their own and make the service ring a stranger for them")
	}
	for _, p := range s.TrustedProxies {
		if p.Bits() == 0 {
			w = append(w, fmt.Sprintf("--trusted-proxies contains %s: every client's X-Forwarded-For is believed, so any client can pose as any address and escape the per-IP limits", p))
			break
		}
	}
	if s.Limits {
		def := store.DefaultRules()
		var off []string
		for _, q := range []struct {
			name     string
			now, def int
		}{
			{"caller-connected-per-day", s.CallerConnectedPerDay, def.CallerConnectedPerDay},
			{"caller-attempts-per-day", s.CallerAttemptsPerDay, def.CallerAttemptsPerDay},
			{"caller-billsec-per-day", s.CallerBillsecPerDay, def.CallerBillsecPerDay},
			{"caller-billsec-lifetime", s.CallerBillsecLifetime, def.CallerBillsecLifetime},
			{"callee-per-day", s.CalleePerDay, def.CalleePerDay},
			{"caller-no-confirm-per-day", s.CallerNoConfirmPerDay, def.CallerNoConfirmPerDay},
		} {
			if q.now == 0 && q.def != 0 {
				off = append(off, "--"+q.name)
			}
		}
		if len(off) > 0 {
			w = append(w, fmt.Sprintf("quotas off (%s = 0): a number may call, or be rung, without that daily cap", strings.Join(off, ", ")))
		}
	}
	return w
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validInstance: the instance name goes into the database and logs.
func validInstance(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Location is TimeZone loaded (Validate checked it).
func (s *Settings) Location() *time.Location { return loadLocation(s.TimeZone) }

// PBXLocation is PBXTimeZone loaded (Validate checked it).
func (s *Settings) PBXLocation() *time.Location { return loadLocation(s.PBXTimeZone) }

func loadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// AMIEndpoint is one parsed AMI URL of --ami: one Asterisk node.
type AMIEndpoint struct {
	TLS      bool
	Addr     string // host:port: the node's name everywhere (never the secret)
	Host     string
	Username string
	Secret   string
	// Per-node caps from the URL's query (?max_concurrent=N&max_cps=R),
	// for a node whose trunk or CPU differs from the others'; 0 = the
	// --max-concurrent and --max-cps settings.
	MaxConcurrent int
	MaxCPS        float64
}

// AMIEndpoint parses --ami when it names one node (the first of several).
func (s *Settings) AMIEndpoint() (AMIEndpoint, error) {
	es, err := s.AMIEndpoints()
	if err != nil {
		return AMIEndpoint{}, err
	}
	return es[0], nil
}

// AMIEndpoints parses --ami: a comma-separated list of AMI URLs, one per
// Asterisk node, each node named once. --ami-secret, when set, replaces
// the secret of every URL.
func (s *Settings) AMIEndpoints() ([]AMIEndpoint, error) {
	var out []AMIEndpoint
	seen := map[string]bool{}
	for i, raw := range strings.Split(s.AMI, ",") {
		e, err := s.parseAMI(strings.TrimSpace(raw))
		if err != nil {
			if strings.Contains(s.AMI, ",") {
				err = fmt.Errorf("node %d: %w", i+1, err)
			}
			return nil, err
		}
		if seen[e.Addr] {
			return nil, fmt.Errorf("--ami: node %s named twice", e.Addr)
		}
		seen[e.Addr] = true
		out = append(out, e)
	}
	return out, nil
}

// parseAMI parses one AMI URL of --ami.
func (s *Settings) parseAMI(raw string) (AMIEndpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return AMIEndpoint{}, fmt.Errorf("--ami: not a URL (want tcp://user:secret@host:5038)")
	}
	var e AMIEndpoint
	switch u.Scheme {
	case "tcp":
	case "tls":
		e.TLS = true
	default:
		return e, fmt.Errorf("--ami: scheme must be tcp or tls, not %q", u.Scheme)
	}
	if u.User == nil || u.User.Username() == "" {
		return e, fmt.Errorf("--ami: missing user name (tcp://user:secret@host:5038)")
	}
	e.Username = u.User.Username()
	e.Secret, _ = u.User.Password()
	if s.AMISecret != "" {
		e.Secret = s.AMISecret
	}
	if e.Secret == "" {
		return e, fmt.Errorf("--ami: missing secret (in the URL, WEBCALLBACK_AMI_SECRET or --ami-secret-file)")
	}
	e.Host = u.Hostname()
	port := u.Port()
	if port == "" {
		port = "5038"
		if e.TLS {
			port = "5039"
		}
	}
	if e.Host == "" {
		return e, fmt.Errorf("--ami: missing host")
	}
	e.Addr = net.JoinHostPort(e.Host, port)
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return e, fmt.Errorf("--ami %s: no path or fragment in an AMI URL", e.Addr)
	}
	for k, v := range u.Query() {
		var bad bool
		switch k {
		case "max_concurrent":
			n, err := strconv.Atoi(v[0])
			e.MaxConcurrent, bad = n, err != nil || n < 1 || len(v) > 1
		case "max_cps":
			f, err := strconv.ParseFloat(v[0], 64)
			e.MaxCPS, bad = f, err != nil || !finite(f) || !(f > 0) || len(v) > 1
		default:
			return e, fmt.Errorf("--ami %s: unknown parameter %q (max_concurrent, max_cps)", e.Addr, k)
		}
		if bad {
			return e, fmt.Errorf("--ami %s: %s wants one positive number", e.Addr, k)
		}
	}
	return e, nil
}

// Loopback reports whether the AMI host is this machine.
func (e AMIEndpoint) Loopback() bool {
	if e.Host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(e.Host)
	return err == nil && a.IsLoopback()
}

// CheckSecrets refuses a known sample AMI secret when AMI is reachable from
// elsewhere than this machine: that is how exposed AMI ports get abused.
func (s *Settings) CheckSecrets() error {
	if s.AMI == "" {
		return nil
	}
	es, err := s.AMIEndpoints()
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Loopback() {
			continue
		}
		for _, sample := range SampleSecrets {
			if strings.EqualFold(e.Secret, sample) {
				return fmt.Errorf("--ami %s: refusing a well-known sample secret for an AMI server that is not on loopback; set a long random secret in manager.conf", e.Addr)
			}
		}
		if len(e.Secret) < 12 {
			return fmt.Errorf("--ami %s: secret shorter than 12 characters for an AMI server that is not on loopback", e.Addr)
		}
	}
	return nil
}

// RedactAMI is --ami with every URL's secret replaced (for logs).
func RedactAMI(list string) string {
	parts := strings.Split(list, ",")
	for i, raw := range parts {
		u, err := url.Parse(strings.TrimSpace(raw))
		switch {
		case err != nil:
			parts[i] = "(unparsable)"
		case u.User != nil:
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// Redacted returns the settings as name=value pairs for the start-up log,
// with every secret replaced.
func (s *Settings) Redacted() []any {
	ami := RedactAMI(s.AMI)
	return []any{
		"listen", s.Listen, "db", RedactDSN(s.DB), "ami", ami, "sandbox", s.AMI == "",
		"call_limit", s.CallLimit, "call_warning", s.CallWarning, "region", s.Region,
		"limits", s.Limits, "admin", s.AdminToken != "", "instance", s.Instance,
		"max_concurrent", s.MaxConcurrent, "max_cps", s.MaxCPS, "cdr_source", s.CDRSource,
	}
}

// RedactDSN hides the password of a database URL.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

// amiEventClasses are the event classes a manager.conf user can be given
// (Asterisk's manager.c), "on" and "all" being every class.
var amiEventClasses = []string{"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
	"reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message", "all", "on"}

// checkAMIEvents checks the Login's Events value: classes of
// amiEventClasses, among them the ones the service reads: call (the
// calls' progress), user (the dialplan's stages), system (Shutdown and
// FullyBooted: a stopped or restarted PBX, not a dropped link) and, with
// --cdr-source ami, cdr. Without one of them calls would end misread or
// never, with no word of why.
func checkAMIEvents(events, cdrSource string) error {
	need := []string{"call", "user", "system"}
	if cdrSource == "ami" {
		need = append(need, "cdr")
	}
	have := map[string]bool{}
	for _, c := range strings.Split(events, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if !slices.Contains(amiEventClasses, c) {
			return fmt.Errorf("%q is not an AMI event class (%s)", c, strings.Join(amiEventClasses, ", "))
		}
		have[c] = true
	}
	if have["on"] || have["all"] {
		return nil
	}
	var missing []string
	for _, c := range need {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%q lacks %s, which the service reads", events, strings.Join(missing, ","))
	}
	return nil
}
