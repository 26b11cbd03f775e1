// Package config holds every setting of the service and loads it from, in
// this order of precedence: command-line flags, WEBCALLBACK_<NAME>
// environment variables, an optional settings file (--config), defaults.
//
// Secrets (AMI secret, database password, admin token, webhook secret) may
// also come from files (--*-file), so they need not sit in the environment
// or in a process listing; they are never logged or printed (Redacted).
package config

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // quota days need zones even on machines without zoneinfo

	"webcallback/internal/policy"
	"webcallback/internal/store"
)

// Settings is every setting of every command. docs/design.md §6 names the
// contract ones; the rest may grow.
type Settings struct {
	Listen string
	DB     string
	// Migrate runs the embedded migrations at start.
	Migrate bool

	AMI           string // tcp://user:secret@host:5038, tls://...; "" = built-in sandbox PBX
	AMISecret     string // overrides the URL's secret (from env or --ami-secret-file)
	AMIAuth       string // "md5" (challenge) or "plain"
	AMIEvents     string
	AMICAFile     string // PEM CA for tls:// (default: system roots)
	AMIServerName string

	SandboxTimeScale   float64
	SandboxSeed        int64
	SandboxMaxChannels int
	SandboxMaxCPS      float64

	CallLimit    time.Duration
	CallWarning  time.Duration
	WarnCallee   bool
	CallerRing   time.Duration
	CalleeRing   time.Duration
	Trunk        string
	CallerIDMode string // partner | did
	DID          string

	MaxConcurrent int
	MaxCPS        float64
	QueueSize     int
	QueueWait     time.Duration
	Instance      string

	Region         string
	Lang           string
	Limits         bool
	PoW            string // auto | always | off
	TrustedProxies []netip.Prefix

	// Eligibility (the store's atomic quotas).
	CallerConnectedPerDay int
	CallerAttemptsPerDay  int
	CallerBillsecPerDay   int
	CallerBillsecLifetime int
	CallerCooldown        time.Duration
	CalleePerDay          int
	TimeZone              string
	PBXTimeZone           string

	// Policy holds the abuse limits (per IP, subnet, number, prefix),
	// destination rules and proof-of-work tuning; PolicyConfig adds the
	// shared settings to it.
	Policy policy.Config
	PoWKey string

	AdminToken    string
	WebhookURL    string
	WebhookSecret string
	PublicURL     string
	MaxStreams    int

	CDRSource string // "ami" or "table"
	CDRTable  string // DSN of the external cdr table for CDRSource "table" ("" = --db)
	Retention time.Duration

	LogLevel  string
	LogFormat string
}

// Sample secrets from documentation and the original system; serve refuses
// them when AMI is not on loopback.
var SampleSecrets = []string{"123456", "secret", "password", "admin", "amp111", "mysecret", "changeme", "webcallback", "1234", "12345678", "passw0rd", "asterisk", "manager", "pass", "test", "default", "0000"}

// setting describes one flag.
type setting struct {
	name  string
	usage string
	file  bool // also accepts --<name>-file
}

// Load is what every command calls: register all settings (and the
// command's own flags, added to fs by the caller before Load), parse args,
// then fill what the command line did not set from the environment and the
// settings file.
type Loader struct {
	FS          *flag.FlagSet
	S           *Settings
	settings    []setting
	config      string
	secretFiles map[string]*string
}

// NewLoader returns a FlagSet with every setting registered, bound to a
// Settings with the defaults.
func NewLoader(command string) *Loader {
	fs := flag.NewFlagSet("webcallback "+command, flag.ContinueOnError)
	s := &Settings{}
	l := &Loader{FS: fs, S: s, secretFiles: map[string]*string{}}
	host, _ := os.Hostname()
	if host == "" {
		host = "webcallback"
	}
	str := func(p *string, name, def, usage string) { fs.StringVar(p, name, def, usage); l.add(name, usage) }
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		fs.Var(&durationValue{p}, name, usage+" (e.g. 300s, 5m, 90d)")
		*p = def
		l.add(name, usage)
	}
	intv := func(p *int, name string, def int, usage string) { fs.IntVar(p, name, def, usage); l.add(name, usage) }
	flt := func(p *float64, name string, def float64, usage string) {
		fs.Float64Var(p, name, def, usage)
		l.add(name, usage)
	}
	boolv := func(p *bool, name string, def bool, usage string) {
		fs.BoolVar(p, name, def, usage)
		l.add(name, usage)
	}
	secret := func(p *string, name, usage string) {
		fs.StringVar(p, name, "", usage+" (prefer the env variable or --"+name+"-file: flags show in process listings)")
		l.add(name, usage)
		f := new(string)
		fs.StringVar(f, name+"-file", "", "read "+name+" from this file (first line)")
		l.add(name+"-file", "read "+name+" from this file")
		l.secretFiles[name] = f
	}

	fs.StringVar(&l.config, "config", "", "settings file: one 'name = value' per line, names as the flags ('#' comments)")
	str(&s.Listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	str(&s.DB, "db", "sqlite:data/webcallback.db", "database: sqlite:<path>, mysql://user:pass@host:3306/db or postgres://user:pass@host:5432/db")
	boolv(&s.Migrate, "migrate", true, "apply database migrations at start")
	str(&s.AMI, "ami", "", "Asterisk AMI: tcp://user:secret@host:5038 or tls://user:secret@host:5039; empty = the built-in sandbox PBX")
	secret(&s.AMISecret, "ami-secret", "AMI secret (overrides the one in --ami)")
	str(&s.AMIAuth, "ami-auth", "md5", "AMI login: md5 (challenge, the secret never crosses the wire) or plain")
	str(&s.AMIEvents, "ami-events", "call,cdr,user", "AMI event classes to receive (at least call,cdr,user)")
	str(&s.AMICAFile, "ami-ca-file", "", "PEM CA certificate(s) to verify the AMI TLS server (default: system roots)")
	str(&s.AMIServerName, "ami-server-name", "", "TLS server name of the AMI server (default: the --ami host)")
	flt(&s.SandboxTimeScale, "sandbox-time-scale", 1, "sandbox PBX time scale: 1 = real time, 0.01 makes a 300 s call last 3 s")
	fs.Int64Var(&s.SandboxSeed, "sandbox-seed", 0, "sandbox PBX random seed (0 = from the clock)")
	l.add("sandbox-seed", "")
	intv(&s.SandboxMaxChannels, "sandbox-max-channels", 0, "sandbox trunk capacity in channels (0 = unlimited)")
	flt(&s.SandboxMaxCPS, "sandbox-max-cps", 0, "sandbox trunk call-rate limit per second (0 = unlimited)")
	dur(&s.CallLimit, "call-limit", 300*time.Second, "talk time limit of one call")
	dur(&s.CallWarning, "call-warning", 20*time.Second, "spoken warning this long before the limit (0 = none)")
	boolv(&s.WarnCallee, "warn-callee", true, "play the warning to the callee too")
	dur(&s.CallerRing, "caller-ring", 30*time.Second, "how long the caller's phone rings (Originate timeout)")
	dur(&s.CalleeRing, "callee-ring", 30*time.Second, "how long the friend's phone rings (Dial timeout)")
	str(&s.Trunk, "trunk", "gateway", "PJSIP endpoint of the trunk")
	str(&s.CallerIDMode, "callerid-mode", "partner", "caller ID each side sees: partner (the other's number, as the original) or did (--did)")
	str(&s.DID, "did", "", "our own number (digits) shown as caller ID with --callerid-mode did")
	intv(&s.MaxConcurrent, "max-concurrent", 100, "maximum callbacks in progress at once")
	flt(&s.MaxCPS, "max-cps", 5, "maximum originations per second")
	intv(&s.QueueSize, "queue-size", 100, "requests that may wait for capacity; beyond: system_busy at once")
	dur(&s.QueueWait, "queue-wait", 15*time.Second, "longest wait in the queue before system_busy")
	str(&s.Instance, "instance", host, "name of this service instance (several may share one database)")
	str(&s.Region, "region", "CN", "home region for phone numbers (ISO 3166 code)")
	str(&s.Lang, "lang", "zh", "default language of pages and prompts: zh or en")
	fs.Var(&onOffValue{&s.Limits}, "limits", "on (default) or off: off disables per-IP, per-number and per-prefix rate limits and eligibility, for load tests and development only")
	s.Limits = true
	l.add("limits", "")
	str(&s.PoW, "pow", "auto", "proof-of-work challenge on the public form: auto (under load), always or off")
	l.policyFlags()
	fs.Var(&prefixesValue{&s.TrustedProxies}, "trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (default: none; client IP from the socket)")
	l.add("trusted-proxies", "")
	def := store.DefaultRules() // one source for the eligibility defaults
	intv(&s.CallerConnectedPerDay, "caller-connected-per-day", def.CallerConnectedPerDay, "connected calls per caller number per day (0 = no cap)")
	intv(&s.CallerAttemptsPerDay, "caller-attempts-per-day", def.CallerAttemptsPerDay, "requests per caller number per day (0 = no cap)")
	intv(&s.CallerBillsecPerDay, "caller-billsec-per-day", def.CallerBillsecPerDay, "talk seconds per caller number per day (0 = no cap)")
	intv(&s.CallerBillsecLifetime, "caller-billsec-lifetime", def.CallerBillsecLifetime, "talk seconds per caller number ever (0 = no cap)")
	dur(&s.CallerCooldown, "caller-cooldown", def.CallerCooldown, "minimum time between two requests of one caller number")
	intv(&s.CalleePerDay, "callee-per-day", def.CalleePerDay, "requests ringing one callee number per day, from any caller (0 = no cap)")
	str(&s.TimeZone, "timezone", "Asia/Shanghai", "time zone where a quota day starts")
	str(&s.PBXTimeZone, "pbx-timezone", "Local", "time zone of the Asterisk server's clock, in which Cdr events give their times (Local = this machine's, right for the sandbox and an Asterisk on this host)")
	secret(&s.PoWKey, "pow-key", "key that signs proof-of-work challenges; give every instance behind one load balancer the same (default: random per process)")
	secret(&s.AdminToken, "admin-token", "bearer token of the admin API and dashboard (empty = admin disabled)")
	str(&s.WebhookURL, "webhook-url", "", "POST status changes here (empty = no webhooks)")
	secret(&s.WebhookSecret, "webhook-secret", "HMAC-SHA256 key that signs webhook bodies")
	intv(&s.MaxStreams, "max-streams", 10000, "open live-progress streams (SSE) one instance holds; beyond: 503 (about 32 KB each)")
	str(&s.PublicURL, "public-url", "", "public base URL of the service, for links in webhooks")
	str(&s.CDRSource, "cdr-source", "ami", "where CDRs come from: ami (Cdr events) or table (a cdr table Asterisk fills itself)")
	str(&s.CDRTable, "cdr-table-db", "", "for --cdr-source table: the database Asterisk writes CDRs to, as --db, with ?table=name if not cdr")
	dur(&s.Retention, "retention", 0, "delete requests and CDRs older than this (0 = keep)")
	str(&s.LogLevel, "log-level", "info", "debug, info, warn or error")
	str(&s.LogFormat, "log-format", "text", "text or json")
	return l
}

// policyFlags binds the abuse-protection settings to s.Policy, starting
// from the policy's safe defaults.
func (l *Loader) policyFlags() {
	fs, p := l.FS, &l.S.Policy
	*p = policy.DefaultConfig()
	limit := func(v *policy.Limit, name, what string) {
		fs.Var(policy.LimitValue(v), name, "requests "+what+": N/window (e.g. 10/10m) or off")
		l.add(name, "")
	}
	limit(&p.PerIP, "limit-per-ip", "per client IP address")
	limit(&p.PerSubnet, "limit-per-subnet", "per client subnet (/24, /64)")
	limit(&p.PerCaller, "limit-per-caller", "per caller number")
	limit(&p.PerCallee, "limit-per-callee", "per callee number (call bombing)")
	limit(&p.PerPrefix, "limit-per-prefix", "per number prefix (number minus its last 4 digits)")
	for _, d := range []struct {
		p     *time.Duration
		name  string
		usage string
	}{
		{&p.BackoffBase, "backoff-base", "first back-off after a limit is exceeded; doubles per strike"},
		{&p.BackoffMax, "backoff-max", "longest back-off"},
	} {
		fs.Var(&durationValue{d.p}, d.name, d.usage)
		l.add(d.name, "")
	}
	fs.IntVar(&p.DailyMinutes, "daily-minutes", p.DailyMinutes, "talk-minute budget of the whole service per day (0 = none)")
	fs.Var(policy.ListValue(&p.AllowRegions), "allow-regions", "regions besides --region whose numbers may be rung (e.g. HK,MO; * = all)")
	fs.Var(policy.ListValue(&p.AllowPrefixes), "allow-prefixes", "E.164 prefixes allowed whatever their region (e.g. +852)")
	fs.Var(policy.ListValue(&p.DenyPrefixes), "deny-prefixes", "E.164 prefixes always refused (deny wins)")
	fs.Var(policy.TypesValue(&p.AllowedTypes), "allowed-number-types", "number types that may be rung (default mobile,fixed_line,fixed_line_or_mobile)")
	fs.StringVar(&p.InternationalPrefix, "international-prefix", p.InternationalPrefix, "dialled before the country code of numbers outside --region")
	fs.IntVar(&p.PoWDifficulty, "pow-difficulty", p.PoWDifficulty, "proof-of-work leading zero bits (16 is about a second in a browser)")
	fs.IntVar(&p.PoWAutoRate, "pow-auto-rate", p.PoWAutoRate, "with --pow auto: requests per minute that switch the challenge on")
	for _, n := range []string{"daily-minutes", "allow-regions", "allow-prefixes", "deny-prefixes", "allowed-number-types", "international-prefix", "pow-difficulty", "pow-auto-rate"} {
		l.add(n, "")
	}
}

// PolicyConfig is the policy's config: the abuse settings plus the shared
// region, limits switch, proof-of-work mode, call limit and quota zone.
func (s *Settings) PolicyConfig() policy.Config {
	c := s.Policy
	c.Region, c.Limits, c.PoW = s.Region, s.Limits, s.PoW
	c.CallLimit, c.Location = s.CallLimit, s.Location()
	if s.PoWKey != "" {
		c.PoWKey = []byte(s.PoWKey)
	}
	return c
}

func (l *Loader) add(name, usage string) {
	l.settings = append(l.settings, setting{name: name, usage: usage})
}

// EnvName is the environment variable of a setting: WEBCALLBACK_CALL_LIMIT.
func EnvName(name string) string {
	return "WEBCALLBACK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args, then applies the environment and the settings file to
// every setting the command line did not set, reads secret files and checks
// the result.
func (l *Loader) Parse(args []string) error {
	if err := l.FS.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	l.FS.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		if v, ok := os.LookupEnv("WEBCALLBACK_CONFIG"); ok {
			l.config = v
		}
	}
	fileVals := map[string]string{}
	if l.config != "" {
		var err error
		if fileVals, err = readSettingsFile(l.config, l.FS); err != nil {
			return err
		}
	}
	for _, st := range l.settings {
		if set[st.name] {
			continue
		}
		v, ok := os.LookupEnv(EnvName(st.name))
		src := "env " + EnvName(st.name)
		if !ok {
			v, ok = fileVals[st.name]
			src = "settings file " + l.config
		}
		if !ok {
			continue
		}
		if err := l.FS.Set(st.name, v); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	for name, file := range l.secretFiles {
		if *file == "" {
			continue
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("--%s-file: %w", name, err)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		if err := l.FS.Set(name, strings.TrimRight(string(line), "\r")); err != nil {
			return fmt.Errorf("--%s-file: %w", name, err)
		}
	}
	return l.S.Validate()
}

func readSettingsFile(path string, fs *flag.FlagSet) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("settings file %s:%d: want 'name = value'", path, n)
		}
		if fs.Lookup(k) == nil {
			return nil, fmt.Errorf("settings file %s:%d: unknown setting %q", path, n, k)
		}
		vals[k] = strings.Trim(v, `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	return vals, nil
}

// Validate checks values that flag parsing alone cannot.
func (s *Settings) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		bad("--listen %q: %v", s.Listen, err)
	}
	if s.AMI != "" {
		if _, err := s.AMIEndpoint(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.AMIAuth != "md5" && s.AMIAuth != "plain" {
		bad("--ami-auth must be md5 or plain, not %q", s.AMIAuth)
	}
	if !(s.SandboxTimeScale > 0 && s.SandboxTimeScale <= 100) {
		bad("--sandbox-time-scale must be in (0, 100], not %v", s.SandboxTimeScale)
	}
	if s.CallLimit < time.Second {
		bad("--call-limit must be at least 1s, not %v", s.CallLimit)
	}
	if s.CallWarning < 0 || s.CallWarning >= s.CallLimit {
		bad("--call-warning must be between 0 and --call-limit, not %v", s.CallWarning)
	}
	if s.CallerRing < time.Second || s.CalleeRing < time.Second {
		bad("--caller-ring and --callee-ring must be at least 1s")
	}
	if !isToken(s.Trunk) {
		bad("--trunk %q: letters, digits, '-' and '_' only", s.Trunk)
	}
	switch s.CallerIDMode {
	case "partner":
	case "did":
		if s.DID == "" {
			bad("--callerid-mode did needs --did")
		}
	default:
		bad("--callerid-mode must be partner or did, not %q", s.CallerIDMode)
	}
	if s.DID != "" && strings.Trim(s.DID, "0123456789") != "" {
		bad("--did %q: digits only", s.DID)
	}
	if s.MaxStreams < 1 {
		bad("--max-streams must be at least 1")
	}
	if s.MaxConcurrent < 1 || s.MaxCPS <= 0 || s.QueueSize < 0 || s.QueueWait < 0 {
		bad("--max-concurrent, --max-cps must be positive; --queue-size, --queue-wait not negative")
	}
	if s.Lang != "zh" && s.Lang != "en" {
		bad("--lang must be zh or en, not %q", s.Lang)
	}
	switch s.PoW {
	case "auto", "always", "off":
	default:
		bad("--pow must be auto, always or off, not %q", s.PoW)
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		bad("--timezone %q: %v", s.TimeZone, err)
	}
	if _, err := time.LoadLocation(s.PBXTimeZone); err != nil {
		bad("--pbx-timezone %q: %v", s.PBXTimeZone, err)
	}
	switch s.CDRSource {
	case "ami":
	case "table":
		// Our own cdr table is where the monitor writes: Asterisk's
		// cdr_adaptive_odbc must fill another table or database.
		if s.CDRTable == "" {
			bad("--cdr-source table needs --cdr-table-db: the database (and ?table=name) Asterisk writes its CDRs to")
		}
	default:
		bad("--cdr-source must be ami or table, not %q", s.CDRSource)
	}
	if s.WebhookURL != "" {
		if u, err := url.Parse(s.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("--webhook-url must be an http(s) URL")
		} else if s.WebhookSecret == "" {
			bad("--webhook-url needs --webhook-secret (bodies are signed)")
		}
	}
	if s.AdminToken != "" && len(s.AdminToken) < 16 {
		bad("--admin-token must be at least 16 characters")
	}
	if !isToken(s.Instance) {
		bad("--instance %q: letters, digits, '-', '_' and '.' only", s.Instance)
	}
	return errors.Join(errs...)
}

func isToken(s string) bool {
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

// AMIEndpoint is the parsed --ami setting.
type AMIEndpoint struct {
	TLS      bool
	Addr     string // host:port
	Host     string
	Username string
	Secret   string
}

// AMIEndpoint parses --ami; --ami-secret, when set, replaces the URL's secret.
func (s *Settings) AMIEndpoint() (AMIEndpoint, error) {
	u, err := url.Parse(s.AMI)
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
	e, err := s.AMIEndpoint()
	if err != nil {
		return err
	}
	if e.Loopback() {
		return nil
	}
	for _, sample := range SampleSecrets {
		if strings.EqualFold(e.Secret, sample) {
			return fmt.Errorf("--ami: refusing a well-known sample secret for an AMI server that is not on loopback; set a long random secret in manager.conf")
		}
	}
	if len(e.Secret) < 12 {
		return fmt.Errorf("--ami: secret shorter than 12 characters for an AMI server that is not on loopback")
	}
	return nil
}

// Redacted returns the settings as name=value pairs for the start-up log,
// with every secret replaced.
func (s *Settings) Redacted() []any {
	ami := s.AMI
	if u, err := url.Parse(s.AMI); err == nil && u.User != nil {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
		ami = u.String()
	}
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

// durationValue accepts Go durations plus a "d" (days) suffix.
type durationValue struct{ p *time.Duration }

func (d *durationValue) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d *durationValue) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return fmt.Errorf("bad duration %q", s)
		}
		*d.p = time.Duration(days) * 24 * time.Hour
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (e.g. 300s, 5m, 90d)", s)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	*d.p = v
	return nil
}

type onOffValue struct{ p *bool }

func (o *onOffValue) String() string {
	if o.p != nil && !*o.p {
		return "off"
	}
	return "on"
}

func (o *onOffValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "on", "true", "1", "yes":
		*o.p = true
	case "off", "false", "0", "no":
		*o.p = false
	default:
		return fmt.Errorf("want on or off, not %q", s)
	}
	return nil
}

type prefixesValue struct{ p *[]netip.Prefix }

func (v *prefixesValue) String() string {
	if v.p == nil {
		return ""
	}
	var parts []string
	for _, p := range *v.p {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ",")
}

func (v *prefixesValue) Set(s string) error {
	*v.p = nil
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return fmt.Errorf("bad address %q", part)
			}
			part = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("bad CIDR %q", part)
		}
		*v.p = append(*v.p, p.Masked())
	}
	return nil
}
