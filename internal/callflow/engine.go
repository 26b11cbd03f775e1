// Package callflow is the callback engine: one state machine per request,
// one async Originate per request into the fixed dialplan context, event
// correlation by the request id Asterisk carries as Uniqueid/Linkedid,
// outcome and cause mapping, capacity (concurrency, call rate, a bounded
// FIFO), cancel and admin hang-up, and reconciliation after an AMI
// reconnect or a restart of the service. [Engine] implements
// [callback.Service]: [New], [Engine.Start], then [Engine.Submit] a request
// the policy admitted and [Engine.Watch] it; [Engine.Shutdown] leaves live
// calls to Asterisk and a later Start adopts them. The package example runs
// one call on the sandbox PBX.
//
// The spec is docs/design.md §1, §3 and §6; the replay tests feed the
// streams real Asterisk sent to the state machine.
package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// Caller ID modes of Config.CallerIDMode.
const (
	CallerIDPartner = "partner" // each side sees the other's number, as the original
	CallerIDDID     = "did"     // both sides see our own DID (trunks that refuse foreign caller IDs)
)

// The engine's defaults (the --max-concurrent, --max-cps, --queue-size,
// --queue-wait and --instance settings take them).
const (
	DefaultMaxConcurrent = 100
	DefaultMaxPerSecond  = 5.0
	DefaultQueueSize     = 100 // the setting's default; Config.QueueSize 0 means no queue
	DefaultQueueWait     = 15 * time.Second
	DefaultInstance      = "webcallback"
)

// Config is the engine's settings. Zero fields take the defaults noted.
type Config struct {
	Trunk        string        // PJSIP endpoint of the trunk; "gateway"
	CallerIDMode string        // CallerIDPartner (default) or CallerIDDID
	DID          string        // our own number, digits; required for CallerIDDID
	CallerRing   time.Duration // Originate Timeout: how long the caller's phone rings; 30s
	CalleeRing   time.Duration // Dial ring timeout for the callee; 30s
	Limit        time.Duration // talk limit; 300s
	Warning      time.Duration // spoken warning before the limit; 20s (negative = none)
	WarnCallee   bool          // play the warning to the callee too
	Lang         string        // prompt language when a request has none: "zh" (default) or "en"
	// Consent (docs/design.md §6). The zero value is off for both; the
	// --caller-confirm setting defaults to on.
	CallerConfirm  bool // the caller presses 1 before the callee is dialled
	CalleeAnnounce bool // the callee hears who calls: 1 talks, 9 opts out for good

	MaxConcurrent int           // calls in progress at once; 100
	MaxPerSecond  float64       // Originates per second; 5 (negative = no cap)
	QueueSize     int           // requests that may wait for capacity (0 = none: busy at once)
	QueueWait     time.Duration // longest wait in the queue; 15s

	// Gate, when set, makes MaxConcurrent and MaxPerSecond hold for the
	// whole service (several instances sharing a database): each Originate
	// first takes a service-wide slot, released at the call's final state.
	Gate Gate

	Instance string // this service instance (Request.Instance); DefaultInstance
	// Node names the PBX node the engine's AMI client talks to (its
	// host:port; Request.Node) when the service has several (internal/nodes):
	// Submit stamps it on each request and Start adopts only the requests
	// of this node, plus, with OwnsUnnoded, those stored without a node (by
	// versions before nodes: the first node's). "" = the one node: all.
	Node        string
	OwnsUnnoded bool
	Logger      *slog.Logger // nil = slog.Default()

	// PBXTimeScale is wall-clock seconds per PBX second: 1 for Asterisk,
	// the sandbox PBX's --sandbox-time-scale for it, so talk times (Billsec)
	// read in the PBX's time. 0 = 1.
	PBXTimeScale float64

	// PBXStartedAt, when set, is when this process started the PBX itself
	// (the built-in sandbox PBX dies with the process that runs it): every
	// call adopted at Start was taken along by the previous one, as by a
	// restarted Asterisk, and ends failed / pbx_lost with its talk counted
	// to this start at the latest. A real Asterisk tells its start by
	// FullyBooted instead, which the first login (made before Start
	// subscribes) does not give the engine.
	PBXStartedAt time.Time

	// CDRGrace is how long a call found gone from Asterisk (its end unseen:
	// the service was down or the AMI link lost) waits for the CDR rows the
	// PBX writes itself, which tell its true end, before it is failed as
	// network_error. Set it when the PBX writes the cdr table
	// (--cdr-source table); 0 = do not wait.
	CDRGrace time.Duration

	// LostSpan is how long after its Originate a call whose node's AMI
	// link is down is taken as over on the PBX and finished without AMI
	// (lostnode.go); 0 = the longest possible call (maxCallSpan). Tests
	// set it small.
	LostSpan time.Duration
}

func (cfg *Config) setDefaults() error {
	def := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if cfg.Trunk == "" {
		cfg.Trunk = wcbproto.DefaultTrunk
	}
	if cfg.CallerIDMode == "" {
		cfg.CallerIDMode = CallerIDPartner
	}
	def(&cfg.CallerRing, wcbproto.DefaultRing)
	def(&cfg.CalleeRing, wcbproto.DefaultRing)
	def(&cfg.Limit, wcbproto.DefaultCallLimit)
	def(&cfg.Warning, wcbproto.DefaultCallWarning)
	if cfg.Warning < 0 {
		cfg.Warning = 0
	}
	def(&cfg.QueueWait, DefaultQueueWait)
	if cfg.Lang == "" {
		cfg.Lang = wcbproto.DefaultLang
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxPerSecond == 0 {
		cfg.MaxPerSecond = DefaultMaxPerSecond
	}
	if cfg.QueueSize < 0 {
		cfg.QueueSize = 0
	}
	if cfg.Instance == "" {
		cfg.Instance = DefaultInstance
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !(cfg.PBXTimeScale > 0) || cfg.PBXTimeScale > 1e6 {
		cfg.PBXTimeScale = 1
	}
	var errs []error
	if err := wcbproto.CheckTrunk(cfg.Trunk); err != nil {
		errs = append(errs, err)
	}
	switch cfg.CallerIDMode {
	case CallerIDPartner:
	case CallerIDDID:
		if !digitsOnly(cfg.DID) {
			errs = append(errs, fmt.Errorf("caller ID mode did needs a DID of digits, not %q", cfg.DID))
		}
	default:
		errs = append(errs, fmt.Errorf("caller ID mode %q: want %q or %q", cfg.CallerIDMode, CallerIDPartner, CallerIDDID))
	}
	if err := wcbproto.CheckLang(cfg.Lang); err != nil {
		errs = append(errs, err)
	}
	if cfg.Warning >= cfg.Limit {
		errs = append(errs, fmt.Errorf("warning %v must be shorter than the limit %v", cfg.Warning, cfg.Limit))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("callflow: config: %w", err)
	}
	return nil
}

// NotOwnerError is Cancel's answer for a live request another instance
// owns: only the owner's AMI link follows its channels. It wraps
// callback.ErrNotFound; the cluster layer (internal/cluster) passes the
// cancel on to the owner through the database.
type NotOwnerError struct {
	ID, Instance string
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("%v: %s is handled by instance %q", callback.ErrNotFound, e.ID, e.Instance)
}

func (e *NotOwnerError) Unwrap() error { return callback.ErrNotFound }

// Gate is the service-wide capacity ([*store.DB] is one, through
// internal/cluster's adapter): a call slot among max and a turn under the
// call rate (one Originate every interval; 0 = none).
type Gate interface {
	// Acquire returns 0 when id may be originated now (it then holds a
	// slot until Release), else how long to wait before asking again.
	Acquire(ctx context.Context, id string, now time.Time) (wait time.Duration, err error)
	Release(ctx context.Context, id string) error
}

// Timings of the engine's own housekeeping (real time, not the PBX's).
const (
	// originateGrace is how long a failed OriginateResponse waits for the
	// caller leg's Hangup, which carries the cause.
	originateGrace = 2 * time.Second
	// reconcileMinAge spares calls whose Originate went out this recently:
	// Asterisk may not have created their channel yet.
	reconcileMinAge = 2 * time.Second
	// sweepEvery is how often the engine looks for calls that outlived any
	// possible call (lost events) and reconciles them.
	sweepEvery = 30 * time.Second
	// subscriptionBuffer is the AMI event buffer of the engine: room for a
	// burst of ~100 events for each of hundreds of calls.
	subscriptionBuffer = 1 << 16
)

// Store is what the engine needs of the database ([*store.DB] is one): it
// persists each request's state and history, and re-reads the unfinished
// ones after a restart.
type Store interface {
	GetRequest(ctx context.Context, id string) (*callback.Request, error)
	UpdateRequest(ctx context.Context, r *callback.Request) error
	UnfinishedRequests(ctx context.Context, instance string) ([]*callback.Request, error)
	// CallCDRs: the CDR rows the PBX wrote for a call that ended unseen.
	CallCDRs(ctx context.Context, id string) ([]store.CDR, error)
}

// Engine places and follows callbacks. It implements callback.Service.
type Engine struct {
	cfg    Config
	client *ami.Client
	st     Store
	log    *slog.Logger

	mu      sync.Mutex
	tr      *tracker
	orphans orphans
	closing bool
	// judged: since the last login the PBX said how long it has been up
	// (FullyBooted), or judgeWait passed without it. Until then a call
	// gone without CDR rows is not settled: whether the PBX took it
	// (pbx_lost) or not (network_error) is not known yet.
	judged  bool
	logins  uint64 // logins seen, to match a judgeWait timer to its login
	started bool

	adm *admission
	hub *hub
	w   *writer

	bg      context.Context // lives until Shutdown: background loops and actions
	stop    context.CancelFunc
	loops   sync.WaitGroup // dispatcher, reconciler, writer
	events  sync.WaitGroup // the event loop
	placing sync.WaitGroup // Originates in flight
	sub     *ami.Subscription
	recon   chan struct{}

	stats stats
}

// New returns an engine placing calls through client and persisting them
// in st. Call Start before Submit.
func New(cfg Config, client *ami.Client, st Store) (*Engine, error) {
	if client == nil || st == nil {
		return nil, errors.New("callflow: New needs an AMI client and a store")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	perSecond := cfg.MaxPerSecond
	if perSecond < 0 {
		perSecond = 0
	}
	e := &Engine{
		cfg:    cfg,
		client: client,
		st:     st,
		log:    cfg.Logger.With("component", "callflow"),
		tr:     newTracker(),
		adm:    newAdmission(cfg.MaxConcurrent, perSecond, cfg.QueueSize, cfg.QueueWait),
		hub:    newHub(),
		recon:  make(chan struct{}, 1),
	}
	e.w = newWriter(st, e.log, e.hub.publish)
	e.bg, e.stop = context.WithCancel(context.Background())
	return e, nil
}

// Start subscribes to the AMI events, adopts this instance's requests that
// a previous run left unfinished (they are reconciled against the live
// channels as soon as AMI is up: the ones still up are followed to their
// end, the others finished; none is ever originated again), and starts
// taking requests.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("callflow: engine already started")
	}
	e.started = true
	e.mu.Unlock()

	// Subscribe before anything else: no event of an adopted call can fall
	// between the store read and the reconciliation.
	e.sub = e.client.Subscribe(subscriptionBuffer)
	left, err := e.st.UnfinishedRequests(ctx, e.cfg.Instance)
	if err != nil {
		e.sub.Close()
		return fmt.Errorf("callflow: loading unfinished requests: %w", err)
	}
	left = e.ofNode(left)
	e.adopt(left)
	e.awaitJudgement() // the login came before this subscription: no FullyBooted
	if !e.cfg.PBXStartedAt.IsZero() {
		now := time.Now()
		e.judgePBXLoss(int(now.Sub(e.cfg.PBXStartedAt)/time.Second), now)
	}

	e.events.Add(1)
	go e.eventLoop(e.sub)
	e.loops.Add(4)
	go func() { defer e.loops.Done(); e.w.run(e.bg.Done()) }()
	go e.dispatcher()
	go e.reconciler()
	go e.lostNodeSweeper() // lostnode.go
	return nil
}

// ofNode keeps the requests placed on this engine's node (Config.Node).
func (e *Engine) ofNode(rs []*callback.Request) []*callback.Request {
	if e.cfg.Node == "" {
		return rs
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Node == e.cfg.Node || r.Node == "" && e.cfg.OwnsUnnoded {
			out = append(out, r)
		}
	}
	return out
}

// adopt follows calls placed before (by a previous run, or by an instance
// that died): marked originated, so never sent again; reconciled against the
// PBX's channels: the ones still up are followed to their end by their
// events, the others finished.
func (e *Engine) adopt(rs []*callback.Request) {
	e.mu.Lock()
	var requeued int
	for _, r := range rs {
		if _, dup := e.tr.calls[r.ID]; dup || r.State.Final() {
			continue
		}
		c := e.newCall(r)
		if neverSent(r) {
			// Its Originate never left (place stores calling_caller before
			// sending): it waits in the queue again, from now, and is
			// placed once. The visitor's request is not lost to a restart.
			c.submitted = time.Now()
			e.tr.add(c)
			if !e.adm.enqueue(r.ID, c.submitted) {
				e.stats.busy.Add(1)
				if c.finish(callback.StateRejected, callback.ReasonSystemBusy, 0, callback.PromptNone, c.submitted) {
					e.changedLocked(c)
				}
			}
			requeued++
			continue
		}
		c.originated = true // it may have been: never send it again
		c.adopted = true
		c.gap = true         // its events while no service followed it are gone
		c.sentAt = sentAt(r) // for the overdue sweep and judgePBXLoss
		c.slot = true
		c.gated = e.cfg.Gate != nil // its slot row, if any, is freed by id at its end
		e.adm.acquire()
		e.tr.add(c)
	}
	e.mu.Unlock()
	if len(rs) > 0 {
		e.log.Info("adopting unfinished requests", "count", len(rs), "queued_again", requeued, "instance", e.cfg.Instance)
	}
	e.kickReconcile()
}

// Adopt takes over the unfinished requests of a dead instance, already
// reassigned to this one in the store (internal/cluster claims them): the
// engine follows them as its own from now on, as Start does for those of a
// previous run. It fails before Start or after Shutdown.
func (e *Engine) Adopt(rs []*callback.Request) error {
	e.mu.Lock()
	ok := e.started && !e.closing
	e.mu.Unlock()
	if !ok {
		return errors.New("callflow: adopt: engine not running")
	}
	for _, r := range rs {
		r.Instance = e.cfg.Instance
	}
	e.adopt(rs)
	return nil
}

// Disown stops following the calls ids without writing anything: another
// instance has adopted them while this one was taken for dead (paused, or
// cut off from the database), and only the owner may write their outcome.
// Their local capacity slots are freed; the service-wide ones are the new
// owner's. Watchers here see their streams end; a client reconnects and is
// served from the store. It returns the ids it was following.
func (e *Engine) Disown(ids []string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, id := range ids {
		c := e.tr.calls[id]
		if c == nil {
			continue
		}
		e.tr.remove(c)
		if c.slot {
			c.slot = false
			e.adm.release()
		}
		c.gated = false
		e.hub.end(id)
		out = append(out, id)
	}
	return out
}

// neverSent reports whether a stored request surely has no Originate out:
// it is queued and so is the last step of its history (place stores
// calling_caller before the Originate leaves, and an Originate the link
// could not send puts a queued step after it; the history only grows,
// even when an older snapshot of the state is written after it).
func neverSent(r *callback.Request) bool {
	n := len(r.History)
	return r.State == callback.StateQueued && (n == 0 || r.History[n-1].State == callback.StateQueued)
}

// sentAt is when a stored request's Originate went out, as far as the
// store knows: its calling_caller transition (stored before sending), else
// its creation.
func sentAt(r *callback.Request) time.Time {
	for _, t := range r.History {
		if t.State == callback.StateCallingCaller {
			return t.At
		}
	}
	return r.CreatedAt
}

// newCall wraps a request for the engine; r becomes the engine's own copy.
func (e *Engine) newCall(r *callback.Request) *call {
	return &call{req: r, limitMS: int(e.cfg.Limit / time.Millisecond), scale: e.cfg.PBXTimeScale, announce: e.cfg.CalleeAnnounce}
}

// Shutdown stops taking requests: queued ones are refused (system_busy) as
// nothing of them reached the PBX; calls in progress go on in Asterisk and
// stay in the store unfinished, for the next Start (of this instance) to
// reconcile. It waits for Originates in flight and for pending writes, until
// ctx ends. The AMI client and the store stay open: the caller owns them.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return nil
	}
	e.closing = true
	started := e.started
	e.mu.Unlock()

	now := time.Now()
	for _, id := range e.adm.close() {
		e.finishByID(id, callback.StateRejected, callback.ReasonSystemBusy, now)
	}
	if !started {
		e.stop()
		return nil
	}
	var errs []error
	if err := waitGroup(ctx, &e.placing); err != nil {
		errs = append(errs, fmt.Errorf("waiting for Originates in flight: %w", err))
	}
	e.sub.Close()
	if err := waitGroup(ctx, &e.events); err != nil {
		errs = append(errs, fmt.Errorf("stopping the event loop: %w", err))
	}
	e.mu.Lock()
	for _, c := range e.tr.calls {
		if c.held != nil {
			e.releaseHeldLocked(c) // no Shutdown came: the end its events told
		}
	}
	e.mu.Unlock()
	e.stop()
	if err := waitGroup(ctx, &e.loops); err != nil {
		errs = append(errs, fmt.Errorf("stopping: %w", err))
	}
	if err := e.w.flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("writing requests: %w", err))
	}
	e.hub.closeAll()
	e.mu.Lock()
	live := len(e.tr.calls)
	e.mu.Unlock()
	e.log.Info("engine stopped; calls in progress continue in Asterisk", "live", live)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("callflow: shutdown: %w", err)
	}
	return nil
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Submit takes a request the web or the CLI has stored with store.Admit
// (state queued) and places its call as soon as capacity allows. It returns
// callback.ErrSystemBusy at once when no slot and no queue place is left
// (the request is then stored as rejected/system_busy).
func (e *Engine) Submit(ctx context.Context, r *callback.Request) error {
	if r == nil || !callback.ValidID(r.ID) {
		return fmt.Errorf("%w: missing or malformed request id", errBadRequest)
	}
	now := time.Now()
	c := e.submitted(r, now)
	req := c.req
	if _, err := e.cfg.originate(req); err != nil {
		// Defense in depth: policy should never let this through.
		e.log.Warn("refusing a request unsafe to originate", "id", req.ID, "err", err)
		if rerr := e.reject(ctx, c, callback.ReasonInvalidNumber, now); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}

	e.mu.Lock()
	if _, dup := e.tr.calls[req.ID]; dup {
		e.mu.Unlock()
		return fmt.Errorf("callflow: request %s already submitted", req.ID)
	}
	if e.closing || !e.started || !e.adm.enqueue(req.ID, now) {
		e.mu.Unlock()
		e.stats.busy.Add(1)
		if err := e.reject(ctx, c, callback.ReasonSystemBusy, now); err != nil {
			return errors.Join(callback.ErrSystemBusy, err)
		}
		return callback.ErrSystemBusy
	}
	c.submitted = now
	e.tr.add(c)
	snap := req.Clone()
	e.hub.publish(snap)
	e.w.put(snap) // records Instance: whose call it is after a restart
	e.mu.Unlock()
	e.stats.submitted.Add(1)
	return nil
}

// submitted is the engine's call for a request handed to Submit or Refuse:
// queued, owned by this instance, on this node.
func (e *Engine) submitted(r *callback.Request, now time.Time) *call {
	c := e.newCall(r.Clone())
	req := c.req
	req.State, req.Reason, req.Cause, req.Prompt = callback.StateQueued, "", 0, callback.PromptNone
	req.Instance = e.cfg.Instance
	if e.cfg.Node != "" {
		req.Node = e.cfg.Node
	}
	req.UpdatedAt = now
	if len(req.History) == 0 {
		at := req.CreatedAt
		if at.IsZero() {
			at = now
			req.CreatedAt = now
		}
		req.History = []callback.Transition{{State: callback.StateQueued, At: at}}
	}
	return c
}

// Refuse stores a request no PBX node can take (the node pool's answer:
// every node down or draining) as rejected/system_busy, as Submit does
// with one it has no room for, and returns callback.ErrSystemBusy.
func (e *Engine) Refuse(ctx context.Context, r *callback.Request) error {
	if r == nil || !callback.ValidID(r.ID) {
		return fmt.Errorf("%w: missing or malformed request id", errBadRequest)
	}
	now := time.Now()
	e.stats.busy.Add(1)
	if err := e.reject(ctx, e.submitted(r, now), callback.ReasonSystemBusy, now); err != nil {
		return errors.Join(callback.ErrSystemBusy, err)
	}
	return callback.ErrSystemBusy
}

// reject ends a request that never reached the PBX and stores it at once,
// so the caller of Submit reads it back from the store right away.
func (e *Engine) reject(ctx context.Context, c *call, reason callback.Reason, now time.Time) error {
	c.finish(callback.StateRejected, reason, 0, callback.PromptNone, now)
	snap := c.req.Clone()
	err := e.st.UpdateRequest(ctx, snap)
	e.hub.publish(snap) // stored first, like every final state
	if err != nil {
		return fmt.Errorf("callflow: storing rejected request %s: %w", snap.ID, err)
	}
	return nil
}

// finishByID ends a live call that has no channel (queued, or lost).
func (e *Engine) finishByID(id string, s callback.State, reason callback.Reason, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.tr.calls[id]; c != nil && c.finish(s, reason, 0, callback.PromptNone, now) {
		e.changedLocked(c)
	}
}

// changedLocked publishes and stores c's new state (a final state is
// published by the writer once stored); a final state releases its
// capacity slot and forgets the call. e.mu is held.
func (e *Engine) changedLocked(c *call) {
	snap := c.req.Clone()
	e.w.put(snap)
	if !snap.State.Final() {
		e.hub.publish(snap)
		return
	}
	e.tr.remove(c)
	if c.slot {
		c.slot = false
		e.adm.release()
	}
	if c.gated {
		c.gated = false
		go e.releaseGate(snap.ID)
	}
	e.stats.finished.Add(1)
	e.log.Info("callback finished", "id", snap.ID, "state", snap.State, "reason", snap.Reason,
		"cause", snap.Cause, "prompt", snap.Prompt, "billsec", snap.Billsec)
}

// releaseGate frees a call's service-wide slot. A failure leaves the slot
// to the store's sweep of final requests.
func (e *Engine) releaseGate(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cfg.Gate.Release(ctx, id); err != nil {
		e.log.Warn("releasing a service-wide call slot", "id", id, "err", err)
	}
}

// dispatcher originates queued requests as capacity allows and refuses the
// ones whose wait ran out.
func (e *Engine) dispatcher() {
	defer e.loops.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// An Originate while the AMI link is down could only fail
		// (rejected/system_busy, nothing rung): hold the queue until the
		// link is back, which wakes this loop (EventConnected).
		expired, ready, sleep := e.adm.step(time.Now(), e.client.State() == ami.Connected)
		for _, id := range expired {
			e.stats.busy.Add(1)
			e.log.Warn("request waited too long for capacity", "id", id, "max_wait", e.cfg.QueueWait)
			e.finishByID(id, callback.StateRejected, callback.ReasonSystemBusy, time.Now())
		}
		if ready != "" {
			e.placing.Add(1)
			go e.place(ready)
			continue
		}
		if sleep < 0 {
			sleep = time.Hour
		}
		timer.Reset(sleep)
		select {
		case <-e.bg.Done():
			return
		case <-e.adm.kick:
		case <-timer.C:
		}
	}
}

// place sends the request's one and only Originate.
func (e *Engine) place(id string) {
	defer e.placing.Done()
	gated := false
	if g := e.cfg.Gate; g != nil {
		wait, err := g.Acquire(e.bg, id, time.Now())
		switch {
		case err != nil:
			// The database is out: the local caps still hold (per instance).
			e.log.Warn("service-wide capacity unavailable; placing under this instance's caps", "id", id, "err", err)
		case wait > 0:
			if !e.adm.gateRequeue(id, time.Now().Add(wait)) {
				e.finishByID(id, callback.StateRejected, callback.ReasonSystemBusy, time.Now())
			}
			return
		default:
			gated = true
		}
	}
	e.adm.placed(id)
	e.mu.Lock()
	c := e.tr.calls[id]
	if c == nil || c.req.State != callback.StateQueued || c.originated {
		e.mu.Unlock()
		e.adm.release()
		if gated {
			e.releaseGate(id)
		}
		return
	}
	c.slot = true
	c.gated = gated
	now := time.Now()
	if c.cancelBy != "" { // canceled between the queue and here
		c.finish(callback.StateCanceled, c.cancelBy, 0, callback.PromptNone, now)
		e.changedLocked(c)
		e.mu.Unlock()
		return
	}
	msg, err := e.cfg.originate(c.req)
	if err != nil { // Submit checked it; the config cannot change
		c.finish(callback.StateRejected, callback.ReasonInvalidNumber, 0, callback.PromptNone, now)
		e.changedLocked(c)
		e.mu.Unlock()
		return
	}
	// Mark it before sending: whatever happens next, never send it again.
	c.originated = true
	c.sentAt = now
	c.advance(callback.StateCallingCaller, now)
	e.changedLocked(c)
	mark := c.req.Clone()
	e.mu.Unlock()
	// The mark is durable (the database, or the spool while it refuses
	// writes) before the Originate leaves: a restart after a kill -9 then
	// knows a request still queued in the store was never sent (it is
	// placed again, neverSent) and one past it may have been (never again).
	if err := e.st.UpdateRequest(e.bg, mark); err != nil {
		e.log.Error("cannot store the request before its Originate; not sending it", "id", id, "err", err)
		e.mu.Lock()
		if c.finish(callback.StateRejected, callback.ReasonSystemBusy, 0, callback.PromptNone, time.Now()) {
			e.changedLocked(c)
		}
		e.mu.Unlock()
		return
	}

	e.stats.toWire.observe(now.Sub(c.submitted))
	resp, err := e.client.Do(e.bg, msg)
	done := time.Now()
	e.stats.originated.Add(1)
	e.stats.response.observe(done.Sub(now))

	e.mu.Lock()
	defer e.mu.Unlock()
	var actionErr *ami.ActionError
	switch {
	case err == nil:
		aid := resp.ActionID()
		c.actionID = aid
		if !c.req.State.Final() {
			e.tr.byAction[aid] = c
		}
		if m := e.orphans.take(aid); m != nil && !c.req.State.Final() {
			e.applyLocked(c, m, done)
		}
	case errors.As(err, &actionErr):
		// Asterisk refused it (e.g. "Extension does not exist."): nothing rings.
		e.log.Error("Originate refused by Asterisk", "id", id, "err", err)
		if c.finish(callback.StateFailed, callback.ReasonNetworkError, 0, callback.PromptNone, done) {
			e.changedLocked(c)
		}
	case errors.Is(err, ami.ErrNotConnected) && !c.req.State.Final() && e.adm.requeue(id, c.submitted):
		// The link went down between the dispatcher's look and the send:
		// nothing was written, the PBX never saw it. It waits for the
		// reconnect like the requests behind it (its wait counted from
		// its submission).
		e.log.Info("Originate not sent; back in the queue until AMI is back", "id", id)
		c.originated, c.sentAt = false, time.Time{}
		c.slot = false
		e.adm.release()
		if c.gated { // placed again later: it takes a service-wide slot then
			c.gated = false
			go e.releaseGate(id)
		}
		c.req.State, c.req.UpdatedAt = callback.StateQueued, done
		c.req.History = append(c.req.History, callback.Transition{State: callback.StateQueued, At: done})
		e.changedLocked(c)
	case errors.Is(err, ami.ErrNotConnected), errors.Is(err, ami.ErrInvalidHeader), errors.Is(err, ami.ErrClosed):
		// Nothing was written: the PBX never saw it.
		e.log.Warn("Originate not sent", "id", id, "err", err)
		if c.finish(callback.StateRejected, callback.ReasonSystemBusy, 0, callback.PromptNone, done) {
			e.changedLocked(c)
		}
	default:
		// ErrConnLost, ErrTimeout: it may be ringing. Never re-send: look
		// for its channel once AMI answers again.
		e.log.Warn("Originate outcome unknown; reconciling", "id", id, "err", err)
		c.uncertain = true
		e.kickReconcile()
	}
}

// eventLoop applies every AMI event to the call it belongs to.
func (e *Engine) eventLoop(sub *ami.Subscription) {
	defer e.events.Done()
	for m := range sub.C() {
		switch m.Event() {
		case ami.EventConnected:
			// Events were lost before this (a reconnect), or adopted calls
			// wait for AMI (the first login): compare with the PBX.
			if atoi(m.Get("Reconnects")) > 0 {
				e.log.Info("AMI reconnected; reconciling calls in progress")
			}
			e.awaitJudgement()
			e.kickReconcile()
			e.adm.wake() // requests held while the link was down
			continue
		case ami.EventDropped:
			e.log.Warn("AMI events dropped; reconciling calls in progress", "dropped", m.Get("Dropped"))
			e.markGap()
			e.kickReconcile()
			continue
		case ami.EventDisconnected:
			e.log.Warn("AMI connection lost; calls may continue in Asterisk", "reason", m.Get("Reason"))
			e.markPBXLost(time.Now(), false)
			continue
		case "FullyBooted":
			// After a reconnect: did the PBX restart while we were away?
			e.judgePBXLoss(atoi(m.Get("Uptime")), time.Now())
			e.mu.Lock()
			e.judged = true
			e.mu.Unlock()
			e.kickReconcile()
			continue
		case "Shutdown":
			// Asterisk is stopping (core stop/restart): every call still up
			// ends because the PBX goes, not because someone hung up.
			e.log.Warn("Asterisk is shutting down; calls in progress are lost", "shutdown", m.Get("Shutdown"), "restart", m.Get("Restart"))
			e.markPBXLost(time.Now(), true)
			continue
		case "Cdr":
			// Nothing of a call's state is in its CDRs (they come after
			// its last Hangup); storing them is the monitor's job
			// (internal/monitor, docs/design.md §2), on its own subscription.
			continue
		}
		e.stats.events.Add(1)
		e.handle(m, time.Now())
	}
}

func (e *Engine) handle(m *ami.Message, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.tr.lookup(m)
	if c == nil {
		if m.Event() == "OriginateResponse" && m.Get("Response") != "Success" {
			// Its Originate's Do has not returned yet: keep it until it does.
			e.orphans.put(m)
		}
		return
	}
	e.applyLocked(c, m, now)
}

// applyLocked feeds m to c and carries out what follows. e.mu is held.
func (e *Engine) applyLocked(c *call, m *ami.Message, now time.Time) {
	if c.held != nil {
		return // its end is held (holdEnd): what follows of it changes nothing
	}
	var before, pre *callback.Request
	if c.gap && !c.lostSure && c.cancelBy == "" {
		before = c.req.Clone()
	} else if mayEnd(m) && !c.lostSure && c.cancelBy == "" {
		pre = c.req.Clone()
	}
	changed := c.handle(m, now)
	if pre != nil && c.req.State.Final() && !c.dialEnd {
		e.holdEndLocked(c, pre)
		return
	}
	if before != nil && (c.liveEnd != nil || c.req.State.Final()) {
		// Events of this call were lost (an AMI drop, a restart of the
		// service): the end its remaining events tell may be wrong (a
		// Hangup without the DialEnd before it reads as the caller's).
		// The PBX's CDR rows tell the truth: reconcile settles it from
		// them once its channels are gone, or with the first end its
		// events told if none come. The events after that end (the
		// other leg's Hangup) change nothing.
		if c.liveEnd == nil {
			c.liveEnd = c.req
			c.goneSince = time.Time{}
			e.kickReconcile()
		}
		c.req = before
		return
	}
	if changed {
		e.changedLocked(c)
	}
	if c.req.State.Final() {
		return
	}
	if c.origFailed && !c.graceArmed {
		c.graceArmed = true
		id := c.req.ID
		time.AfterFunc(originateGrace, func() { e.graceFinish(id) })
	}
	if c.cancelBy != "" && !c.hangupSent && c.channel {
		e.hangupLocked(c)
	}
}

// stopHold is how long the end of a call that its events tell, without
// the dialplan's dialend (a caller that hung up, an Originate that
// failed), is held before it is stored. A stopping Asterisk ("core stop
// now") hangs every channel up with cause 16 first and only then sends
// Shutdown and closes the link (fixture kit-pbx-shutdown): within the hold
// that turns the end into failed / pbx_lost. Real caller hang-ups are
// stored this much later; the API shows the call live until then.
const stopHold = time.Second

// mayEnd reports whether m is an event that can end a call (the caller
// leg's Hangup, the h extension's hangup UserEvent, a failed
// OriginateResponse).
func mayEnd(m *ami.Message) bool {
	switch m.Event() {
	case "Hangup", "UserEvent", "OriginateResponse":
		return true
	}
	return false
}

// holdEndLocked holds c's end (c.req, final) for stopHold, keeping pre,
// its state before the end, as what it shows meanwhile. e.mu is held.
func (e *Engine) holdEndLocked(c *call, pre *callback.Request) {
	c.held, c.req = c.req, pre
	id := c.req.ID
	time.AfterFunc(stopHold, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if c := e.tr.calls[id]; c != nil && c.held != nil {
			e.releaseHeldLocked(c)
		}
	})
}

// releaseHeldLocked ends a call whose end was held: as its events told;
// failed / pbx_lost when a Shutdown came meanwhile (talk counted to the
// hang-up, which is when the PBX went); when the link dropped meanwhile,
// its CDR rows settle it (reconcile), and the PBX found restarted at the
// reconnect (judgePBXLoss) makes it pbx_lost. e.mu is held.
func (e *Engine) releaseHeldLocked(c *call) {
	end := c.held
	c.held = nil
	switch {
	case c.lostSure:
		c.req = pbxLostEnd(end)
	case !c.lostAt.IsZero():
		c.liveEnd, c.stopSuspect = end, true
		e.kickReconcile()
		return
	default:
		c.req = end
	}
	e.changedLocked(c)
}

// pbxLostEnd relabels a call's end as the PBX's going away: failed /
// pbx_lost, no prompt; its time and talk stay.
func pbxLostEnd(end *callback.Request) *callback.Request {
	end.State, end.Reason, end.Prompt = callback.StateFailed, callback.ReasonPBXLost, callback.PromptNone
	if n := len(end.History); n > 0 {
		end.History[n-1].State = callback.StateFailed
	}
	return end
}

// graceFinish ends a call whose Originate failed when the caller leg's
// Hangup did not follow within originateGrace.
func (e *Engine) graceFinish(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.tr.calls[id]; c != nil && c.originateGone(time.Now()) {
		e.changedLocked(c)
	}
}

// Cancel ends a request that is not final, in any live state: while a
// phone rings, and a connected call too (the page's Hang up button, the
// admin's). The outcome (canceled, by; connected_at and billsec kept when
// the call had connected) is recorded when Asterisk reports the caller's
// channel gone.
func (e *Engine) Cancel(ctx context.Context, id string, by callback.Reason) error {
	if by != callback.ReasonVisitor && by != callback.ReasonAdmin {
		return fmt.Errorf("callflow: cancel by %q: want %q or %q", by, callback.ReasonVisitor, callback.ReasonAdmin)
	}
	e.mu.Lock()
	c := e.tr.calls[id]
	if c == nil {
		e.mu.Unlock()
		r, err := e.Get(ctx, id)
		if err != nil {
			return err
		}
		if r.State.Final() {
			return callback.ErrFinal
		}
		return &NotOwnerError{ID: id, Instance: r.Instance}
	}
	defer e.mu.Unlock()
	switch {
	case c.req.State == callback.StateQueued && e.adm.remove(id):
		if c.finish(callback.StateCanceled, by, 0, callback.PromptNone, time.Now()) {
			e.changedLocked(c)
		}
		return nil
	}
	if c.cancelBy == "" || by == callback.ReasonAdmin {
		c.cancelBy = by
	}
	if c.originated && !c.hangupSent {
		e.hangupLocked(c)
	}
	return nil
}

// hangupLocked asks Asterisk to hang up the caller's channel; Dial then
// cancels or ends the callee's leg. Before the channel exists the Hangup
// fails; it is retried when the channel shows up. e.mu is held.
func (e *Engine) hangupLocked(c *call) {
	c.hangupSent = true
	target := c.req.CallerChannel
	if target == "" {
		target = c.req.ID // Asterisk finds a channel by its Uniqueid too
	}
	id := c.req.ID
	go func() {
		_, err := e.client.Do(e.bg, hangupAction(target, 16))
		if err == nil {
			e.log.Info("hung up on request", "id", id, "channel", target)
			return
		}
		e.log.Warn("hangup failed; will retry when the channel shows up", "id", id, "channel", target, "err", err)
		e.mu.Lock()
		defer e.mu.Unlock()
		if c.req.State.Final() {
			return
		}
		c.hangupSent = false
		if c.channel && c.req.CallerChannel != "" && c.req.CallerChannel != target {
			e.hangupLocked(c) // the channel got its name meanwhile
		}
	}()
}

// Get returns the request, from memory while the engine follows it, else
// from the store.
func (e *Engine) Get(ctx context.Context, id string) (*callback.Request, error) {
	if r, live := e.Lookup(id); r != nil {
		// A final state is told once it is stored, as Watch tells it: a
		// client acting on the end (asking again at once) then finds the
		// store, which admission counts from, agreeing with what it read.
		if live || !e.w.waitWritten(ctx, id, finalWriteWait) {
			return r, nil
		}
	}
	r, err := e.st.GetRequest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("callflow: get %s: %w", id, err)
	}
	return r, nil
}

// finalWriteWait bounds how long Get waits for a final snapshot to be
// stored before it answers from memory (the database refuses writes).
const finalWriteWait = 2 * time.Second

// Lookup returns the request from memory only: while the engine follows
// it (live true), or its final snapshot not yet written; nil otherwise.
func (e *Engine) Lookup(id string) (r *callback.Request, live bool) {
	// Under e.mu a call is either live or its final snapshot is with the
	// writer (pending or being written) or committed: never in between.
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.tr.calls[id]; c != nil {
		return c.req.Clone(), true
	}
	if r := e.w.get(id); r != nil { // finished, not yet written
		return r.Clone(), false
	}
	return nil, false
}

// Watch delivers the current snapshot, then one per transition; the channel
// closes after the final state (or stop).
func (e *Engine) Watch(ctx context.Context, id string) (<-chan *callback.Request, func(), error) {
	e.mu.Lock()
	if c := e.tr.calls[id]; c != nil {
		defer e.mu.Unlock()
		ch, stop := e.hub.watch(id, c.req.Clone())
		return ch, stop, nil
	}
	e.mu.Unlock()
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ch, stop := e.hub.watch(id, r)
	return ch, stop, nil
}

// WatchAll delivers every transition of every request; a reader that falls
// more than 1024 behind loses updates (counted in Stats).
func (e *Engine) WatchAll() (<-chan *callback.Request, func()) { return e.hub.watchAll() }

// Live lists the requests the engine follows, oldest first.
func (e *Engine) Live() []*callback.Request {
	e.mu.Lock()
	out := make([]*callback.Request, 0, len(e.tr.calls))
	for _, c := range e.tr.calls {
		out = append(out, c.req.Clone())
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

var _ callback.Service = (*Engine)(nil)

// markPBXLost notes when the PBX may have gone away on every call in
// progress that has no such mark yet: sure for a Shutdown event, a guess
// for a lost AMI connection (the link may have dropped while Asterisk
// kept the calls), which judgePBXLoss settles at the next login. A call
// found gone with a sure mark ends failed / pbx_lost with its talk time
// counted to the mark, never to the reconnect (call.finish). reconcile
// drops the mark of a call it finds still up in Asterisk.
func (e *Engine) markPBXLost(at time.Time, sure bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.tr.calls {
		if !c.originated || c.req.State.Final() {
			continue
		}
		c.gap = true
		if c.lostAt.IsZero() {
			c.lostAt = at
		}
		c.lostSure = c.lostSure || sure
		c.pbxStopped = c.pbxStopped || sure
		if c.held != nil {
			e.releaseHeldLocked(c) // hung up by the PBX that is going
		}
	}
}

// judgeWait is how long after a login the engine waits for FullyBooted
// before settling calls gone without CDR rows without it (a login whose
// events exclude "system", or the first login, made before the engine
// subscribed).
const judgeWait = 2 * time.Second

// awaitJudgement starts waiting for the new login's FullyBooted.
func (e *Engine) awaitJudgement() {
	e.mu.Lock()
	e.judged = false
	e.logins++
	login := e.logins
	e.mu.Unlock()
	time.AfterFunc(judgeWait, func() {
		e.mu.Lock()
		if e.logins == login {
			e.judged = true
		}
		e.mu.Unlock()
		e.kickReconcile()
	})
}

// markGap marks every call in progress as having lost events (the AMI
// client dropped some): each is settled from its CDRs (applyLocked).
func (e *Engine) markGap() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.tr.calls {
		if c.originated && !c.req.State.Final() {
			c.gap = true
		}
	}
}

// judgePBXLoss reads FullyBooted's Uptime (seconds since Asterisk
// started) at a login: a PBX that started after a call's lost-connection
// mark restarted (kill -9, crash, core restart) and took the call with
// it: the mark is sure. A PBX up for longer kept running: only the link
// dropped, and the mark goes (an unseen end is then network_error, or
// what the call's CDRs say).
func (e *Engine) judgePBXLoss(uptimeS int, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	started := now.Add(-time.Duration(uptimeS) * time.Second)
	for _, c := range e.tr.calls {
		if c.lostSure || !c.originated || c.req.State.Final() {
			continue
		}
		if c.lostAt.IsZero() {
			// No link loss seen while it was up (adopted after a restart of
			// the service): a PBX younger than the call still took it,
			// and went before it started.
			if c.sentAt.IsZero() || now.Sub(c.sentAt) < time.Duration(uptimeS)*time.Second {
				continue
			}
			c.lostAt = started
		}
		// Uptime is whole seconds: the PBX started between uptime+1 s and
		// uptime s ago. A PBX surely younger than the call (sent before
		// its start) cannot have it: the one that had it died. A start
		// that may be after the mark (the PBX came back within a second)
		// keeps the mark: if the call then vanishes without CDR rows,
		// the PBX took it (reconcile). A PBX surely older than the mark
		// kept running: only the link dropped.
		switch up := time.Duration(uptimeS) * time.Second; {
		case !c.sentAt.IsZero() && now.Sub(c.sentAt) > up+time.Second:
			c.lostSure = true
			// Hung up just before the link went (releaseHeldLocked): the
			// PBX stopped (core stop without Shutdown reaching us) and
			// wrote the rows of the channels it hung up.
			c.pbxStopped = c.pbxStopped || c.stopSuspect
		case now.Sub(c.lostAt) >= up:
			c.lostMaybe = true // keep the mark
		default:
			c.lostAt, c.lostMaybe = time.Time{}, false
		}
	}
}
