// Package app assembles the service from its parts (store, PBX connection,
// engine, CDR monitor, policy, web) exactly as `webcallback serve` runs it,
// so `webcallback call` and the end-to-end tests build the production graph
// rather than a copy of it: [New] from [config.Settings], [App.Serve] on a
// listener, [App.Close]. [webcallback/internal/app/apptest] does the three
// for a test.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"webcallback/ami"
	"webcallback/internal/callflow"
	"webcallback/internal/cluster"
	"webcallback/internal/config"
	"webcallback/internal/httpguard"
	"webcallback/internal/monitor"
	"webcallback/internal/nodes"
	"webcallback/internal/pbxcdr"
	"webcallback/internal/policy"
	"webcallback/internal/sandbox"
	"webcallback/internal/store"
	"webcallback/internal/store/spooled"
	"webcallback/internal/web"
)

// App is one running service instance.
type App struct {
	Settings *config.Settings
	Log      *slog.Logger
	Store    *store.DB
	// PBXs are the Asterisk nodes (--ami), each with its engine (Engines,
	// same order); PBX and Engine are the first (the only one unless --ami
	// names several). Nodes is the engines as one service, placing each
	// call on one node (internal/nodes).
	PBXs     []*PBX
	Engines  []*callflow.Engine
	PBX      *PBX
	Engine   *callflow.Engine
	Nodes    *nodes.Pool
	Cluster  *cluster.Service // the nodes as every instance sees them: the web's Service
	Guard    *policy.Guard
	Web      *web.Server
	Registry *prometheus.Registry
	// Refusals counts refused requests and connections, logged once per
	// interval and counted in /metrics.
	Refusals *httpguard.Refusals

	unlock func() // releases the SQLite single-instance lock
	// spool is a.Store behind the spool of writes the database refused:
	// every part that writes records (engine, monitor, policy, web) gets
	// it; the scale-out decisions (cluster, capacity, shared limits and
	// budget) go to a.Store directly.
	spool    *spooled.Store
	stop     context.CancelFunc      // ends bg, the context of the background work
	stopCDRs []func(context.Context) // one per CDR monitor
	pbxCDRs  *pbxcdr.Writer          // the built-in sandbox's database CDR backend, if on
	mon      *monitor.Monitor        // the CDR monitor
	// workers: the retention sweep, the refusal log, the sandbox's CDR
	// writer; Close joins them.
	workers sync.WaitGroup
}

// Option adjusts what New builds beyond what the settings say, for a
// program that embeds the service (the end-to-end tests of the web and of
// abuse resistance build it this way).
type Option func(*options)

type options struct {
	ami    func(*ami.Config)
	web    func(*web.Config, *web.Deps)
	beside bool
}

// oneShotMark is in the instance name of every one-shot `webcallback call`
// run (OneShotInstance), which a service never takes over.
const oneShotMark = "-call-"

// OneShotInstance names a one-shot run's engine instance apart from the
// service (and from other runs): Start adopts the unfinished requests of
// its own instance, and a one-shot call must never take over the
// service's calls, nor the service its.
func OneShotInstance(base string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return base + oneShotMark + hex.EncodeToString(b[:])
}

// BesideService lets this process share a SQLite database with a running
// service instance (the one-shot `webcallback call`, which places one call
// under its own instance name and adopts nobody's): without it, New refuses
// a SQLite database another process serves (store.ErrSingleInstance).
func BesideService() Option { return func(o *options) { o.beside = true } }

// WithAMIConfig lets f edit the AMI client's config after the settings
// are applied, before it connects: e.g. PingInterval -1, so that every
// byte on the AMI link is the service's doing.
func WithAMIConfig(f func(*ami.Config)) Option { return func(o *options) { o.ami = f } }

// WithWeb lets f edit the web's config and dependencies after the settings
// are applied: e.g. the webhooks' HTTPClient, a clock (Now).
func WithWeb(f func(*web.Config, *web.Deps)) Option { return func(o *options) { o.web = f } }

// New opens the store (migrating it when --migrate), connects to the PBX
// (the sandbox when --ami is empty), starts the CDR monitor, the engine,
// which reconciles the requests a previous run left unfinished, and the
// retention sweep, and builds the HTTP handler. Close undoes it.
//
// On error New has undone what it built. An error that is the settings'
// fault is a config.SettingError; any other is a dependency that failed
// (database, AMI).
func New(ctx context.Context, s *config.Settings, log *slog.Logger, opts ...Option) (*App, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if err := s.CheckSecrets(); err != nil {
		return nil, config.BadSetting(err)
	}
	for _, w := range s.Warnings() {
		log.Warn(w)
	}
	bg, stop := context.WithCancel(context.Background())
	a := &App{Settings: s, Log: log, stop: stop}
	if err := a.build(ctx, bg, o); err != nil {
		a.Close(context.Background())
		return nil, err
	}
	return a, nil
}

// build is New after the settings are checked: bg is the context of the
// service's background work, canceled by Close.
func (a *App) build(ctx, bg context.Context, o options) (err error) {
	s, log := a.Settings, a.Log
	if a.Store, err = s.OpenStore(ctx); err != nil {
		err = fmt.Errorf("open database %s: %w", config.RedactDSN(s.DB), err)
		if errors.Is(err, store.ErrBadDSN) {
			err = config.BadSetting(fmt.Errorf("--db: %w", err))
		}
		return err
	}
	if !o.beside {
		if a.unlock, err = a.Store.LockSingleInstance(); err != nil {
			return err
		}
	}
	if err = checkSchema(ctx, a.Store, s, log); err != nil {
		return err
	}
	// From here every write the service must not lose goes through the
	// spool when the database refuses it (docs/design.md §7).
	dir, maxBytes := s.Spool()
	sp, err := spooled.Open(a.Store, spooled.Config{Dir: dir, MaxBytes: maxBytes, Logger: log})
	if err != nil {
		return config.BadSetting(fmt.Errorf("--spool-dir: %w", err))
	}
	a.spool = sp
	if n := sp.Waiting(); n > 0 {
		// The engine is about to adopt the unfinished requests as the
		// database has them: the last run's spooled writes go first, or a
		// call that ended while the database refused writes would be
		// reconciled from its stale row.
		fctx, cancel := context.WithTimeout(ctx, startReplayWait)
		err = sp.Flush(fctx)
		cancel()
		if err != nil {
			return fmt.Errorf("the last run left %d writes in the spool %s and the database does not take them yet: %w", n, dir, err)
		}
	}
	if !o.beside && !a.Store.MultiInstance() {
		// After the spool's replay: the last run's writes land under the
		// name they were made with.
		n, err := a.Store.TakeOverUnfinished(ctx, s.Instance, oneShotMark)
		if err != nil {
			return err
		}
		if n > 0 {
			log.Warn("took over the unfinished requests of an instance of another name on this single-instance database", "requests", n)
		}
	}
	mon := monitor.New(a.spool, log)
	mon.Location = s.PBXLocation()
	a.mon = mon
	var sink func(sandbox.CDRRecord)
	if s.AMI == "" && ownCDRTable(s) {
		// The built-in sandbox writes its CDRs into our own cdr table, as
		// Asterisk's database backend would, and wakes the monitor.
		a.pbxCDRs = pbxcdr.New(a.Store, log, mon.Wake)
		a.workers.Add(1)
		go func() {
			defer a.workers.Done()
			a.pbxCDRs.Run(bg)
		}()
		sink = a.pbxCDRs.Sink
	}
	if a.PBXs, err = connectPBXs(ctx, s, log, o.ami, sink); err != nil {
		return err
	}
	a.PBX = a.PBXs[0]

	// Before the engines start: no Cdr event of a call reconciled at start
	// is missed.
	cdrStats := a.startCDRMonitors(bg, mon)

	var pool []*nodes.Node
	for i, p := range a.PBXs {
		ecfg := engineConfig(s, log)
		ecfg.MaxConcurrent, ecfg.MaxPerSecond = p.MaxConcurrent, p.MaxCPS
		ecfg.PBXStartedAt = p.SandboxStarted // the built-in sandbox: new with this process
		if s.AMI != "" {
			// Each request records its node; the first node also owns
			// those of versions before nodes. (The sandbox's address
			// changes with every start: its requests carry none.)
			ecfg.Node, ecfg.OwnsUnnoded = p.Addr, i == 0
			ecfg.Logger = log.With("node", p.Addr)
		}
		if a.Store.MultiInstance() {
			// --max-concurrent and --max-cps for the whole service, per PBX node
			// (its --ami address: give every instance the same). A decision,
			// not a record: on the database itself, never the spool.
			ecfg.Gate = cluster.Capacity{Store: a.Store, Node: p.Addr, MaxConcurrent: p.MaxConcurrent, MaxPerSecond: p.MaxCPS}
		}
		e, err := callflow.New(ecfg, p.Client, a.spool)
		if err != nil {
			return config.BadSetting(fmt.Errorf("engine: %w", err))
		}
		a.Engines = append(a.Engines, e)
		if err = e.Start(bg); err != nil {
			return fmt.Errorf("start engine of node %s: %w", p.Addr, err)
		}
		client := p.Client
		pool = append(pool, &nodes.Node{ID: p.Addr, Engine: e, Up: func() bool { return client.State() == ami.Connected },
			MaxConcurrent: p.MaxConcurrent, MaxCPS: p.MaxCPS})
	}
	a.Engine = a.Engines[0]
	if a.Nodes, err = nodes.New(pool, a.Store, log); err != nil {
		return err
	}

	// Requests of other instances sharing the database: GET, DELETE and
	// live progress on any instance (docs/scale-out.md).
	a.Cluster = cluster.New(a.Nodes, a.Store, s.Instance, log)
	if a.Store.MultiInstance() {
		for i, p := range a.PBXs {
			a.Cluster.EnableFailover(a.Store, p.Addr, a.Engines[i])
		}
	}
	a.Cluster.Start(bg)
	a.workers.Add(1)
	go func() { defer a.workers.Done(); a.Cluster.Wait() }()

	// The policy names its component in its logs itself.
	pcfg := s.PolicyConfig()
	if a.Store.MultiInstance() {
		pcfg.Shared = a.Store       // one allowance for all the instances (docs/scale-out.md)
		pcfg.SharedBudget = a.Store // one daily budget
	}
	if a.Guard, err = policy.New(pcfg, a.spool, s.Rules(), log); err != nil {
		return config.BadSetting(err)
	}

	a.Registry = prometheus.NewRegistry()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Registry.MustRegister(serviceCollectors(s, a.engineStats, cdrStats, a.spool)...)
	a.Registry.MustRegister(nodeCollector{a.Nodes})
	wcfg := web.Config{
		AdminToken:     s.AdminToken,
		TrustedProxies: s.TrustedProxies,
		WebhookURL:     s.WebhookURL,
		WebhookSecret:  s.WebhookSecret,
		PublicBaseURL:  s.PublicURL,
		DefaultLang:    s.Lang,
		CallLimit:      s.CallLimit,
		PBXTimeScale:   engineConfig(s, log).PBXTimeScale,
		Region:         s.Region,

		InternationalPrefix: s.Policy.InternationalPrefix,
		Rules:               s.Rules(),
		Location:            s.Location(),
		MaxStreams:          s.MaxStreams,
		MaxStreamsPerIP:     s.MaxStreamsPerIP,
	}
	a.Refusals = httpguard.NewRefusals(log, nil)
	a.workers.Add(1)
	go func() { defer a.workers.Done(); a.Refusals.Run(bg, 0) }()
	deps := web.Deps{
		Service:  a.Cluster,
		Store:    a.spool,
		Guard:    a.Guard,
		AMIState: a.amiState,
		Nodes:    a.Nodes,
		Ready:    a.ready,
		Sandbox:  a.PBX.Sandbox != nil,
		Logger:   log, // web names its component itself
		Registry: a.Registry,
		Refusals: a.Refusals,
	}
	if o.web != nil {
		o.web(&wcfg, &deps)
	}
	if a.Web, err = web.New(wcfg, deps); err != nil {
		return config.BadSetting(fmt.Errorf("web: %w", err))
	}

	if s.Retention > 0 {
		mon := monitor.New(a.spool, log)
		a.workers.Add(1)
		go func() {
			defer a.workers.Done()
			logStop(log, "retention sweep", mon.Retain(bg, s.Retention, time.Hour))
		}()
	}
	return nil
}

// checkSchema migrates the database with --migrate; without, it checks
// the schema is one this binary knows. Either way a database a newer
// binary migrated is refused (store.ErrSchemaTooNew): a downgrade must go
// through a backup taken before the upgrade.
func checkSchema(ctx context.Context, st *store.DB, s *config.Settings, log *slog.Logger) error {
	if s.Migrate {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate database %s: %w", config.RedactDSN(s.DB), err)
		}
		return nil
	}
	status, err := st.SchemaStatus(ctx)
	if err == nil {
		err = status.Err()
	}
	if err != nil {
		return fmt.Errorf("database %s: %w", config.RedactDSN(s.DB), err)
	}
	if len(status.Pending) > 0 {
		log.Warn("database schema has pending migrations and --migrate is off: run webcallback migrate",
			"pending", status.Pending)
	}
	return nil
}

// ready is /readyz: at least one PBX node's AMI link is up, the database
// takes writes (its file is there, for SQLite) and no write it refused
// still waits in the spool.
func (a *App) ready(ctx context.Context) error {
	if a.amiState() != "connected" {
		return fmt.Errorf("AMI of every node down")
	}
	if err := a.spool.Ready(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// amiState is the AMI state the admin page and the metrics show:
// "connected" when at least one node's link is, else the first node's.
func (a *App) amiState() string {
	for _, p := range a.PBXs {
		if p.Client.State() == ami.Connected {
			return p.Client.State().String()
		}
	}
	return a.PBX.Client.State().String()
}

// engineStats sums the counters of every node's engine.
func (a *App) engineStats() callflow.Stats {
	var t callflow.Stats
	for _, e := range a.Engines {
		t = t.Add(e.Stats())
	}
	return t
}

// startCDRMonitors starts the CDR ingestion (startCDRMonitor): from the
// "ami" source one monitor per node's AMI link (mon for the first), from
// the "table" source one. It returns their counters, summed.
func (a *App) startCDRMonitors(bg context.Context, mon *monitor.Monitor) func() monitor.Stats {
	var mons []*monitor.Monitor
	for i, p := range a.PBXs {
		if i > 0 && a.Settings.CDRSource == "table" {
			break
		}
		m := mon
		if i > 0 {
			m = monitor.New(a.spool, a.Log)
			m.Location = mon.Location
		}
		stop, _ := startCDRMonitor(bg, a.Settings, m, p.Client, a.Log)
		a.stopCDRs = append(a.stopCDRs, stop)
		mons = append(mons, m)
	}
	return func() monitor.Stats {
		var t monitor.Stats
		for _, m := range mons {
			st := m.Stats()
			t.Ingested += st.Ingested
			t.Duplicates += st.Duplicates
			t.Invalid += st.Invalid
			t.Failed += st.Failed
			t.WriteErrors += st.WriteErrors
		}
		return t
	}
}

// Serve runs the web ([web.Server.Run]) on l until ctx is done: then it
// shuts down gracefully (open requests get a few seconds, live calls go on
// in Asterisk and stay reconcilable by the next start) and returns once the
// HTTP server and the web's workers (metrics feed, webhooks) have stopped.
//
// Connections beyond --max-conns, or --max-conns-per-ip from one peer other
// than a trusted proxy, are closed at accept.
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	l = httpguard.LimitListener(l, httpguard.ConnLimits{PerIP: a.Settings.MaxConnsPerIP, Total: a.Settings.MaxConns,
		Proxies: a.Settings.TrustedProxies}, a.Refusals)
	return a.Web.Run(ctx, l)
}

// cdrDrainWait bounds how long Close waits for the CDRs received to be
// stored (seconds with a healthy database; the store's retries otherwise).
const cdrDrainWait = 10 * time.Second

// Close stops the engine (live calls stay up in the PBX), then the CDR
// monitor once it has stored the Cdr events already received, the other
// workers, the AMI link and the sandbox, and the store, in that order.
func (a *App) Close(ctx context.Context) {
	for _, e := range a.Engines {
		if err := e.Shutdown(ctx); err != nil {
			a.Log.Warn("engine shutdown", "err", err)
		}
	}
	if len(a.stopCDRs) > 0 {
		dctx, cancel := context.WithTimeout(ctx, cdrDrainWait)
		for _, stop := range a.stopCDRs {
			stop(dctx)
		}
		cancel()
	}
	for _, p := range a.PBXs {
		p.Close()
	}
	if a.pbxCDRs != nil { // the sandbox is closed: write what it left, and ingest it
		dctx, cancel := context.WithTimeout(ctx, cdrDrainWait)
		a.pbxCDRs.Stop(dctx)
		if err := a.mon.IngestOwnTable(dctx); err != nil {
			a.Log.Warn("ingesting the last CDRs; the next start does", "err", err)
		}
		cancel()
	}
	a.stop()
	a.workers.Wait() // before the store they use closes
	if a.spool != nil {
		// A moment for the spool to reach a database that is back; what
		// still waits is replayed by the next start.
		fctx, cancel := context.WithTimeout(ctx, spoolDrainWait)
		if err := a.spool.Flush(fctx); err != nil {
			a.Log.Warn("stopping with writes in the spool; the next start replays them", "err", err)
		}
		cancel()
		a.spool.Close() // closes a.Store too
	} else if a.Store != nil {
		a.Store.Close()
	}
	if a.unlock != nil {
		a.unlock()
	}
}

// spoolDrainWait bounds how long Close waits for the spool to empty;
// startReplayWait how long a start waits for the last run's spool.
const (
	spoolDrainWait  = 5 * time.Second
	startReplayWait = 30 * time.Second
)

// engineConfig maps the settings onto the engine's config. --instance names
// the engine: Start adopts the unfinished requests of its own instance.
func engineConfig(s *config.Settings, log *slog.Logger) callflow.Config {
	warning := s.CallWarning
	if warning == 0 {
		warning = -1 // the engine reads 0 as "default"; the setting means "none"
	}
	c := callflow.Config{
		Trunk: s.Trunk, CallerIDMode: s.CallerIDMode, DID: s.DID,
		CallerRing: s.CallerRing, CalleeRing: s.CalleeRing, Limit: s.CallLimit, Warning: warning,
		WarnCallee: s.WarnCallee, Lang: s.Lang, CallerConfirm: s.CallerConfirm, CalleeAnnounce: s.CalleeAnnounce,
		MaxConcurrent: s.MaxConcurrent, MaxPerSecond: s.MaxCPS, QueueSize: s.QueueSize, QueueWait: s.QueueWait,
		Instance: s.Instance, Logger: log,
	}
	if s.AMI == "" {
		c.PBXTimeScale = s.SandboxTimeScale // talk times in the sandbox's time
	}
	if s.CDRSource == "table" {
		// Asterisk writes each CDR as the channel goes: a healthy database
		// has the rows of a call that ended unseen within a second.
		c.CDRGrace = cdrGrace
	}
	return c
}

// logStop logs why a background worker ended, unless the service is stopping.
func logStop(log *slog.Logger, what string, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error(what+" stopped", "err", err)
	}
}
