// Package config holds every setting of the service and loads it from, in
// this order of precedence: command-line flags, WEBCALLBACK_<NAME>
// environment variables, an optional settings file (--config), defaults.
//
// Each setting is declared once, in [Defaults] (its default, or the owning
// package's default it takes) and in the table of [Loader] (its name,
// help text and the commands it applies to). The flag set, the environment
// names, the settings-file names and --help are all derived from that table.
//
// Secrets (AMI secret, database password, admin token, webhook secret,
// trunk password) may also come from files (--*-file), or from systemd
// credentials ($CREDENTIALS_DIRECTORY/<name>, LoadCredential=), so they need
// not sit in the environment or in a process listing; they are never logged
// or printed (Redacted).
package config

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // quota days need zones even on machines without zoneinfo

	"webcallback/deploy/asterisk"
	"webcallback/internal/callflow"
	"webcallback/internal/httpguard"
	"webcallback/internal/policy"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
	"webcallback/internal/web"
)

// Settings is every setting of every command. docs/design.md §6 names the
// contract ones; the rest may grow.
type Settings struct {
	Listen string
	DB     string
	// Migrate runs the embedded migrations at start.
	Migrate bool
	// DBCreate lets a start create a new SQLite database where one existed
	// before and is gone (store.Options.Create); `migrate` always may.
	DBCreate bool
	// SpoolDir holds the writes the database refused, until it takes them
	// ("" = "<database file>.spool" beside a SQLite database, else data/spool/<instance>).
	SpoolDir string
	// SpoolMaxMB bounds the spool, in MiB.
	SpoolMaxMB int

	AMI       string // tcp://user:secret@host:5038, tls://...; "" = built-in sandbox PBX
	AMISecret string // overrides the URL's secret (from env or --ami-secret-file)
	AMIAuth   string // "md5" (challenge) or "plain"
	AMIEvents string
	// AMIReconnectMax caps the AMI client's reconnect backoff (and is how
	// long a link must live to reset it).
	AMIReconnectMax time.Duration
	AMICAFile       string // PEM CA for tls:// (default: system roots)
	AMIServerName   string

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
	// Consent (docs/design.md §6): the caller presses 1 before the friend
	// is rung; the friend hears who calls and may opt out for good.
	CallerConfirm  bool
	CalleeAnnounce bool

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
	CallerNoConfirmPerDay int
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
	// Per-address and total bounds of SSE streams and of open connections.
	MaxStreamsPerIP int
	MaxConns        int
	MaxConnsPerIP   int

	CDRSource string // "ami" or "table"
	CDRTable  string // DSN of the external cdr table for CDRSource "table" ("" = --db)
	Retention time.Duration

	LogLevel  string
	LogFormat string

	// Kit is what only the Asterisk side (asterisk-config) needs.
	Kit Kit
}

// Kit is the settings of the Asterisk kit beyond the shared ones (trunk,
// DID, language, call limits, AMI account).
type Kit struct {
	Out              string
	Install          bool   // write configs and prompts in place
	SoundsDir        string // where --install puts the prompts
	ODBCIni          string // where --install puts the CDR backend's ODBC data source
	TrunkMode        string // asterisk.TrunkIP or asterisk.TrunkRegister
	Gateway          string // host[:port]
	RegisterServer   string
	RegisterUser     string
	RegisterPassword string
	FromDomain       string
	SIPBind          string
	AMIBind          string
	AMIPermit        string
	Node             string // with several --ami nodes: the one (host:port) to render for
}

const defaultListen = "127.0.0.1:8080"

// DefaultInstance is the --instance a process listening on listen takes
// when none is given: the host name and the listen port ("web1-8080"),
// stable across restarts (a restarted process adopts its own unfinished
// calls) and unique per process on one host (two processes cannot listen
// on one port), so two instances never take each other for themselves.
func DefaultInstance(listen string) string {
	host, _ := os.Hostname()
	if host == "" || !validInstance(host) {
		host = callflow.DefaultInstance
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		// Port 0 picks a new port per run: the name would not be stable,
		// and two such processes would share it. The pid is unique.
		port = "pid" + strconv.Itoa(os.Getpid())
	}
	name := host + "-" + port
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	return strings.TrimLeft(name, "-_.")
}

// Defaults returns every setting at its default: the one place a default
// of the service is written, or taken from the package that owns it.
func Defaults() Settings {
	rules := store.DefaultRules()
	kit := asterisk.DefaultSettings()
	return Settings{
		Listen:           defaultListen,
		DB:               "sqlite:data/webcallback.db",
		Migrate:          true,
		SpoolMaxMB:       256,
		AMIAuth:          "md5",
		AMIEvents:        "call,cdr,user,system",
		AMIReconnectMax:  30 * time.Second,
		SandboxTimeScale: 1,

		CallLimit:    wcbproto.DefaultCallLimit,
		CallWarning:  wcbproto.DefaultCallWarning,
		WarnCallee:   kit.WarnCallee,
		CallerRing:   wcbproto.DefaultRing,
		CalleeRing:   wcbproto.DefaultRing,
		Trunk:        wcbproto.DefaultTrunk,
		CallerIDMode: callflow.CallerIDPartner,
		// Consent: on by default against pranks; the announcement is
		// opt-in (it costs the friend a few seconds and a key).
		CallerConfirm:  true,
		CalleeAnnounce: false,

		MaxConcurrent: callflow.DefaultMaxConcurrent,
		MaxCPS:        callflow.DefaultMaxPerSecond,
		QueueSize:     callflow.DefaultQueueSize,
		QueueWait:     callflow.DefaultQueueWait,
		Instance:      DefaultInstance(defaultListen),

		Region: policy.DefaultConfig().Region,
		Lang:   wcbproto.DefaultLang,
		Limits: true,
		PoW:    policy.PoWAuto,

		CallerConnectedPerDay: rules.CallerConnectedPerDay,
		CallerAttemptsPerDay:  rules.CallerAttemptsPerDay,
		CallerBillsecPerDay:   rules.CallerBillsecPerDay,
		CallerBillsecLifetime: rules.CallerBillsecLifetime,
		CallerCooldown:        rules.CallerCooldown,
		CalleePerDay:          rules.CalleePerDay,
		CallerNoConfirmPerDay: rules.CallerNoConfirmPerDay,
		TimeZone:              "Asia/Shanghai",
		PBXTimeZone:           "Local",

		Policy:          policy.DefaultConfig(),
		MaxStreams:      web.DefaultMaxStreams,
		MaxStreamsPerIP: web.DefaultMaxStreamsPerIP,
		MaxConns:        httpguard.DefaultMaxConns,
		MaxConnsPerIP:   httpguard.DefaultMaxConnsPerIP,
		CDRSource:       "table",
		LogLevel:        "info",
		LogFormat:       "text",

		Kit: Kit{
			TrunkMode: kit.TrunkMode,
			Gateway:   net.JoinHostPort(kit.GatewayHost, fmt.Sprint(kit.GatewayPort)),
			SIPBind:   kit.SIPBind,
			SoundsDir: asterisk.DefaultSoundsDir,
			ODBCIni:   asterisk.DefaultODBCIni,
		},
	}
}

// Sample secrets from documentation and the original system; serve refuses
// them when AMI is not on loopback.
var SampleSecrets = []string{"123456", "secret", "password", "admin", "amp111", "mysecret", "changeme", "webcallback", "1234", "12345678", "passw0rd", "asterisk", "manager", "pass", "test", "default", "0000"}

// group is a set of settings that go together; a command takes the groups
// it uses, so its --help shows only what applies to it.
type group uint

const (
	gLog     group = 1 << iota // log-level, log-format
	gDB                        // the database and its quota day
	gPBX                       // the AMI connection or the sandbox, CDRs
	gCall                      // how one call is placed and limited
	gEngine                    // capacity and queue of the engine
	gNumbers                   // how typed numbers are read and dialled
	gService                   // the web, the policy, quotas, admin, webhooks
	gKit                       // the Asterisk kit only
	gKitAMI                    // the AMI account, shared by the service and the kit
	gKitCall                   // call settings the dialplan falls back to
	gRetain                    // --retention (serve's sweep, stats purge)
	gKitCDR                    // where Asterisk writes its CDRs: the kit renders that backend
	gQuotas                    // the eligibility quotas (serve enforces them, stats show explains them)
	gSpool                     // the spool of writes the database refused (serve, call)
)

// commandGroups are the settings each command takes; a command not listed
// (tests) takes serve's.
var commandGroups = map[string]group{
	"serve":           gLog | gDB | gPBX | gCall | gEngine | gNumbers | gService | gRetain | gQuotas | gSpool,
	"call":            gLog | gDB | gPBX | gCall | gNumbers | gSpool,
	"migrate":         gLog | gDB,
	"backup":          gLog | gDB,
	"restore":         gLog | gDB,
	"stats":           gLog | gDB | gNumbers | gRetain | gQuotas,
	"asterisk-config": gKit | gKitAMI | gKitCall | gKitCDR,
}

// Loader parses one command's settings.
type Loader struct {
	FS *flag.FlagSet
	S  *Settings

	config      string
	names       map[string]bool    // this command's settings: read from env and file
	known       map[string]bool    // every command's settings: accepted in a settings file
	secretFiles map[string]*string // secret name → --<name>-file
	secrets     map[string]bool
}

// NewLoader returns the FlagSet of command ("serve", "call", "stats show",
// ...) with the settings that apply to it registered, bound to a Settings
// with the defaults. The command adds its own flags to FS before Parse.
func NewLoader(command string) *Loader {
	groups, ok := commandGroups[strings.Fields(command + " x")[0]]
	if !ok {
		groups = commandGroups["serve"]
	}
	fs := flag.NewFlagSet("webcallback "+command, flag.ContinueOnError)
	s := Defaults()
	l := &Loader{FS: fs, S: &s, names: map[string]bool{}, known: map[string]bool{},
		secretFiles: map[string]*string{}, secrets: map[string]bool{}}
	fs.StringVar(&l.config, "config", "", "settings file: one 'name = value' per line, names as the flags ('#' comments); one file may serve every command")
	l.table(&table{l: l, fs: fs, groups: groups}, l.S)
	fs.Usage = func() { l.PrintHelp(fs.Output()) }
	return l
}

// table registers every setting once: name, commands, help text. The
// default is the field's value (Defaults), so --help shows the real one.
type table struct {
	l      *Loader
	fs     *flag.FlagSet
	groups group
}

// on records name as a setting and reports whether this command takes it.
func (t *table) on(g group, name string) bool {
	t.l.known[name] = true
	if g&t.groups == 0 {
		return false
	}
	t.l.names[name] = true
	return true
}

func (t *table) add(g group, name, usage string, v flag.Value) {
	if t.on(g, name) {
		t.fs.Var(v, name, usage)
	}
}

// plain registers a kind the flag package has (StringVar, IntVar, ...),
// with the field's value (from Defaults) as the default.
func plain[T any](t *table, g group, p *T, name, usage string, register func(*T, string, T, string)) {
	if t.on(g, name) {
		register(p, name, *p, usage)
	}
}

func (t *table) str(g group, p *string, name, usage string) {
	plain(t, g, p, name, usage, t.fs.StringVar)
}
func (t *table) intv(g group, p *int, name, usage string) { plain(t, g, p, name, usage, t.fs.IntVar) }
func (t *table) flt(g group, p *float64, name, usage string) {
	plain(t, g, p, name, usage, t.fs.Float64Var)
}
func (t *table) boolv(g group, p *bool, name, usage string) {
	plain(t, g, p, name, usage, t.fs.BoolVar)
}

func (t *table) dur(g group, p *time.Duration, name, usage string) {
	t.add(g, name, usage+" (e.g. 300s, 5m, 90d)", &durationValue{p})
}

// secret adds a secret setting and its --<name>-file variant.
func (t *table) secret(g group, p *string, name, usage string) {
	t.str(g, p, name, usage+" (prefer the env variable or --"+name+"-file: flags show in process listings)")
	f := new(string)
	t.str(g, f, name+"-file", "read --"+name+" from this file (first line)")
	t.l.secretFiles[name] = f
	t.l.secrets[name] = true
}

func (l *Loader) table(t *table, s *Settings) {
	p := &s.Policy
	t.str(gService, &s.Listen, "listen", "HTTP listen address")
	t.str(gDB|gKitCDR, &s.DB, "db", "database: sqlite:<path>, mysql://user:pass@host:3306/db or postgres://user:pass@host:5432/db")
	t.boolv(gDB, &s.Migrate, "migrate", "apply database migrations at start")
	t.boolv(gDB, &s.DBCreate, "db-create", "create a new, empty SQLite database even where one existed before and is gone (without it such a start is refused: restore the file)")
	t.str(gSpool, &s.SpoolDir, "spool-dir", "directory of the writes the database refused, kept (fsynced) until it takes them again (empty = <database file>.spool beside a SQLite database, else data/spool/<instance>)")
	t.intv(gSpool, &s.SpoolMaxMB, "spool-max-mb", "bound of the spool in MiB; when full, writes fail and /readyz says so")
	t.str(gPBX|gKitAMI, &s.AMI, "ami", "Asterisk AMI: tcp://user:secret@host:5038 or tls://user:secret@host:5039; several Asterisk nodes: a comma-separated list, one URL per node, each call placed on one healthy node (per-node caps: ?max_concurrent=N&max_cps=R on a URL); empty = the built-in sandbox PBX")
	t.secret(gPBX|gKitAMI, &s.AMISecret, "ami-secret", "AMI secret (overrides the one in --ami, of every node)")
	t.str(gPBX, &s.AMIAuth, "ami-auth", "AMI login: md5 (challenge, the secret never crosses the wire) or plain")
	t.str(gPBX, &s.AMIEvents, "ami-events", "AMI event classes to receive: at least call,user,system (system brings Shutdown and FullyBooted, which tell a PBX that stopped or restarted from a dropped link), and cdr with --cdr-source ami; on = all")
	t.dur(gPBX, &s.AMIReconnectMax, "ami-reconnect-max", "longest wait between AMI reconnect attempts (the backoff doubles from 0.5 s up to it; a link that lived this long starts again from 0.5 s)")
	t.str(gPBX, &s.AMICAFile, "ami-ca-file", "PEM CA certificate(s) to verify the AMI TLS server (empty = system roots)")
	t.str(gPBX, &s.AMIServerName, "ami-server-name", "TLS server name of the AMI server (empty = the --ami host)")
	t.flt(gPBX, &s.SandboxTimeScale, "sandbox-time-scale", "sandbox PBX time scale: 1 = real time, 0.01 makes a 300 s call last 3 s")
	plain(t, gPBX, &s.SandboxSeed, "sandbox-seed", "sandbox PBX random seed (0 = from the clock)", t.fs.Int64Var)
	t.intv(gPBX, &s.SandboxMaxChannels, "sandbox-max-channels", "sandbox trunk capacity in channels (0 = unlimited)")
	t.flt(gPBX, &s.SandboxMaxCPS, "sandbox-max-cps", "sandbox trunk call-rate limit per second (0 = unlimited)")
	t.dur(gCall|gKitCall, &s.CallLimit, "call-limit", "talk time limit of one call, from 2s to "+wcbproto.MaxCallLimit.String())
	t.dur(gCall|gKitCall, &s.CallWarning, "call-warning", "spoken warning this long before the limit, whole seconds (0 = none)")
	t.boolv(gCall|gKitCall, &s.WarnCallee, "warn-callee", "play the warning to the callee too")
	t.dur(gCall, &s.CallerRing, "caller-ring", "how long the caller's phone rings (Originate timeout), whole seconds")
	t.dur(gCall|gKitCall, &s.CalleeRing, "callee-ring", "how long the friend's phone rings (Dial timeout), whole seconds")
	t.str(gCall|gKitCall, &s.Trunk, "trunk", "PJSIP endpoint of the trunk")
	t.str(gCall, &s.CallerIDMode, "callerid-mode", "caller ID each side sees: partner (the other's number, as the original) or did (--did)")
	t.str(gCall|gKitCall, &s.DID, "did", "our own number (digits) shown as caller ID with --callerid-mode did")
	t.add(gCall, "caller-confirm", "on or off: the caller presses 1 after Welcome before the friend is rung (off: anyone's number typed in as \"own number\" rings the friend)", &onOffValue{&s.CallerConfirm})
	t.add(gCall, "callee-announce", "on or off: the friend hears who calls and presses 1 to talk or 9 never to be called by the service again (the do-not-call list)", &onOffValue{&s.CalleeAnnounce})
	t.intv(gEngine, &s.MaxConcurrent, "max-concurrent", "maximum callbacks in progress at once, per Asterisk node (a --ami URL's ?max_concurrent= overrides it for that node)")
	t.flt(gEngine, &s.MaxCPS, "max-cps", "maximum originations per second, per Asterisk node (a --ami URL's ?max_cps= overrides it)")
	t.intv(gEngine, &s.QueueSize, "queue-size", "requests that may wait for capacity (per Asterisk node); beyond: system_busy at once")
	t.dur(gEngine, &s.QueueWait, "queue-wait", "longest wait in the queue before system_busy")
	t.str(gEngine, &s.Instance, "instance", "name of this service instance, unique among those sharing one database (default: host name and --listen port)")
	t.str(gNumbers, &s.Region, "region", "home region for phone numbers (ISO 3166 code)")
	t.str(gNumbers, &p.InternationalPrefix, "international-prefix", "dialled before the country code of numbers outside --region")
	t.str(gCall|gKitCall, &s.Lang, "lang", "default language of pages and prompts: "+strings.Join(wcbproto.Languages, " or "))
	t.add(gService|gQuotas, "limits", "on or off: off disables per-IP, per-number and per-prefix rate limits and eligibility, for load tests and development only", &onOffValue{&s.Limits})
	t.str(gService, &s.PoW, "pow", "proof-of-work challenge on the public form: auto (under load), always or off")
	limit := func(v *policy.Limit, name, what string) {
		t.add(gService, name, "requests "+what+": N/window (e.g. 10/10m) or off", limitValue{v})
	}
	limit(&p.PerIP, "limit-per-ip", "per client IP address")
	limit(&p.PerSubnet, "limit-per-subnet", "per client subnet (/24, /64)")
	limit(&p.PerCaller, "limit-per-caller", "per caller number")
	limit(&p.PerCallee, "limit-per-callee", "per callee number (call bombing)")
	limit(&p.PerPrefix, "limit-per-prefix", "per number prefix (number minus its last 4 digits)")
	t.dur(gService, &p.BackoffBase, "backoff-base", "first back-off after a limit is exceeded; doubles per strike")
	t.dur(gService, &p.BackoffMax, "backoff-max", "longest back-off")
	t.intv(gService, &p.DailyMinutes, "daily-minutes", "talk-minute budget of the whole service per day (0 = none)")
	t.add(gService, "allow-regions", "regions besides --region whose numbers may be rung (e.g. HK,MO; * = all)", listValue{&p.AllowRegions})
	t.add(gService, "allow-prefixes", "E.164 prefixes allowed whatever their region (e.g. +852)", listValue{&p.AllowPrefixes})
	t.add(gService, "deny-prefixes", "E.164 prefixes always refused (deny wins)", listValue{&p.DenyPrefixes})
	t.add(gService, "allowed-number-types", "number types that may be rung", typesValue{&p.AllowedTypes})
	t.intv(gService, &p.PoWDifficulty, "pow-difficulty", "proof-of-work leading zero bits (16 is about a second in a browser)")
	t.intv(gService, &p.PoWAutoRate, "pow-auto-rate", "with --pow auto: requests per minute that switch the challenge on")
	t.add(gService, "trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (empty = none; client IP from the socket)", &prefixesValue{&s.TrustedProxies})
	t.intv(gQuotas, &s.CallerConnectedPerDay, "caller-connected-per-day", "connected calls per caller number per day (0 = no cap)")
	t.intv(gQuotas, &s.CallerAttemptsPerDay, "caller-attempts-per-day", "requests per caller number per day (0 = no cap)")
	t.intv(gQuotas, &s.CallerBillsecPerDay, "caller-billsec-per-day", "talk seconds per caller number per day (0 = no cap)")
	t.intv(gQuotas, &s.CallerBillsecLifetime, "caller-billsec-lifetime", "talk seconds per caller number ever (0 = no cap)")
	t.dur(gQuotas, &s.CallerCooldown, "caller-cooldown", "minimum time between two requests of one caller number")
	t.intv(gQuotas, &s.CalleePerDay, "callee-per-day", "requests ringing one callee number per day, from any caller (0 = no cap)")
	t.intv(gQuotas, &s.CallerNoConfirmPerDay, "caller-no-confirm-per-day", "calls per caller number per day that end without the caller's 1 (caller_no_confirm) before the number is refused as a caller for the rest of the day (0 = no cap)")
	t.str(gDB, &s.TimeZone, "timezone", "time zone where a quota day starts")
	t.str(gPBX, &s.PBXTimeZone, "pbx-timezone", "time zone of the Asterisk server's clock, in which Cdr events give their times (Local = this machine's, right for the sandbox and an Asterisk on this host)")
	t.secret(gService, &s.PoWKey, "pow-key", "key that signs proof-of-work challenges; give every instance behind one load balancer the same (empty = random per process)")
	t.secret(gService, &s.AdminToken, "admin-token", "bearer token of the admin API and dashboard (empty = admin disabled)")
	t.str(gService, &s.WebhookURL, "webhook-url", "POST status changes here (empty = no webhooks)")
	t.secret(gService, &s.WebhookSecret, "webhook-secret", "HMAC-SHA256 key that signs webhook bodies")
	t.intv(gService, &s.MaxStreams, "max-streams", "open live-progress streams (SSE) one instance holds; beyond: 503 (about 32 KB each)")
	t.intv(gService, &s.MaxStreamsPerIP, "max-streams-per-ip", "open live-progress streams of one client address; beyond: 503")
	t.intv(gService, &s.MaxConns, "max-conns", "open HTTP connections in total; beyond: closed at accept (each is a file descriptor)")
	t.intv(gService, &s.MaxConnsPerIP, "max-conns-per-ip", "open HTTP connections from one peer address other than a --trusted-proxies one (those count in --max-conns only); beyond: closed at accept")
	t.str(gService, &s.PublicURL, "public-url", "public base URL of the service, for links in webhooks")
	t.str(gPBX|gKitCDR, &s.CDRSource, "cdr-source", "where CDRs come from: table (the cdr table Asterisk's database backend fills itself, as asterisk-config renders it; the built-in sandbox does the same; survives service restarts) or ami (Cdr events: lost while the service is down)")
	t.str(gPBX|gKitCDR, &s.CDRTable, "cdr-table-db", "for --cdr-source table: another database Asterisk writes CDRs to, as --db, with ?table=name if not cdr (empty = the cdr table of --db)")
	t.dur(gRetain, &s.Retention, "retention", "delete requests and CDRs older than this (0 = keep)")
	t.str(gLog, &s.LogLevel, "log-level", "debug, info, warn or error")
	t.str(gLog, &s.LogFormat, "log-format", "text or json")

	k := &s.Kit
	t.str(gKit, &k.Out, "out", "write the files into this directory (e.g. /etc/asterisk) instead of printing them")
	t.boolv(gKit, &k.Install, "install", "install from this binary alone: the configuration into --out (empty = "+asterisk.DefaultConfDir+") and every prompt into --sounds-dir")
	t.str(gKit, &k.SoundsDir, "sounds-dir", "with --install: Asterisk's sounds directory; the prompts go into <dir>/zh and <dir>/en")
	t.str(gKit, &k.ODBCIni, "odbc-ini", "with --install and an ODBC CDR backend (MariaDB/MySQL, SQLite): the unixODBC file whose [webcallback-cdr] data source is replaced (other sections kept)")
	t.str(gKit, &k.TrunkMode, "trunk-mode", "ip (a gateway that trusts our address) or register (a carrier account with digest auth)")
	t.str(gKit, &k.Gateway, "gateway", "trunk-mode ip: the gateway's host[:port]")
	t.str(gKit, &k.RegisterServer, "register-server", "trunk-mode register: the carrier's registrar host[:port]")
	t.str(gKit, &k.RegisterUser, "register-user", "trunk-mode register: the account's user name")
	t.secret(gKit, &k.RegisterPassword, "register-password", "trunk-mode register: the account's password")
	t.str(gKit, &k.FromDomain, "from-domain", "trunk-mode register: domain of our From header (empty = the registrar's host)")
	t.str(gKit, &k.SIPBind, "sip-bind", "address:port chan_pjsip listens on (UDP)")
	t.str(gKit, &k.AMIBind, "ami-bind", "address:port of the manager interface (empty = the host and port of --ami, else 127.0.0.1:5038)")
	t.str(gKit, &k.Node, "node", "with several --ami URLs (one per Asterisk node): the node, host:port as in --ami, whose config to render; run once per node")
	t.str(gKit, &k.AMIPermit, "ami-permit", "network allowed to log in to AMI (empty = 127.0.0.1/32 when AMI is on loopback; required otherwise)")
}

// PolicyConfig is the policy's config: the abuse settings plus the shared
// region, limits switch, proof-of-work mode, call limit and quota zone.
func (s *Settings) PolicyConfig() policy.Config {
	c := s.Policy
	c.Region, c.Limits, c.PoW = s.Region, s.Limits, s.PoW
	c.CallLimit, c.Location = s.CallLimit, s.Location()
	c.Instance = s.Instance
	if s.PoWKey != "" {
		c.PoWKey = []byte(s.PoWKey)
	}
	return c
}

// EnvName is the environment variable of a setting: WEBCALLBACK_CALL_LIMIT.
func EnvName(name string) string {
	return "WEBCALLBACK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// SettingError is a setting refused: its value is wrong, not the world
// (exit status 2, where an unreachable dependency is 1).
type SettingError struct{ Err error }

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// BadSetting marks err as a bad setting (nil stays nil).
func BadSetting(err error) error {
	if err == nil {
		return nil
	}
	var se *SettingError
	if errors.As(err, &se) {
		return err
	}
	return &SettingError{err}
}

// Parse parses args, then applies the environment and the settings file to
// every setting of the command the command line did not set, reads secret
// files and checks the result. Every error it returns is a SettingError
// (or flag.ErrHelp after printing the help).
func (l *Loader) Parse(args []string) error {
	// The flag package prints the whole help after a parse error; one
	// line naming the setting is what an operator needs.
	out, usage := l.FS.Output(), l.FS.Usage
	l.FS.SetOutput(io.Discard)
	l.FS.Usage = func() {}
	err := l.FS.Parse(args)
	l.FS.SetOutput(out)
	l.FS.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		l.FS.Usage()
		return err
	}
	if err != nil {
		return BadSetting(flagError(err))
	}
	return l.apply()
}

var (
	invalidValue  = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-([\w-]+): (.*)$`)
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -([\w-]+)$`)
)

// flagError words the flag package's parse errors as the rest of the
// settings' errors: the setting first, with its two dashes.
func flagError(err error) error {
	if m := invalidValue.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("--%s %s: %s", m[2], m[1], m[3])
	}
	if m := undefinedFlag.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("--%s: no such setting for this command (see --help)", m[1])
	}
	return err
}

// apply is Parse after the command line.
func (l *Loader) apply() error {
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
		if fileVals, err = l.readSettingsFile(l.config); err != nil {
			return BadSetting(err)
		}
	}
	var errs []error
	given := maps.Clone(set) // set on the command line, in the env or in the file
	l.FS.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || !l.names[f.Name] {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		src := "env " + EnvName(f.Name)
		if !ok {
			v, ok = fileVals[f.Name]
			src = "settings file " + l.config
		}
		if !ok {
			return
		}
		given[f.Name] = true
		if err := l.FS.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: --%s: %w", src, f.Name, err))
		}
	})
	credentials := os.Getenv("CREDENTIALS_DIRECTORY")
	for name, file := range l.secretFiles {
		if !l.names[name] {
			continue
		}
		path, src := *file, "--"+name+"-file"
		if path == "" && credentials != "" && l.FS.Lookup(name).Value.String() == "" {
			// systemd's LoadCredential=<name>:<file>: the secret not given
			// any other way is the credential of the same name, if any.
			path, src = filepath.Join(credentials, name), "credential "+name
			if _, err := os.Stat(path); err != nil {
				continue
			}
		}
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
			continue
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		if err := l.FS.Set(name, strings.TrimRight(string(line), "\r")); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return BadSetting(err)
	}
	if !given["instance"] {
		l.S.Instance = DefaultInstance(l.S.Listen)
	}
	return BadSetting(l.S.Validate())
}

// readSettingsFile reads 'name = value' lines. A setting of another command
// is accepted and left alone, so one file serves serve, call and
// asterisk-config; an unknown name is refused (a typo must not pass).
func (l *Loader) readSettingsFile(path string) (map[string]string, error) {
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
		if !l.known[k] {
			return nil, fmt.Errorf("settings file %s:%d: unknown setting %q", path, n, k)
		}
		vals[k] = strings.Trim(v, `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("settings file %s: %w", path, err)
	}
	return vals, nil
}
