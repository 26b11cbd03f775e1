package httpguard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"webcallback/internal/policy/ratelimit"
	"webcallback/internal/store"
)

// AuditSink records admin actions; *store.DB is one.
type AuditSink interface {
	AddAudit(ctx context.Context, e store.AuditEntry) error
}

// DenyFunc writes a refusal in the caller's format. code is
// "admin_disabled" (404), "unauthorized" (401) or "rate_limited" (429, with
// retryAfter > 0; Retry-After is already set).
type DenyFunc func(w http.ResponseWriter, r *http.Request, status int, code string, retryAfter time.Duration)

// AdminConfig configures AdminAuth.
type AdminConfig struct {
	// Token is the bearer token; "" disables the admin API (404): it is
	// never open.
	Token string
	// Trusted proxies, for the client address (see ClientIP).
	Trusted []netip.Prefix
	// Failures is how many failed attempts one address may make (default 5
	// per 15 minutes); the last one locks the address out: 429 without its
	// token being looked at (the right one too: no oracle for a guesser),
	// for Backoff alone (default 1 min, doubling per lockout to 1 h), after
	// which the address starts with a clean count.
	Failures ratelimit.Limit
	Backoff  ratelimit.Backoff
	// Audit receives one entry per state-changing admin request (and per
	// address blocked for failed attempts); nil = slog only.
	Audit  AuditSink
	Logger *slog.Logger
	// Refusals counts bad tokens and refused attempts (logged per
	// interval, not per attempt); nil = not counted.
	Refusals *Refusals
	// Deny renders refusals; nil = plain text.
	Deny DenyFunc
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// AdminAuth checks the admin bearer token. It is safe for concurrent use.
type AdminAuth struct {
	cfg   AdminConfig
	want  [sha256.Size]byte
	fails *ratelimit.Limiter
	log   *slog.Logger
}

type actorKey struct{}

// NewAdminAuth returns the admin check for cfg.
func NewAdminAuth(cfg AdminConfig) *AdminAuth {
	if cfg.Failures.Off() {
		cfg.Failures = ratelimit.Limit{N: 5, Per: 15 * time.Minute}
	}
	if cfg.Backoff == (ratelimit.Backoff{}) {
		cfg.Backoff = ratelimit.Backoff{Base: time.Minute, Max: time.Hour, Reset: 24 * time.Hour}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Deny == nil {
		cfg.Deny = func(w http.ResponseWriter, _ *http.Request, status int, code string, _ time.Duration) {
			http.Error(w, code, status)
		}
	}
	return &AdminAuth{cfg: cfg, want: sha256.Sum256([]byte(cfg.Token)),
		fails: ratelimit.New(cfg.Failures, cfg.Backoff, 0), log: cfg.Logger.With("component", "admin")}
}

// Enabled reports whether a token is configured.
func (a *AdminAuth) Enabled() bool { return a.cfg.Token != "" }

// Wrap lets a request through to next only with the right token in
// "Authorization: Bearer <token>", and audits state-changing requests.
func (a *AdminAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Enabled() {
			a.cfg.Deny(w, r, http.StatusNotFound, "admin_disabled", 0)
			return
		}
		now := a.cfg.Now()
		ip := ClientIP(r, a.cfg.Trusted)
		key := ip.String()
		if ok, wait := a.fails.Check(key, now); !ok {
			a.cfg.Refusals.AddDetail("admin_locked_out", key)
			a.deny429(w, r, wait)
			return
		}
		if !a.valid(r) {
			a.fails.Allow(key, now)
			a.cfg.Refusals.AddDetail("admin_unauthorized", key+" "+printable([]byte(r.URL.Path)))
			if ok, _ := a.fails.Check(key, now); !ok {
				// That was the last attempt allowed: block with backoff.
				wait := a.fails.Lockout(key, now)
				a.audit(r.Context(), store.AuditEntry{At: now, Actor: "anonymous@" + key, Action: "admin_blocked",
					Target: key, Detail: fmt.Sprintf("too many failed admin logins; blocked for %s", wait.Round(time.Second))})
				a.deny429(w, r, wait)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="webcallback admin"`)
			a.cfg.Deny(w, r, http.StatusUnauthorized, "unauthorized", 0)
			return
		}
		actor := "admin@" + key
		r = r.WithContext(context.WithValue(r.Context(), actorKey{}, actor))
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		body := &bodyRecorder{r: r.Body}
		if r.Body != nil {
			r.Body = body
		}
		next.ServeHTTP(sw, r)
		detail := fmt.Sprintf("status %d", sw.status)
		if len(body.head) > 0 {
			detail += "; body: " + printable(body.head)
		}
		a.audit(r.Context(), store.AuditEntry{At: now, Actor: actor, Action: r.Method + " " + r.URL.Path,
			Target: r.URL.RequestURI(), Detail: detail})
	})
}

// valid compares the token's digest with the configured one's: constant
// time whatever the lengths.
func (a *AdminAuth) valid(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], a.want[:]) == 1 && ok
}

func (a *AdminAuth) deny429(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", fmt.Sprint(max(secs, 1)))
	a.cfg.Deny(w, r, http.StatusTooManyRequests, "rate_limited", wait)
}

func (a *AdminAuth) audit(ctx context.Context, e store.AuditEntry) {
	a.log.Info("admin action", "actor", e.Actor, "action", e.Action, "target", e.Target, "detail", e.Detail)
	if a.cfg.Audit == nil {
		return
	}
	// The request may be canceled by now; the audit entry must still land.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.cfg.Audit.AddAudit(ctx, e); err != nil {
		a.log.Error("admin: audit log write failed", "err", err, "action", e.Action)
	}
}

// Actor names who made an admin request ("admin@203.0.113.7"); "" outside
// AdminAuth.Wrap.
func Actor(r *http.Request) string {
	s, _ := r.Context().Value(actorKey{}).(string)
	return s
}

// statusWriter remembers the status for the audit entry.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// auditBodyBytes is how much of an admin request's body the audit entry
// keeps: enough for the number and kind of an override and its note.
const auditBodyBytes = 512

// bodyRecorder keeps the first auditBodyBytes the handler reads.
type bodyRecorder struct {
	r    io.ReadCloser
	head []byte
}

func (b *bodyRecorder) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if room := auditBodyBytes - len(b.head); room > 0 {
		b.head = append(b.head, p[:min(n, room)]...)
	}
	return n, err
}

func (b *bodyRecorder) Close() error { return b.r.Close() }

// printable makes b safe for a log line: invalid UTF-8 and control
// characters become U+FFFD.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
}
