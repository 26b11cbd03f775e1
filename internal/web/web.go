// Package web is the HTTP face of the service: the visitor page (with a
// no-JavaScript path), the JSON API of docs/design.md §6 with Server-Sent Events,
// the admin API and dashboard, /metrics, /healthz and /readyz, and the
// optional status webhooks. Everything it serves is embedded: no outside
// assets, so the page works offline and under a strict CSP.
//
// [New] builds a [Server]; [Server.Run] serves it on a listener and runs its
// background work until the context ends. The web owns no call logic:
// requests are admitted by the [policy.Guard] and run by the engine behind
// [callback.Service]; the admin pages read the database through [Store].
// This package translates, and maps the policy's refusal codes to HTTP
// statuses (errorStatus, the one table).
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"webcallback/internal/callback"
	"webcallback/internal/httpguard"
	"webcallback/internal/policy"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
	"webcallback/internal/web/webhook"
)

// Config is the web's share of the settings.
type Config struct {
	// AdminToken enables the admin API and dashboard; "" disables them
	// (never open).
	AdminToken string
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// WebhookURL receives status webhooks, signed with WebhookSecret; ""
	// sends none.
	WebhookURL    string
	WebhookSecret string
	// PublicBaseURL ("https://call.example.com") makes absolute links in
	// webhooks; "" leaves them relative.
	PublicBaseURL string
	// DefaultLang ("zh" or "en") when the browser states no preference.
	DefaultLang string
	// CallLimit is the talk limit, for the page's countdown (0 = 300 s).
	CallLimit time.Duration
	// PBXTimeScale is wall-clock seconds per PBX second: 1 for Asterisk
	// (0 = 1), the sandbox's --sandbox-time-scale for it, so the page's
	// countdown and talk time follow the call the visitor sees.
	PBXTimeScale float64
	// Region is the home region of numbers typed without a country code,
	// InternationalPrefix what is dialled before a foreign country code
	// ("" = the policy's defaults for both).
	Region              string
	InternationalPrefix string
	// MaxStreams bounds open SSE streams (0 = DefaultMaxStreams), and
	// MaxStreamsPerIP those of one client address (0 =
	// DefaultMaxStreamsPerIP), so one client cannot hold every slot.
	MaxStreams      int
	MaxStreamsPerIP int
	// Rules are the eligibility quotas, for the admin view of a number
	// (nil = none). The store enforces them; see policy.
	Rules *store.Rules
	// Location is the service's time zone (--timezone): every time the
	// admin tables, charts and CSV exports show is in it, labelled (nil =
	// UTC).
	Location *time.Location
}

// DefaultMaxStreams is the default bound of open SSE streams (the
// --max-streams setting takes it).
const DefaultMaxStreams = 10000

// Store is what the admin pages and API read and write ([*store.DB] is
// one): requests, CDRs, the per-number table, manual overrides, the hourly
// charts and the audit log (written through httpguard.AuditSink).
type Store interface {
	ListRequests(ctx context.Context, f store.RequestFilter) ([]*callback.Request, error)
	// GetRequest finds a CDR row's request (its callee: dst is "s").
	GetRequest(ctx context.Context, id string) (*callback.Request, error)
	SearchCDRs(ctx context.Context, f store.CDRFilter) (rows []store.CDR, total int, err error)
	NumberStats(ctx context.Context, number string, now time.Time) (*store.NumberStats, error)
	// Quotas is why a number is refused (the admin's number lookup).
	Quotas(ctx context.Context, number string, rules *store.Rules, now time.Time) ([]store.Quota, error)
	ListNumberStats(ctx context.Context, limit, offset int) ([]store.NumberStats, error)
	SetOverride(ctx context.Context, o store.Override) error
	DeleteOverride(ctx context.Context, number string) error
	ListDoNotCall(ctx context.Context, limit, offset int) ([]store.DoNotCall, error)
	DeleteDoNotCall(ctx context.Context, number string) error
	StatsByHour(ctx context.Context, from, to time.Time) ([]store.HourStats, error)
	ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error)
	httpguard.AuditSink
}

// DefaultMaxStreamsPerIP is the default bound of one address's open SSE
// streams (--max-streams-per-ip): a page holds one per call it follows; an
// office behind one NAT has a few dozen visitors at most.
const DefaultMaxStreamsPerIP = 32

// Deps is what the web calls.
type Deps struct {
	Service callback.Service // the engine; required
	Store   Store            // required for admin and the no-JS pages' history
	Guard   *policy.Guard    // admits new calls; nil = the service takes none (503 unavailable)
	// AMIState reports the AMI connection ("connected", "connecting",
	// "disconnected"...) for /metrics and the dashboard; nil = unknown.
	AMIState func() string
	// Ready is /readyz: nil error when the AMI is connected and the database
	// reachable. nil = always ready.
	Ready func(ctx context.Context) error
	// Nodes are the Asterisk nodes: the admin's node list and drain, and
	// one line per node in /readyz. nil = none shown.
	Nodes Nodes
	// Sandbox makes the admin page (and the visitor page) say that no real
	// phones ring.
	Sandbox bool
	Logger  *slog.Logger
	// Registry receives the web's metrics and is served at /metrics; nil =
	// a private registry.
	Registry *prometheus.Registry
	// HTTPClient sends webhooks; nil = a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Refusals counts refused requests and logs them per interval; nil =
	// one of the web's own, flushed until Context is done.
	Refusals *httpguard.Refusals
}

// server holds what the handlers share.
type server struct {
	cfg     Config
	svc     callback.Service
	st      Store
	guard   *policy.Guard
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	streams *httpguard.AddrLimit // open SSE streams
	metrics *metrics
	csrf    *httpguard.CSRF
	pages   *pages
	refused *httpguard.Refusals
}

// Server is the web: the handler of every route and the work behind it (the
// metrics feed, the status webhooks). New starts nothing; [Server.Run]
// serves and works until its context ends and returns only when all it
// started has stopped.
type Server struct {
	handler http.Handler
	log     *slog.Logger // the service's, without the web's component
	// workers run for the life of Run: each returns once ctx is done.
	workers []func(ctx context.Context)
}

// shutdownWait bounds the graceful shutdown: open requests (SSE streams
// end with the context) get this long to finish.
const shutdownWait = 10 * time.Second

// Run answers HTTP on l and runs the background work until ctx ends, then
// shuts down gracefully: no new requests, open ones (SSE streams included,
// their context derives from ctx) get a few seconds; live calls go on in
// the PBX. It returns when the HTTP server and every worker have stopped;
// the error is the HTTP server's if it failed.
func (srv *Server) Run(ctx context.Context, l net.Listener) error {
	hs := httpguard.NewServer(l.Addr().String(), srv.handler, srv.log)
	hs.BaseContext = func(net.Listener) context.Context { return ctx }
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, work := range srv.workers {
		wg.Add(1)
		go func() { defer wg.Done(); work(wctx) }()
	}
	defer wg.Wait()
	defer stopWorkers() // also when serving fails
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	srv.log.Info("listening", "addr", "http://"+l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	srv.log.Info("shutting down: taking no new requests; live calls continue in the PBX")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc // Serve has returned (ErrServerClosed) once Shutdown began
	if errors.Is(err, context.DeadlineExceeded) {
		hs.Close() // requests still open past the wait lose their connections
		return nil
	}
	if err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// New builds the web: the handler of every route and its background work,
// which [Server.Run] starts.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Service == nil {
		return nil, errors.New("web: Deps.Service is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if normLang(cfg.DefaultLang) == "" {
		cfg.DefaultLang = wcbproto.DefaultLang
	}
	cfg.DefaultLang = normLang(cfg.DefaultLang)
	if cfg.CallLimit <= 0 {
		cfg.CallLimit = wcbproto.DefaultCallLimit
	}
	if !(cfg.PBXTimeScale > 0) || math.IsInf(cfg.PBXTimeScale, 0) {
		cfg.PBXTimeScale = 1
	}
	if def := policy.DefaultConfig(); cfg.Region == "" {
		cfg.Region = def.Region
	}
	if def := policy.DefaultConfig(); cfg.InternationalPrefix == "" {
		cfg.InternationalPrefix = def.InternationalPrefix
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.MaxStreamsPerIP <= 0 {
		cfg.MaxStreamsPerIP = DefaultMaxStreamsPerIP
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	s := &server{
		cfg: cfg, svc: deps.Service, st: deps.Store, guard: deps.Guard, deps: deps,
		log: deps.Logger.With("component", "web"), now: deps.Now,
		streams: httpguard.NewAddrLimit(cfg.MaxStreams, cfg.MaxStreamsPerIP, false), refused: deps.Refusals,
	}
	ownRefusals := s.refused == nil // then Run logs them too
	if ownRefusals {
		s.refused = httpguard.NewRefusals(s.log, nil)
	}
	var err error
	if s.csrf, err = httpguard.NewCSRF(0); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if s.pages, err = loadPages(); err != nil {
		return nil, err
	}
	live := func() int { return len(deps.Service.Live()) }
	if s.metrics, err = newMetrics(deps.Registry, deps.AMIState, live, s.log); err != nil {
		return nil, err
	}
	s.refused.SetHook(func(kind string) { s.metrics.refusals.WithLabelValues(kind).Inc() })
	srv := &Server{log: deps.Logger} // httpguard's server names its component
	srv.workers = append(srv.workers, func(ctx context.Context) { s.metrics.feed(ctx, deps.Service, s.now) })
	if ownRefusals {
		srv.workers = append(srv.workers, func(ctx context.Context) { s.refused.Run(ctx, 0) })
	}
	if cfg.WebhookURL != "" {
		hc := deps.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 10 * time.Second}
		}
		wh, err := webhook.New(webhook.Config{
			URL: cfg.WebhookURL, Secret: cfg.WebhookSecret, BaseURL: cfg.PublicBaseURL,
			Client: hc, Logger: deps.Logger, Registerer: deps.Registry, // it names its component
		})
		if err != nil {
			return nil, fmt.Errorf("web: webhooks: %w", err)
		}
		srv.workers = append(srv.workers, func(ctx context.Context) { wh.Run(ctx, deps.Service) })
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern(), s.metrics.instrument(rt.path, rt.handler))
	}
	srv.handler = s.guardHTTP(s.apiErrors(mux))
	return srv, nil
}

// apiErrors answers the mux's own 404 and 405 under /api/ in the API's
// error format, so every API response has the same shape.
func (s *server) apiErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" || !strings.HasPrefix(r.URL.Path, "/api/") {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide (404, or 405 with Allow) without writing.
		rec := &headerOnly{h: http.Header{}}
		mux.ServeHTTP(rec, r)
		code := "not_found"
		if rec.code == http.StatusMethodNotAllowed {
			code = "method_not_allowed"
			w.Header().Set("Allow", rec.h.Get("Allow"))
		}
		s.writeError(w, r, newError(requestLang(r, s.cfg.DefaultLang), code))
	})
}

// headerOnly records a status and headers and drops the body.
type headerOnly struct {
	h    http.Header
	code int
}

func (w *headerOnly) Header() http.Header         { return w.h }
func (w *headerOnly) WriteHeader(code int)        { w.code = code }
func (w *headerOnly) Write(b []byte) (int, error) { return len(b), nil }

// route is one endpoint. The table is the single list of what the server
// answers: New registers it and the OpenAPI test compares it with
// openapi.json.
type route struct {
	method, path string
	api          bool // described in openapi.json
	handler      http.Handler
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

func (s *server) routes() []route {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	auth := s.newAdminAuth()
	admin := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return auth.Wrap(h(f)) }
	return []route{
		// The visitor page and its no-JS path.
		{"GET", "/{$}", false, h(s.handleIndex)},
		{"POST", "/call", false, h(s.handleFormCall)},
		{"GET", "/call/{id}", false, h(s.handleCallPage)},
		{"POST", "/call/{id}/cancel", false, h(s.handleFormCancel)},
		{"GET", "/static/", false, staticHandler()},
		{"GET", "/admin", false, h(s.handleAdminPage)},

		// Public API.
		{"GET", "/api/v1/openapi.json", true, h(handleOpenAPI)},
		{"GET", "/api/v1/challenge", true, h(s.handleChallenge)},
		{"POST", "/api/v1/callbacks", true, h(s.handleCreate)},
		{"GET", "/api/v1/callbacks/{id}", true, h(s.handleGet)},
		{"DELETE", "/api/v1/callbacks/{id}", true, h(s.handleCancel)},
		{"GET", "/api/v1/callbacks/{id}/events", true, h(s.handleEvents)},

		// Admin API.
		{"GET", "/api/v1/admin/calls", true, admin(s.handleAdminCalls)},
		{"GET", "/api/v1/admin/calls/events", true, admin(s.handleAdminEvents)},
		{"DELETE", "/api/v1/admin/calls/{id}", true, admin(s.handleAdminHangup)},
		{"GET", "/api/v1/admin/requests", true, admin(s.handleAdminRequests)},
		{"GET", "/api/v1/admin/cdrs", true, admin(s.handleAdminCDRs)},
		{"GET", "/api/v1/admin/numbers", true, admin(s.handleAdminNumbers)},
		{"GET", "/api/v1/admin/numbers/{number}", true, admin(s.handleAdminNumber)},
		{"PUT", "/api/v1/admin/numbers/{number}/override", true, admin(s.handleAdminSetOverride)},
		{"DELETE", "/api/v1/admin/numbers/{number}/override", true, admin(s.handleAdminDeleteOverride)},
		{"GET", "/api/v1/admin/donotcall", true, admin(s.handleAdminDoNotCall)},
		{"DELETE", "/api/v1/admin/donotcall/{number}", true, admin(s.handleAdminDeleteDoNotCall)},
		{"GET", "/api/v1/admin/stats", true, admin(s.handleAdminStats)},
		{"GET", "/api/v1/admin/charts/{chart}", true, admin(s.handleAdminChart)},
		{"GET", "/api/v1/admin/audit", true, admin(s.handleAdminAudit)},
		{"GET", "/api/v1/admin/nodes", true, admin(s.handleAdminNodes)},
		{"POST", "/api/v1/admin/nodes/{node}/drain", true, admin(s.handleAdminDrain)},
		{"DELETE", "/api/v1/admin/nodes/{node}/drain", true, admin(s.handleAdminDrain)},

		// Operations.
		{"GET", "/metrics", false, s.metrics.handler(s.deps.Registry)},
		{"GET", "/healthz", false, h(s.handleHealthz)},
		{"GET", "/readyz", false, h(s.handleReadyz)},
	}
}

func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz answers 503 with the reason when a dependency is down, so a
// load balancer takes the instance out while the AMI reconnects.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.deps.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.deps.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n%s", err, s.readyNodes(ctx))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n" + s.readyNodes(r.Context())))
}

// handleChallenge is GET /api/v1/challenge: a proof-of-work challenge the
// page solves before submitting (required only under load).
func (s *server) handleChallenge(w http.ResponseWriter, r *http.Request) {
	if s.guard == nil {
		s.writeError(w, r, newError(requestLang(r, s.cfg.DefaultLang), "unavailable"))
		return
	}
	writeJSON(w, http.StatusOK, s.guard.Challenge(s.clientIP(r), s.now()))
}
