// Package policy decides whether a visitor's callback request may go ahead
// ([Guard.Admit]): it parses and normalises the two numbers ([ParseNumber]), applies the destination rules,
// the in-memory abuse limits (per IP, subnet, number and number prefix, with
// exponential backoff), the honeypot, the proof of work and the daily minute
// budget, and finally asks the store to check eligibility and reserve the
// request atomically ([store.DB.Admit]).
//
// Every refusal is a [*Refusal] carrying the API error code of
// docs/design.md §6, the input at fault and a Retry-After where one
// applies; the web maps codes to HTTP statuses and localized messages.
//
// Limits are per instance and bounded in memory; eligibility quotas live in
// the store and hold across instances.
package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
	"webcallback/internal/wcbproto"

	"github.com/google/uuid"

	"webcallback/internal/callback"
	"webcallback/internal/policy/pow"
	"webcallback/internal/policy/ratelimit"
	"webcallback/internal/store"
)

// Limit is N events per window Per; the zero Limit is off.
type Limit = ratelimit.Limit

// Challenge is the proof-of-work challenge the page solves.
type Challenge = pow.Challenge

// PoW modes of Config.PoW.
const (
	PoWAuto   = "auto"   // required while the service is under load
	PoWAlways = "always" // required on every request
	PoWOff    = "off"    // never
)

// Config is every setting of the policy. Start from DefaultConfig.
type Config struct {
	// Instance is the service instance whose engine places what this
	// guard admits. It is stored with the request from the start, so that
	// a restart of the instance finds a request it accepted (201) but was
	// killed before its engine recorded (it is placed then, once); a
	// request stored without one would belong to no instance and never end.
	Instance string
	// Region is the home region (ISO 3166, "CN") for numbers typed without
	// a country code; destinations are allowed only there unless listed in
	// AllowRegions or AllowPrefixes.
	Region string
	// Limits false (--limits off) disables the per-IP, per-subnet,
	// per-number and per-prefix limits and the store's eligibility rules,
	// and keeps "auto" proof of work off: for load tests and development.
	Limits bool

	// AllowedTypes are the number types that may be rung; default mobile,
	// fixed_line and fixed_line_or_mobile. Premium-rate, shared-cost,
	// toll-free, UAN, voicemail and unknown stay out unless listed.
	AllowedTypes []NumberType
	// AllowRegions are regions besides Region whose numbers may be rung
	// ("HK", "MO"); "*" allows all.
	AllowRegions []string
	// AllowPrefixes are E.164 prefixes ("+852") allowed whatever their
	// region; DenyPrefixes ("+8617") are refused whatever else says (deny
	// wins).
	AllowPrefixes []string
	DenyPrefixes  []string
	// InternationalPrefix is dialled before the country code of numbers
	// outside Region (default "00").
	InternationalPrefix string

	// Abuse limits: requests per window, counted for every request that
	// reaches the check. Per IP is for the client address, per subnet for
	// its /SubnetV4Bits or /SubnetV6Bits network, per caller and per
	// callee for the E.164 numbers (per callee stops call bombing), per
	// prefix for either number minus its last 4 digits (enumeration).
	PerIP, PerSubnet, PerCaller, PerCallee, PerPrefix Limit
	SubnetV4Bits, SubnetV6Bits                        int
	// Backoff after a limit is exceeded: Base, doubling per strike up to
	// Max; strikes are forgotten after BackoffReset without one.
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// MaxKeys bounds the identifiers each limiter remembers (memory).
	MaxKeys int
	// Shared, when set, holds the limiters' counts for every instance
	// sharing it (the database of a scaled-out service): one allowance for
	// the whole service. nil = this process's memory (one instance).
	Shared ratelimit.Backend

	// DailyMinutes is the talk-minute budget of the whole service per day
	// (0 = none). Today's billed seconds come from the store; each request
	// admitted in the last CallLimit+10 min counts as a full CallLimit
	// until its CDR is in, so the budget is never overrun.
	DailyMinutes int
	CallLimit    time.Duration
	// SharedBudget, when set, holds the budget's reservations for every
	// instance sharing it; nil = this process's memory.
	SharedBudget SharedBudget
	// Location is where a day starts (nil = UTC).
	Location *time.Location

	// PoW is auto, always or off. In auto mode the challenge is required
	// while more than PoWAutoRate requests within their address's limits
	// arrived in the last minute, and for PoWAutoHold after that.
	PoW           string
	PoWDifficulty int // leading zero bits; 16 ≈ 65k hashes, about a second in a browser
	PoWTTL        time.Duration
	PoWAutoRate   int
	PoWAutoHold   time.Duration
	// PoWKey signs challenges; several instances behind one load balancer
	// need the same key. nil = random per process.
	PoWKey []byte

	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// DefaultConfig returns safe defaults: CN numbers only, mobile and fixed
// lines only, tight per-number limits, auto proof of work.
func DefaultConfig() Config {
	return Config{
		Region:              "CN",
		Limits:              true,
		AllowedTypes:        []NumberType{TypeMobile, TypeFixedLine, TypeFixedLineOrMobile},
		InternationalPrefix: "00",
		PerIP:               Limit{N: 10, Per: 10 * time.Minute},
		PerSubnet:           Limit{N: 30, Per: 10 * time.Minute},
		PerCaller:           Limit{N: 5, Per: time.Hour},
		PerCallee:           Limit{N: 3, Per: time.Hour},
		PerPrefix:           Limit{N: 20, Per: time.Hour},
		SubnetV4Bits:        24,
		SubnetV6Bits:        64,
		BackoffBase:         time.Minute,
		BackoffMax:          time.Hour,
		BackoffReset:        6 * time.Hour,
		MaxKeys:             ratelimit.DefaultMaxKeys,
		DailyMinutes:        3000,
		CallLimit:           wcbproto.DefaultCallLimit,
		PoW:                 PoWAuto,
		PoWDifficulty:       16,
		PoWTTL:              5 * time.Minute,
		PoWAutoRate:         60,
		PoWAutoHold:         10 * time.Minute,
	}
}

// Input is one request as the visitor sent it.
type Input struct {
	Caller, Callee string // as typed
	ClientIP       netip.Addr
	Lang           string // "zh" or "en" (prompt language)
	Honeypot       string // the hidden field people never fill
	PoW            string // proof-of-work solution "seed:nonce", if any
}

// Refusal is a request refused by policy: an API error, not a failure.
type Refusal struct {
	// Code is the API error code (docs/design.md §6); the web maps it to
	// an HTTP status, so the policy knows nothing of HTTP.
	Code callback.Reason
	// Field is the input at fault: "caller", "callee", "pow" or "".
	Field string
	// Rule is the eligibility rule that refused a not_eligible request
	// (store.Rule*: "caller_cooldown", "callee_per_day", ...) or "". The
	// web picks the visitor's message by it.
	Rule string
	// RetryAfter, when positive, is the Retry-After to send; RetryAt is
	// the same as a time (zero = unknown or never).
	RetryAfter time.Duration
	RetryAt    time.Time
	// Detail says why, in English, for logs; never shown to visitors (it
	// may name the rule that fired).
	Detail string
	// Challenge is set when a proof of work is required: the page solves
	// it and sends the request again.
	Challenge *Challenge
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("policy: %s (%s)", r.Code, r.Detail)
}

// Store is what the guard needs of the database ([*store.DB] is one): the
// atomic check-and-insert of a request, and the hourly outcomes that feed
// the spending budget.
type Store interface {
	Admit(ctx context.Context, r *callback.Request, rules *store.Rules, now time.Time) (store.Decision, error)
	StatsByHour(ctx context.Context, from, to time.Time) ([]store.HourStats, error)
}

// Guard applies the policy. It is safe for concurrent use.
type Guard struct {
	cfg   Config
	st    Store
	rules *store.Rules
	log   *slog.Logger
	now   func() time.Time

	allowedTypes map[NumberType]bool
	allowRegions map[string]bool

	ip, subnet, caller, callee, prefix *ratelimit.Limiter

	pow  *pow.Issuer
	load loadMeter

	budget budget
}

// New checks cfg and returns a Guard admitting into st with the
// eligibility rules (nil = none).
func New(cfg Config, st Store, rules *store.Rules, logger *slog.Logger) (*Guard, error) {
	if st == nil {
		return nil, errors.New("policy: no store")
	}
	if logger == nil {
		logger = slog.Default()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg, st: st, rules: rules, log: logger.With("component", "policy"), now: cfg.Now,
		allowedTypes: map[NumberType]bool{}, allowRegions: map[string]bool{}}
	if g.now == nil {
		g.now = time.Now
	}
	for _, t := range cfg.AllowedTypes {
		g.allowedTypes[t] = true
	}
	for _, r := range cfg.AllowRegions {
		g.allowRegions[strings.ToUpper(r)] = true
	}
	b := ratelimit.Backoff{Base: cfg.BackoffBase, Max: cfg.BackoffMax, Reset: cfg.BackoffReset}
	lim := func(l Limit) *ratelimit.Limiter {
		if !cfg.Limits {
			l = Limit{}
		}
		return ratelimit.New(l, b, cfg.MaxKeys)
	}
	g.ip, g.subnet = lim(cfg.PerIP), lim(cfg.PerSubnet)
	g.caller, g.callee, g.prefix = lim(cfg.PerCaller), lim(cfg.PerCallee), lim(cfg.PerPrefix)
	if cfg.Shared != nil {
		g.shareLimits(cfg.Shared)
	}
	var err error
	// Spent seeds are kept per client network; a network within its
	// per-subnet limit never spends more than that limit's count in a TTL,
	// so its set gets twice that (at least the default).
	perSource := 0
	if cfg.Limits && !cfg.PerSubnet.Off() {
		perSource = max(pow.DefaultPerSource, 2*cfg.PerSubnet.N)
	}
	if g.pow, err = pow.NewIssuer(cfg.PoWKey, cfg.PoWDifficulty, cfg.PoWTTL, perSource, 0); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	g.load.window = time.Minute
	g.budget.loc = cfg.Location
	if g.budget.loc == nil {
		g.budget.loc = time.UTC
	}
	return g, nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("policy: "+format, a...)) }
	if err := CheckRegion(c.Region); err != nil {
		bad("%v", err)
	}
	if err := CheckInternationalPrefix(c.InternationalPrefix); err != nil {
		bad("%v", err)
	}
	for _, t := range c.AllowedTypes {
		if !KnownType(t) {
			bad("unknown number type %q", t)
		}
	}
	for _, p := range append(append([]string(nil), c.AllowPrefixes...), c.DenyPrefixes...) {
		if err := CheckNumberPrefix(p); err != nil {
			bad("%v", err)
		}
	}
	if c.SubnetV4Bits < 8 || c.SubnetV4Bits > 32 || c.SubnetV6Bits < 16 || c.SubnetV6Bits > 128 {
		bad("subnet bits %d/%d out of range", c.SubnetV4Bits, c.SubnetV6Bits)
	}
	switch c.PoW {
	case PoWAuto, PoWAlways, PoWOff:
	default:
		bad("pow %q: want auto, always or off", c.PoW)
	}
	if c.DailyMinutes < 0 || (c.DailyMinutes > 0 && c.CallLimit <= 0) {
		bad("daily minutes %d: 0 (none) or more, with a positive call limit", c.DailyMinutes)
	}
	if c.PoWDifficulty < 0 || c.PoWDifficulty > pow.MaxDifficulty {
		bad("proof-of-work difficulty %d: 0 to %d bits", c.PoWDifficulty, pow.MaxDifficulty)
	}
	if c.PoWAutoRate < 1 {
		bad("proof-of-work auto rate %d: at least 1 request per minute", c.PoWAutoRate)
	}
	return errors.Join(errs...)
}

// KnownType reports whether t is a number type the policy names.
func KnownType(t NumberType) bool {
	if t == TypeUnknown {
		return true
	}
	for _, k := range numberTypes {
		if k == t {
			return true
		}
	}
	return false
}

// TypeNames lists every number type, for messages.
func TypeNames() []string {
	names := []string{}
	for _, t := range []NumberType{TypeMobile, TypeFixedLine, TypeFixedLineOrMobile, TypeTollFree, TypePremiumRate,
		TypeSharedCost, TypeVoIP, TypePersonalNumber, TypePager, TypeUAN, TypeVoicemail, TypeUnknown} {
		names = append(names, string(t))
	}
	return names
}

// Challenge returns a fresh proof-of-work challenge for the page of a
// client at ip (its solution is good from ip's /24 or /64 only); Required
// says whether requests need it now.
func (g *Guard) Challenge(ip netip.Addr, now time.Time) Challenge {
	_, source := clientKeys(ip, g.cfg.SubnetV4Bits, g.cfg.SubnetV6Bits)
	c := g.pow.Issue(source, now)
	c.Required = g.powRequired(now)
	return c
}

// ParseNumber parses s in the guard's home region; for the page's inline
// validation.
func (g *Guard) ParseNumber(s string) (Number, error) {
	return ParseNumber(s, g.cfg.Region, g.cfg.InternationalPrefix)
}

// Admit runs every check on in, in order of cost, and on success returns
// the request stored as queued (new UUID, E.164 numbers, dial digits),
// ready for callback.Service.Submit. A refusal is returned as *Refusal;
// err is an internal failure (store down: 503).
func (g *Guard) Admit(ctx context.Context, in Input) (*callback.Request, *Refusal, error) {
	now := g.now()
	if ref := g.checkClient(in, now); ref != nil {
		return nil, ref, nil
	}
	caller, callee, ref := g.checkNumbers(in)
	if ref != nil {
		return nil, ref, nil
	}
	if ref := g.checkNumberLimits(caller, callee, now); ref != nil {
		return nil, ref, nil
	}
	release, ref, err := g.budget.take(ctx, g, now)
	if ref != nil || err != nil {
		return nil, ref, err
	}
	req := g.newRequest(in, caller, callee, now)
	rules := g.rules
	if !g.cfg.Limits {
		rules = nil
	}
	d, err := g.st.Admit(ctx, req, rules, now)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("policy: admit %s: %w", req.ID, err)
	}
	if !d.Allowed {
		release()
		ref := &Refusal{Code: callback.ReasonNotEligible,
			Field: "caller", Rule: d.Rule, Detail: "store rule " + d.Rule, RetryAt: d.RetryAt}
		if strings.HasPrefix(d.Rule, "callee") {
			ref.Field = "callee"
		}
		if d.Rule == store.RuleCalleeOptedOut {
			// The callee said never again: its own code (docs/design.md §6).
			ref.Code = callback.ReasonCalleeOptedOut
		}
		g.countNumberLimits(caller, callee, ref.Field, now)
		if !d.RetryAt.IsZero() {
			ref.RetryAfter = d.RetryAt.Sub(now)
		}
		return nil, ref, nil
	}
	g.countNumberLimits(caller, callee, "", now)
	return req, nil, nil
}

func (g *Guard) newRequest(in Input, caller, callee Number, now time.Time) *callback.Request {
	lang := in.Lang
	if !wcbproto.ValidLang(lang) {
		lang = wcbproto.DefaultLang
	}
	ip := ""
	if in.ClientIP.IsValid() {
		ip = in.ClientIP.Unmap().String()
	}
	return &callback.Request{
		ID: uuid.NewString(), Caller: caller.E164, Callee: callee.E164,
		State: callback.StateQueued, CreatedAt: now, UpdatedAt: now,
		History:    []callback.Transition{{State: callback.StateQueued, At: now}},
		CallerDial: caller.Dial, CalleeDial: callee.Dial, Lang: lang, ClientIP: ip,
		Instance: g.cfg.Instance,
	}
}

// checkClient applies what needs no number: honeypot, per-IP and
// per-subnet limits, proof of work. A request refused only because it
// brings no solution yet is not counted against its address: the page's
// one submission (sent, answered with a challenge, sent again solved)
// counts once.
func (g *Guard) checkClient(in Input, now time.Time) *Refusal {
	ipKey, netKey := clientKeys(in.ClientIP, g.cfg.SubnetV4Bits, g.cfg.SubnetV6Bits)
	if in.Honeypot != "" {
		// A bot filled the field people cannot see. Count it against the
		// address as an abuse strike, and refuse without saying why.
		g.ip.Strike(ipKey, now)
		return &Refusal{Code: callback.ReasonNotEligible, Detail: "honeypot field filled"}
	}
	limits := []struct {
		l    *ratelimit.Limiter
		key  string
		what string
	}{{g.ip, ipKey, "per-IP"}, {g.subnet, netKey, "per-subnet"}}
	for _, c := range limits {
		if ok, _ := c.l.Check(c.key, now); !ok {
			// Over the limit: Allow refuses too, adding the backoff strike.
			_, wait := c.l.Allow(c.key, now)
			return rateLimited(now, wait, "", c.what+" limit for "+c.key)
		}
	}
	// Only requests within their address's limits count as load: one
	// address flooding is the per-address limit's job, and must not switch
	// proof of work on for every visitor.
	g.load.add(now)
	var powRef *Refusal
	if g.powRequired(now) {
		if err := g.pow.Verify(in.PoW, netKey, now); err != nil {
			ch := g.Challenge(in.ClientIP, now)
			powRef = &Refusal{Code: callback.ReasonRateLimited, Field: "pow",
				RetryAfter: time.Second, RetryAt: now.Add(time.Second), Detail: err.Error(), Challenge: &ch}
			if errors.Is(err, pow.ErrMissing) {
				return powRef
			}
		}
	}
	for _, c := range limits {
		if ok, wait := c.l.Allow(c.key, now); !ok {
			return rateLimited(now, wait, "", c.what+" limit for "+c.key)
		}
	}
	// A wrong, forged, replayed or expired solution counts: guessing is
	// bounded by the address's limits.
	return powRef
}

// checkNumbers parses both numbers and applies the destination rules.
func (g *Guard) checkNumbers(in Input) (caller, callee Number, ref *Refusal) {
	var err error
	if caller, err = g.ParseNumber(in.Caller); err != nil {
		return caller, callee, invalid("caller", err)
	}
	if callee, err = g.ParseNumber(in.Callee); err != nil {
		return caller, callee, invalid("callee", err)
	}
	if caller.E164 == callee.E164 {
		return caller, callee, &Refusal{Code: callback.ReasonSameNumber,
			Field: "callee", Detail: "caller and callee are the same number"}
	}
	for _, c := range []struct {
		n     Number
		field string
	}{{caller, "caller"}, {callee, "callee"}} {
		if why := g.destinationRefused(c.n); why != "" {
			return caller, callee, &Refusal{Code: callback.ReasonDestinationNotAllowed,
				Field: c.field, Detail: c.field + " " + c.n.E164 + ": " + why}
		}
	}
	return caller, callee, nil
}

// destinationRefused returns why n may not be rung, or "".
func (g *Guard) destinationRefused(n Number) string {
	for _, p := range g.cfg.DenyPrefixes {
		if strings.HasPrefix(n.E164, p) {
			return "denied prefix " + p
		}
	}
	if !g.allowedTypes[n.Type] {
		return "number type " + string(n.Type) + " not allowed"
	}
	if n.Region == g.cfg.Region || g.allowRegions["*"] || g.allowRegions[n.Region] {
		return ""
	}
	for _, p := range g.cfg.AllowPrefixes {
		if strings.HasPrefix(n.E164, p) {
			return ""
		}
	}
	return "region " + n.Region + " not allowed"
}

// numberLimit is one per-number limit a request is counted against.
type numberLimit struct {
	l     *ratelimit.Limiter
	key   string
	field string // "caller" or "callee": whose quota it is
	what  string
}

func (g *Guard) numberLimits(caller, callee Number) []numberLimit {
	return []numberLimit{
		{g.callee, callee.E164, "callee", "per-callee"},
		{g.caller, caller.E164, "caller", "per-caller"},
		{g.prefix, callee.Prefix, "callee", "per-prefix"},
		{g.prefix, caller.Prefix, "caller", "per-prefix"},
	}
}

// checkNumberLimits checks the request against both numbers and their
// prefixes without counting it: a request refused for one party (or later
// by the budget or the store) must spend no quota of the other (issue 11:
// a caller over its limit, aimed at V, made V's friends get 429). The
// party at fault gets its backoff strike.
func (g *Guard) checkNumberLimits(caller, callee Number, now time.Time) *Refusal {
	for _, c := range g.numberLimits(caller, callee) {
		if ok, _ := c.l.Check(c.key, now); !ok {
			_, wait := c.l.Allow(c.key, now) // refused again, with the strike
			return rateLimited(now, wait, c.field, c.what+" limit for "+c.key)
		}
	}
	return nil
}

// countNumberLimits counts an admitted request against both numbers, or
// a request the store refused against the party at fault only (field).
// Counting after the check lets concurrent requests for one number pass a
// hair over its limit; the store's quotas are the exact ones.
func (g *Guard) countNumberLimits(caller, callee Number, field string, now time.Time) {
	for _, c := range g.numberLimits(caller, callee) {
		if field == "" || c.field == field {
			c.l.Allow(c.key, now)
		}
	}
}

func rateLimited(now time.Time, wait time.Duration, field, detail string) *Refusal {
	wait = max(wait, time.Second)
	return &Refusal{Code: callback.ReasonRateLimited, Field: field,
		RetryAfter: wait, RetryAt: now.Add(wait), Detail: detail}
}

func invalid(field string, err error) *Refusal {
	return &Refusal{Code: callback.ReasonInvalidNumber, Field: field,
		Detail: field + ": " + err.Error()}
}

// clientKeys are the limiter keys of an address and of its subnet.
func clientKeys(ip netip.Addr, v4Bits, v6Bits int) (ipKey, netKey string) {
	if !ip.IsValid() {
		return "unknown", "unknown"
	}
	ip = ip.Unmap().WithZone("")
	bits := v6Bits
	if ip.Is4() {
		bits = v4Bits
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String(), ip.String()
	}
	return ip.String(), p.String()
}

// powRequired reports whether requests need a proof of work at now.
func (g *Guard) powRequired(now time.Time) bool {
	switch g.cfg.PoW {
	case PoWAlways:
		return true
	case PoWAuto:
		return g.cfg.Limits && g.load.busy(now, g.cfg.PoWAutoRate, g.cfg.PoWAutoHold)
	}
	return false
}

// loadMeter counts requests per window to switch "auto" proof of work on.
type loadMeter struct {
	mu        sync.Mutex
	window    time.Duration
	start     time.Time
	cur, prev int
	until     time.Time // busy until
}

func (m *loadMeter) add(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now)
	m.cur++
}

func (m *loadMeter) roll(now time.Time) {
	start := now.Truncate(m.window)
	switch d := start.Sub(m.start); {
	case d <= 0:
		return
	case d == m.window:
		m.prev, m.cur = m.cur, 0
	default:
		m.prev, m.cur = 0, 0
	}
	m.start = start
}

// busy reports whether more than rate requests arrived in the sliding
// window, or did within hold.
func (m *loadMeter) busy(now time.Time, rate int, hold time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now)
	weight := 1 - float64(now.Sub(m.start))/float64(m.window)
	if rate > 0 && float64(m.cur)+float64(m.prev)*weight > float64(rate) {
		m.until = now.Add(hold)
	}
	return now.Before(m.until)
}
