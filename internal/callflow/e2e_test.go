package callflow

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/monitor"
	"webcallback/internal/sandbox"
	"webcallback/internal/store"
	"webcallback/internal/store/storetest"
	"webcallback/internal/testenv"
	"webcallback/internal/wcbproto"
)

// testScale runs the sandbox PBX 200 times faster than real time: Welcome
// (3.5 s) takes 17 ms, a 20 s talk limit 100 ms.
const testScale = 0.005

const (
	amiUser   = "webcallback"
	amiSecret = "e2e-secret-0123456789"
)

// rig is one sandbox PBX on a loopback socket, the real AMI client logged
// in to it, a temporary SQLite store and an engine.
type rig struct {
	t      testing.TB
	ctx    context.Context
	sb     *sandbox.Server
	sbAddr string     // the sandbox PBX itself
	proxy  *linkProxy // the engine's AMI link goes through it
	client *ami.Client
	st     *store.DB
	dbPath string
	e      *Engine
	cfg    Config
	// stopCDRs stops the CDR monitor of the current client, storing the
	// Cdr events it has received (as the service does after the engine).
	stopCDRs func()
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WCB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// e2eConfig is the engine config of the end-to-end tests: a talk limit of
// 20 s (0.1 s at testScale) so "limit reached" rows finish fast.
func e2eConfig(mod func(*Config)) Config {
	cfg := Config{Limit: 20 * time.Second, Warning: 5 * time.Second, MaxConcurrent: 50, MaxPerSecond: -1, QueueSize: 100,
		QueueWait: 5 * time.Second, Instance: "test-1", PBXTimeScale: testScale}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

func newRig(t testing.TB, cfg Config, sbCfg sandbox.Config) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	sbCfg.Username, sbCfg.Secret = amiUser, amiSecret
	if sbCfg.TimeScale == 0 {
		sbCfg.TimeScale = testScale
	}
	if sbCfg.Seed == 0 {
		sbCfg.Seed = 1
	}
	sb := sandbox.New(sbCfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sb.Serve(l)
	t.Cleanup(func() { sb.Close() })
	r := &rig{t: t, ctx: ctx, sb: sb, sbAddr: l.Addr().String(), cfg: cfg}
	r.proxy = newLinkProxy(t, r.sbAddr)
	r.dbPath = filepath.Join(t.TempDir(), "wcb.db")
	r.st = storetest.Open(t, "sqlite:"+r.dbPath)
	r.startEngine()
	return r
}

// dialAMI logs a new client in to the rig's sandbox, through the proxy.
func (r *rig) dialAMI() *ami.Client { return r.dialAMIAt(r.proxy.l.Addr().String()) }

func (r *rig) dialAMIAt(addr string) *ami.Client {
	r.t.Helper()
	c, err := ami.Dial(r.ctx, ami.Config{Addr: addr, Username: amiUser, Secret: amiSecret, AuthMD5: true,
		Events: "call,cdr,user,system", ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
		Logger: testLogger(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// startCDRMonitor runs the CDR monitor on c as the service does
// (internal/app.StartCDRMonitor): the engine leaves Cdr events alone, the
// monitor stores them from its own subscription, made before the engine
// starts so no Cdr is missed. stop closes the subscription and waits until
// what was received is stored (drain on close); Client.Close has the same
// effect. It is also a cleanup of the test, run after the engine's.
func (r *rig) startCDRMonitor(c *ami.Client) (stop func()) {
	sub := c.Subscribe(1 << 16)
	mon := monitor.New(r.st, testLogger(r.t))
	done := make(chan error, 1)
	go func() { done <- mon.ConsumeAMI(r.ctx, sub.C()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			sub.Close()
			if err := <-done; err != nil {
				r.t.Errorf("CDR monitor: %v", err)
			}
		})
	}
	r.t.Cleanup(stop)
	return stop
}

// startEngine starts a fresh engine, AMI client and CDR monitor on the
// rig's PBX and store, as a (re)started service does.
func (r *rig) startEngine() {
	r.t.Helper()
	r.client = r.dialAMI()
	r.stopCDRs = r.startCDRMonitor(r.client)
	cfg := r.cfg
	cfg.Logger = testLogger(r.t)
	e, err := New(cfg, r.client, r.st)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := e.Start(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	r.e = e
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
}

// admit stores a request as the web does (store.Admit, no rules) and
// returns it, ready for Submit.
func (r *rig) admit(caller, callee string) *callback.Request {
	r.t.Helper()
	now := time.Now()
	req := &callback.Request{ID: uuid.NewString(), Caller: "+86" + caller, Callee: "+86" + callee,
		CallerDial: caller, CalleeDial: callee, Lang: "en", State: callback.StateQueued, CreatedAt: now,
		History: []callback.Transition{{State: callback.StateQueued, At: now}}}
	d, err := r.st.Admit(r.ctx, req, nil, now)
	if err != nil || !d.Allowed {
		r.t.Fatalf("admit: %v %+v", err, d)
	}
	return req
}

// place admits and submits one callback and returns its id.
func (r *rig) place(caller, callee string) string {
	r.t.Helper()
	req := r.admit(caller, callee)
	if err := r.e.Submit(r.ctx, req); err != nil {
		r.t.Fatalf("submit %s→%s: %v", caller, callee, err)
	}
	return req.ID
}

// wait follows a request to its final state and returns every state seen.
func (r *rig) wait(id string) (final *callback.Request, seen []callback.State) {
	r.t.Helper()
	return r.follow(id, func(s *callback.Request) bool { return s.State.Final() })
}

// follow watches a request until done says so, returning that snapshot and
// every state seen on the way.
func (r *rig) follow(id string, done func(*callback.Request) bool) (last *callback.Request, seen []callback.State) {
	r.t.Helper()
	ch, stop, err := r.e.Watch(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	defer stop()
	for {
		select {
		case s, ok := <-ch:
			if !ok {
				r.t.Fatalf("watch of %s closed early (last %+v)", id, last)
			}
			last = s
			seen = append(seen, s.State)
			if done(s) {
				return last, seen
			}
		case <-r.ctx.Done():
			r.t.Fatalf("request %s: gave up waiting; last %+v", id, last)
		}
	}
}

// stored polls the store until the request is final there (the engine
// writes asynchronously) and returns it.
func (r *rig) stored(id string) *callback.Request {
	r.t.Helper()
	for {
		got, err := r.st.GetRequest(r.ctx, id)
		if err == nil && got.State.Final() {
			return got
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("request %s not final in the store: %+v %v", id, got, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// cdrs polls the store until n CDR rows of the request are there.
func (r *rig) cdrs(id string, n int) []store.CDR {
	r.t.Helper()
	for {
		rows, _, err := r.st.SearchCDRs(r.ctx, store.CDRFilter{RequestID: id})
		if err == nil && len(rows) >= n {
			return rows
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("request %s: %d CDR rows in the store, want %d (%v)", id, len(rows), n, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// numberPlanCases are docs/design.md §4's test-number plan, each row as the callee
// (caller 13800001001) and, for the caller-side failures, as the caller.
var numberPlanCases = []struct {
	name           string
	caller, callee string
	want           outcome
	cdrRows        int
}{
	{"callee answers, limit", "13800001001", "13800002002", outcome{callback.StateCompleted, callback.ReasonLimitReached, 16, callback.PromptTimeoutHangup}, 2},
	{"callee busy 486", "13800001001", "13811112002", outcome{callback.StateFailed, callback.ReasonCalleeBusy, 17, callback.PromptPartnerBusy}, 2},
	{"callee never answers", "13800001001", "13822222002", outcome{callback.StateFailed, callback.ReasonCalleeNoAnswer, 19, callback.PromptPartnerAway}, 2},
	{"callee 503", "13800001001", "13833332002", outcome{callback.StateFailed, callback.ReasonNetworkError, 34, callback.PromptSystemBusy}, 2},
	{"callee 480", "13800001001", "13844442002", outcome{callback.StateFailed, callback.ReasonCalleeNoAnswer, 19, callback.PromptPartnerAway}, 2},
	{"callee hangs up after 5 s", "13800001001", "13855552005", outcome{callback.StateCompleted, callback.ReasonCalleeHangup, 16, callback.PromptPartnerHangup}, 2},
	{"callee 404", "13800001001", "13866662002", outcome{callback.StateFailed, callback.ReasonCalleeInvalid, 1, callback.PromptInvalidNumber}, 2},
	{"callee 603", "13800001001", "13877772002", outcome{callback.StateFailed, callback.ReasonCalleeRejected, 21, callback.PromptPartnerBusy}, 2},
	{"callee anything else", "13800001001", "13912345678", outcome{callback.StateCompleted, callback.ReasonLimitReached, 16, callback.PromptTimeoutHangup}, 2},
	{"caller busy 486", "13811111001", "13800002002", outcome{callback.StateFailed, callback.ReasonCallerBusy, 17, ""}, 1},
	{"caller never answers", "13822221001", "13800002002", outcome{callback.StateFailed, callback.ReasonCallerNoAnswer, 19, ""}, 1},
	{"caller 503", "13833331001", "13800002002", outcome{callback.StateFailed, callback.ReasonCallerUnreachable, 34, ""}, 1},
	{"caller 480", "13844441001", "13800002002", outcome{callback.StateFailed, callback.ReasonCallerNoAnswer, 19, ""}, 1},
	{"caller 404", "13866661001", "13800002002", outcome{callback.StateFailed, callback.ReasonCallerUnreachable, 1, ""}, 1},
	{"caller 603", "13877771001", "13800002002", outcome{callback.StateFailed, callback.ReasonCallerBusy, 21, ""}, 1},
	{"caller hangs up while bridged", "13855550010", "13800002002", outcome{callback.StateCompleted, callback.ReasonCallerHangup, 16, ""}, 1},
	{"caller hangs up during Welcome", "13855550003", "13800002002", outcome{callback.StateCanceled, callback.ReasonCallerHangup, 16, ""}, 1},
}

// TestNumberPlan places every row of the test-number plan through the
// engine, the AMI client and the sandbox PBX, concurrently, and checks the
// outcome, the stored request and its CDR rows.
func TestNumberPlan(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, e2eConfig(nil), sandbox.Config{})
	type placed struct {
		id  string
		idx int
	}
	var ps []placed
	var docMu sync.Mutex
	got := map[string]string{} // "caller callee" -> its row of the doc's table
	for i, tc := range numberPlanCases {
		ps = append(ps, placed{r.place(tc.caller, tc.callee), i})
	}
	var wg sync.WaitGroup
	for _, p := range ps {
		tc := numberPlanCases[p.idx]
		wg.Add(1)
		t.Run(tc.name, func(t *testing.T) {
			defer wg.Done()
			final, seen := r.wait(p.id)
			if got := (outcome{final.State, final.Reason, final.Cause, final.Prompt}); got != tc.want {
				t.Errorf("outcome %+v, want %+v (states %v)", got, tc.want, seen)
			}
			st := r.stored(p.id)
			if got := (outcome{st.State, st.Reason, st.Cause, st.Prompt}); got != tc.want {
				t.Errorf("stored outcome %+v, want %+v", got, tc.want)
			}
			if len(st.History) < 3 || st.History[0].State != callback.StateQueued || st.History[1].State != callback.StateCallingCaller {
				t.Errorf("stored history %v", st.History)
			}
			if st.EndedAt == nil || st.Instance != "test-1" || st.CallerChannel == "" {
				t.Errorf("stored request: ended %v instance %q caller channel %q", st.EndedAt, st.Instance, st.CallerChannel)
			}
			if tc.want.state == callback.StateCompleted && (st.ConnectedAt == nil || st.AnsweredAt == nil) {
				t.Errorf("completed without answer/connect times: %+v", st)
			}
			rows := r.cdrs(p.id, tc.cdrRows)
			docMu.Lock()
			got[tc.caller+" "+tc.callee] = planRow(tc.caller, tc.callee, st, rows)
			docMu.Unlock()
			if len(rows) != tc.cdrRows {
				t.Errorf("%d CDR rows, want %d", len(rows), tc.cdrRows)
			}
			if tc.want.state != callback.StateFailed || tc.want.reason == callback.ReasonCallerBusy ||
				tc.want.reason == callback.ReasonCallerNoAnswer || tc.want.reason == callback.ReasonCallerUnreachable {
				return
			}
			// A callee failure: the row after Dial carries the API's cause
			// (19 after Dial's ring timeout too) and our id.
			wantUF := fmt.Sprintf("%s%d%s%s", wcbproto.UserfieldPrefix, tc.want.cause, wcbproto.UserfieldIDPrefix, p.id)
			var ufs []string
			for _, row := range rows {
				ufs = append(ufs, row.UserField)
			}
			if !slices.Contains(ufs, wantUF) {
				t.Errorf("userfields %q, want one %q", ufs, wantUF)
			}
		})
	}
	wg.Wait()
	// docs/design.md §4 shows what each row leaves: it must be what the
	// rows above did.
	want := docPlanRows(t)
	for k, g := range got {
		if want[k] != g {
			t.Errorf("docs/design.md §4 says\n%s\nthe sandbox did\n%s", want[k], g)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("docs/design.md §4 has a row no case places: %s", want[k])
		}
	}
	if s := r.e.Stats(); s.Live != 0 || s.Active != 0 || s.Finished != uint64(len(numberPlanCases)) {
		t.Errorf("stats after all calls: %+v", s)
	}
}

// planRow is a row of docs/design.md §4's outcome table: caller, callee,
// final state / reason (cause), and the CDR rows (disposition, userfield
// with the request id as <id>), sorted.
func planRow(caller, callee string, r *callback.Request, rows []store.CDR) string {
	var cdrs []string
	for _, row := range rows {
		c := row.Disposition
		if row.UserField != "" {
			c += " `" + strings.ReplaceAll(row.UserField, r.ID, "<id>") + "`"
		}
		cdrs = append(cdrs, c)
	}
	slices.Sort(cdrs) // rows of one second come in no set order
	return fmt.Sprintf("| %s | %s | %s / %s (%d) | %s |", caller, callee, r.State, r.Reason, r.Cause, strings.Join(cdrs, "; "))
}

// docPlanRows reads docs/design.md §4's outcome table by "caller callee".
func docPlanRows(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "<!-- plan outcomes: TestNumberPlan checks this table -->")
	if !ok {
		t.Fatal("docs/design.md: no plan outcome table")
	}
	out := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		f := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| 1") || len(f) < 3 {
			if len(out) > 0 && !strings.HasPrefix(line, "|") {
				break
			}
			continue
		}
		out[strings.TrimPrefix(f[0], "| ")+" "+f[1]] = line
	}
	return out
}
