package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/dbfault"
	"webcallback/internal/store"
)

// class is a kind of call of the test-number plan (docs/design.md §4),
// with the final state and reason the service must store for it.
type class struct {
	name, prefix  string
	state, reason string
	weight        int
}

var classes = []class{
	{"talk", "1385555", "completed", "callee_hangup", 5}, // answers, hangs up NN s after answering
	{"busy", "1381111", "failed", "callee_busy", 1},
	{"invalid", "1386666", "failed", "callee_invalid", 1},
	{"rejected", "1387777", "failed", "callee_rejected", 1},
	{"unavailable", "1384444", "failed", "callee_no_answer", 1},
}

// call is one planned call and what became of its submission.
type call struct {
	i              int
	class          class
	caller, callee string
	talk           int // simulated talk seconds (talk class)
	id             string
}

// window is a span of time during which a fault was in force.
type window struct{ from, to time.Time }

func (w window) overlaps(from, to time.Time) bool { return !to.Before(w.from) && !from.After(w.to) }

// soak is one run.
type soak struct {
	o       options
	out     io.Writer
	rng     *mrand.Rand
	dsn     string
	url     string
	svc     *proc
	pbx     *proc
	proxy   *amiProxy
	client  *http.Client
	rep     *Report
	mu      sync.Mutex
	kills   []window
	pbxDown []time.Time
	drops   []time.Time
	pbxLog  string // the sandbox's log
	pbxAddr string // the sandbox's AMI address (the proxy's target)
	secret  string // its AMI secret
}

func run(ctx context.Context, args []string, out io.Writer) (*Report, error) {
	o, err := parseOptions(args, out)
	if err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wcb-chaos-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	s := &soak{o: o, out: out, rng: mrand.New(mrand.NewPCG(uint64(o.Seed), 10)),
		client: &http.Client{Timeout: 30 * time.Second},
		rep: &Report{Options: o, Faults: map[string]int{}, Counts: map[string]int{}, Samples: map[string][]string{},
			Classes: map[string]int{}, assert: o.Assert}}
	if err := s.setUp(ctx, dir); err != nil {
		s.tearDown()
		return nil, err
	}
	started := time.Now()
	calls, err := s.drive(ctx)
	s.tearDown()
	if err != nil {
		return nil, err
	}
	s.rep.Duration = time.Since(started).Round(time.Second).String()
	if err := s.verify(ctx, calls, started); err != nil {
		return nil, err
	}
	s.rep.SpoolRuns = countLines(filepath.Join(dir, "processes.log"), "in the spool until it takes writes again")
	s.rep.Print(out)
	return s.rep, nil
}

// setUp builds the binary and starts the sandbox, the proxy and the
// service.
func (s *soak) setUp(ctx context.Context, dir string) error {
	bin := s.o.Bin
	if bin == "" {
		root, err := repoRoot()
		if err != nil {
			return err
		}
		if bin, err = buildBinary(ctx, root, dir); err != nil {
			return err
		}
	}
	s.dsn = s.o.DB
	if s.dsn == "" {
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
			return err
		}
		s.dsn = "sqlite:" + filepath.Join(dir, "data", "wcb.db")
	}
	// Migrated (the sandbox, like Asterisk, does not create the cdr table)
	// and emptied of calls.
	if err := emptyCalls(ctx, s.dsn); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "processes.log"))
	if err != nil {
		return err
	}
	// The sandbox logs apart: its "sandbox call ended" lines are the PBX's
	// truth of which calls it finished (verify).
	s.pbxLog = filepath.Join(dir, "sandbox.log")
	pbxf, err := os.Create(s.pbxLog)
	if err != nil {
		return err
	}
	secret := randomHex()
	pbxAddr, err := freePort()
	if err != nil {
		return err
	}
	s.pbxAddr, s.secret = pbxAddr, secret
	s.pbx = &proc{name: "sandbox", bin: bin, log: pbxf,
		// The sandbox writes every CDR into the service's database, as
		// Asterisk's database CDR backend does, whether or not the service
		// is up; the service reads them from there (--cdr-source table).
		args: []string{"sandbox", "--listen", pbxAddr, "--time-scale", "1", "--seed", fmt.Sprint(s.o.Seed), "--cdr-db", s.dsn},
		env:  cleanEnv("WEBCALLBACK_SANDBOX_SECRET=" + secret)}
	if err := s.pbx.start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitListening(wctx, pbxAddr); err != nil {
		return err
	}
	if s.proxy, err = newAMIProxy(pbxAddr); err != nil {
		return err
	}
	httpAddr, err := freePort()
	if err != nil {
		return err
	}
	s.url = "http://" + httpAddr
	s.svc = &proc{name: "service", bin: bin, log: logf, env: cleanEnv(), args: []string{"serve",
		"--listen", httpAddr, "--db", s.dsn, "--ami", "tcp://webcallback:" + secret + "@" + s.proxy.Addr(),
		"--cdr-source", "table", "--spool-dir", filepath.Join(dir, "spool"), "--instance", "chaos", "--limits", "off", "--pow", "off",
		"--caller-ring", "10s", "--callee-ring", "10s", "--max-concurrent", "500", "--max-cps", "100",
		"--queue-size", "5000",
		// No daily talk budget: a server database keeps the day's spent
		// minutes across runs, and a budget spent by an earlier soak would
		// refuse this one's requests.
		"--daily-minutes", "0",
		// Longer than the AMI client's longest reconnect backoff (30 s, hit
		// when the link flaps as often as the soak drops it): a request
		// accepted while the link is down waits for the reconnect.
		"--queue-wait", "2m",
		// Each AMI drop waits for the link to be back (do): a backoff
		// capped at 2 s (not 30 s) lets 100 drops hit a live link within
		// the run; it changes when the link comes back, not what is stored.
		"--ami-reconnect-max", "2s",
		"--log-level", "info"}}
	if err := s.svc.start(); err != nil {
		return err
	}
	rctx, cancel2 := context.WithTimeout(ctx, 60*time.Second)
	defer cancel2()
	return waitReady(rctx, s.svc, s.url)
}

func (s *soak) tearDown() {
	if s.svc != nil {
		s.svc.stop(20 * time.Second)
	}
	if s.proxy != nil {
		s.proxy.Close()
	}
	if s.pbx != nil {
		s.pbx.stop(10 * time.Second)
	}
}

// emptyCalls removes the requests and CDRs a server database holds, so the
// soak's counts are its own.
func emptyCalls(ctx context.Context, dsn string) error {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	// An interrupted earlier soak leaves calls unfinished under the same
	// instance name: this run's service would adopt them. End them, so the
	// purge takes them too.
	left, err := st.UnfinishedRequests(ctx, "")
	if err != nil {
		return err
	}
	now := time.Now()
	for _, r := range left {
		r.State, r.Reason, r.EndedAt, r.UpdatedAt = callback.StateFailed, callback.ReasonNetworkError, &now, now
		r.History = append(r.History, callback.Transition{State: callback.StateFailed, At: now})
		if err := st.UpdateRequest(ctx, r); err != nil {
			return err
		}
	}
	_, _, err = st.Purge(ctx, now.Add(24*time.Hour))
	return err
}

func randomHex() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// plan draws the calls.
func (s *soak) plan() []*call {
	total := 0
	for _, c := range classes {
		total += c.weight
	}
	calls := make([]*call, s.o.N)
	for i := range calls {
		k := s.rng.IntN(total)
		var cl class
		for _, c := range classes {
			if k < c.weight {
				cl = c
				break
			}
			k -= c.weight
		}
		c := &call{i: i, class: cl, caller: fmt.Sprintf("1380000%04d", i%10000)}
		if cl.name == "talk" {
			c.talk = 2 + s.rng.IntN(5)
			c.callee = fmt.Sprintf("%s%02d%02d", cl.prefix, i%100, c.talk)
		} else {
			c.callee = fmt.Sprintf("%s%04d", cl.prefix, i%10000)
		}
		calls[i] = c
	}
	return calls
}

// drive submits the calls at the set rate while the faults run, then
// waits until every accepted request is final and the service is ready
// (nothing left in its spool).
func (s *soak) drive(ctx context.Context) ([]*call, error) {
	calls := s.plan()
	span := time.Duration(float64(s.o.N)/s.o.Rate*float64(time.Second)) + time.Second
	faults := s.schedule(&span)
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(span+5*time.Minute))
	defer cancel()

	var wg sync.WaitGroup
	wg.Add(1)
	faultErr := make(chan error, 1)
	go func() { defer wg.Done(); faultErr <- s.runFaults(dctx, faults) }()
	// The calls spread over the whole schedule, so every fault meets
	// calls in flight.
	gap := span / time.Duration(s.o.N)
	start := time.Now()
	for _, c := range calls {
		if wait := time.Until(start.Add(time.Duration(c.i) * gap)); wait > 0 {
			select {
			case <-dctx.Done():
			case <-time.After(wait):
			}
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.submit(dctx, c) }()
	}
	wg.Wait()
	if err := <-faultErr; err != nil {
		return nil, err
	}
	fctx, cancelFinal := context.WithTimeout(dctx, s.o.FinalWait)
	err := s.awaitFinal(fctx, calls)
	cancelFinal()
	if err != nil {
		fmt.Fprintln(s.out, "chaos:", err)
	}
	rctx, cancel2 := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel2()
	if err := waitReady(rctx, s.svc, s.url); err != nil {
		return nil, err
	}
	return calls, nil
}

// submit POSTs c until the service accepts it.
func (s *soak) submit(ctx context.Context, c *call) {
	body, _ := json.Marshal(map[string]string{"caller": c.caller, "callee": c.callee})
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/v1/callbacks", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err == nil {
			var got struct {
				ID string `json:"id"`
			}
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated && got.ID != "" {
				s.mu.Lock()
				c.id = got.ID
				s.rep.Submitted++
				s.mu.Unlock()
				return
			}
		}
		s.mu.Lock()
		s.rep.Retried++
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// awaitFinal polls the API until every accepted request is final.
func (s *soak) awaitFinal(ctx context.Context, calls []*call) error {
	pending := map[string]bool{}
	for _, c := range calls {
		if c.id != "" {
			pending[c.id] = true
		}
	}
	for len(pending) > 0 {
		for id := range pending {
			var got struct {
				State string `json:"state"`
			}
			resp, err := s.client.Get(s.url + "/api/v1/callbacks/" + id)
			if err != nil {
				break // the service is restarting: try again
			}
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if finalStates[got.State] {
				delete(pending, id)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d requests not final by the deadline", len(pending))
		case <-time.After(time.Second):
		}
	}
	return nil
}

var finalStates = map[string]bool{"completed": true, "failed": true, "canceled": true, "rejected": true}

// fault is one scheduled fault: at is its start after the soak begins.
type fault struct {
	at   time.Duration
	kind string // "kill", "outage", "pbx"
	dur  time.Duration
}

// schedule places the heavy faults one after another at random gaps
// within span (made longer if they do not fit), and the AMI drops at
// random moments.
func (s *soak) schedule(span *time.Duration) []fault {
	var heavy []fault
	for range s.o.Kills {
		heavy = append(heavy, fault{kind: "kill", dur: time.Second + time.Duration(s.rng.IntN(3000))*time.Millisecond})
	}
	for range s.o.Outages {
		d := s.o.OutageMin + time.Duration(s.rng.Int64N(int64(s.o.OutageMax-s.o.OutageMin)+1))
		heavy = append(heavy, fault{kind: "outage", dur: d})
	}
	for range s.o.PBXRestarts {
		heavy = append(heavy, fault{kind: "pbx"})
	}
	s.rng.Shuffle(len(heavy), func(i, j int) { heavy[i], heavy[j] = heavy[j], heavy[i] })
	// Each heavy fault takes its duration plus ~5 s to recover (a restart).
	var busy time.Duration
	for _, f := range heavy {
		busy += f.dur + 5*time.Second
	}
	if busy > *span*8/10 {
		*span = busy * 10 / 8
	}
	free := *span - busy
	at := time.Duration(0)
	for i := range heavy {
		at += time.Duration(s.rng.Int64N(int64(free)/int64(len(heavy)+1) + 1))
		heavy[i].at = at
		at += heavy[i].dur + 5*time.Second
	}
	for range s.o.Drops {
		heavy = append(heavy, fault{kind: "drop", at: time.Duration(s.rng.Int64N(int64(*span)))})
	}
	sort.Slice(heavy, func(i, j int) bool { return heavy[i].at < heavy[j].at })
	return heavy
}

// errNoop is a fault that found nothing to break.
var errNoop = errors.New("nothing to do")

// runFaults carries out the schedule: the AMI drops on their own, beside
// the heavy faults, which run one at a time.
func (s *soak) runFaults(ctx context.Context, faults []fault) error {
	var drops, heavy []fault
	for _, f := range faults {
		if f.kind == "drop" {
			drops = append(drops, f)
		} else {
			heavy = append(heavy, f)
		}
	}
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- s.runSchedule(ctx, start, drops) }()
	err := s.runSchedule(ctx, start, heavy)
	return errors.Join(err, <-errc)
}

// runSchedule carries out faults one after the other, each at its time.
func (s *soak) runSchedule(ctx context.Context, start time.Time, faults []fault) error {
	for _, f := range faults {
		if wait := time.Until(start.Add(f.at)); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		if err := s.do(ctx, f); errors.Is(err, errNoop) {
			continue
		} else if err != nil {
			return fmt.Errorf("fault %s at %s: %w", f.kind, f.at.Round(time.Millisecond), err)
		}
		s.mu.Lock()
		s.rep.Faults[f.kind]++
		s.mu.Unlock()
		if s.o.Verbose {
			fmt.Fprintf(s.out, "%7.1fs %s %s\n", time.Since(start).Seconds(), f.kind, f.dur)
		}
	}
	return nil
}

func (s *soak) do(ctx context.Context, f fault) error {
	switch f.kind {
	case "drop":
		// Every drop is of a live link: wait until the service is logged
		// in again (after a kill, a PBX restart or the previous drop).
		for {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			up := s.proxy.waitLinkUp(wctx, dropSettle)
			cancel()
			if !up {
				return fmt.Errorf("the AMI link never came back: %w", ctx.Err())
			}
			if s.proxy.DropAll() > 0 {
				break
			}
			// Gone between the look and the drop (a kill): look again.
			s.mu.Lock()
			s.rep.Faults["drop_while_down"]++
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.drops = append(s.drops, time.Now())
		s.mu.Unlock()
		return nil
	case "kill":
		w := window{from: time.Now()}
		s.svc.kill9()
		sleep(ctx, f.dur) // down: calls go on in the PBX, some end
		if err := s.svc.start(); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		err := waitReady(rctx, s.svc, s.url)
		w.to = time.Now()
		s.mu.Lock()
		s.kills = append(s.kills, w)
		s.mu.Unlock()
		return err
	case "outage":
		out, err := dbfault.RefuseWrites(ctx, s.dsn)
		if err != nil {
			return err
		}
		sleep(ctx, f.dur)
		return out.End()
	case "pbx":
		// A PBX restart as an operator does it: "core stop now" (the PBX
		// hangs every call up, writes their CDR rows, sends Shutdown and
		// closes the link: fixture kit-pbx-shutdown's order), then a start.
		s.mu.Lock()
		s.pbxDown = append(s.pbxDown, time.Now())
		s.mu.Unlock()
		if err := coreStopNow(s.pbxAddr, s.secret); err != nil {
			return err
		}
		if !s.pbx.waitExit(30 * time.Second) {
			return errors.New("the sandbox did not exit after core stop now")
		}
		if err := s.pbx.start(); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return waitListening(wctx, s.pbxAddr)
	}
	return fmt.Errorf("unknown fault %q", f.kind)
}

// dropSettle is how long a link must be up before a drop cuts it: the
// service has logged in and reconciled over it.
const dropSettle = 300 * time.Millisecond

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// verify reads the database and counts what is wrong.
func (s *soak) verify(ctx context.Context, calls []*call, started time.Time) error {
	st, err := store.Open(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	sent := s.proxy.Originates()
	pbx, err := readPBXLog(s.pbxLog)
	if err != nil {
		return err
	}
	// The PBX's own record (its log) of the Originates it took is the
	// truth of what rang; the proxy's count of what the service sent is
	// checked for doubles too.
	originates := pbx.originates
	hitLive := map[int]bool{} // drops (by index) that cut a live call

	type result struct {
		c        *call
		rows     int
		affected string // "", "kill" or "pbx"
		stateOK  bool
	}
	var results []*result
	known := map[string]bool{}
	for _, c := range calls {
		s.rep.Classes[c.class.name]++
		if c.id == "" {
			continue
		}
		known[c.id] = true
		if originates[c.id] > 1 || sent[c.id] > 1 {
			s.rep.add("originates_doubled", c.id)
		}
		r, err := st.GetRequest(ctx, c.id)
		if errors.Is(err, store.ErrNotFound) {
			s.rep.add("requests_lost", c.id)
			continue
		} else if err != nil {
			return err
		}
		end := time.Now()
		if r.EndedAt != nil {
			end = *r.EndedAt
		}
		res := &result{c: c}
		// The PBX's truth: a call it was asked to place and never
		// finished (no "sandbox call ended" line) died with it in a
		// restart. Every other call ended as its callee's class says.
		lostByPBX := originates[c.id] > 0 && (!pbx.finished[c.id] || pbx.stopped[c.id])
		if lostByPBX && len(s.pbxDown) > 0 {
			res.affected = "pbx"
		}
		if originates[c.id] > 0 {
			for i, d := range s.drops {
				if !d.Before(r.CreatedAt) && !d.After(end) {
					hitLive[i] = true
				}
			}
		}
		for _, w := range s.kills {
			if res.affected == "" && w.overlaps(r.CreatedAt, end) {
				res.affected = "kill"
			}
		}
		for _, d := range s.drops {
			if res.affected == "" && !d.Before(r.CreatedAt) && !d.After(end) {
				res.affected = "drop"
			}
		}
		suffix := ""
		if res.affected != "" {
			suffix = "_" + res.affected
		}
		if !finalStates[string(r.State)] {
			s.rep.add("not_final"+suffix, c.id+" "+string(r.State))
			continue
		}
		got := string(r.State) + "/" + string(r.Reason)
		if originates[c.id] == 0 {
			// The PBX never took an Originate for it: nothing rang.
			pbxRestarted := false
			for _, d := range s.pbxDown {
				pbxRestarted = pbxRestarted || !d.Before(r.CreatedAt) && !d.After(end)
			}
			if res.affected == "drop" || res.affected == "kill" {
				if got == "failed/network_error" || got == "rejected/system_busy" || got == "failed/pbx_lost" && pbxRestarted {
					// Cut in flight: the link dropped (or the service was
					// killed) while its Originate was being sent. The
					// service marked it sent before sending (so a restart
					// never sends it twice) and cannot know whether it
					// arrived: it ends network_error, or pbx_lost when the
					// PBX restarted meanwhile (a PBX that vanished would
					// have taken it without a trace). Not a lost request
					// (it is stored, final) nor a wrong state.
					s.rep.add("originates_cut", c.id+" "+got)
				} else {
					s.rep.add("wrong_states_"+res.affected, c.id+" never rung but "+got)
				}
				continue
			}
			// Never rung with no drop or kill to explain it.
			s.rep.add("not_placed", c.id+" "+got)
			continue
		}
		if res.affected == "pbx" {
			// The PBX vanished mid-call: failed/pbx_lost, talk counted to
			// the moment it went (never more than the simulated talk).
			if got != "failed/pbx_lost" {
				s.rep.add("wrong_states_pbx", c.id+" "+got)
			} else if r.Billsec > c.talk+1 {
				s.rep.add("billsec_off_pbx", fmt.Sprintf("%s billsec %d talk %d", c.id, r.Billsec, c.talk))
			}
		} else if string(r.State) != c.class.state || string(r.Reason) != c.class.reason {
			s.rep.add("wrong_states"+suffix, fmt.Sprintf("%s %s %s want %s/%s", c.id, c.callee, got, c.class.state, c.class.reason))
		} else {
			res.stateOK = true
			if c.talk > 0 && abs(r.Billsec-c.talk) > 1 {
				s.rep.add("billsec_off"+suffix, fmt.Sprintf("%s billsec %d talk %d", c.id, r.Billsec, c.talk))
			}
		}
		rows, total, err := st.SearchCDRs(ctx, store.CDRFilter{RequestID: c.id, Limit: 100})
		if err != nil {
			return err
		}
		res.rows = total
		seen := map[string]bool{}
		for _, row := range rows {
			// One leg's rows share a uniqueid (one per Dial); a row twice
			// is the same leg, peer, start, application and outcome.
			k := fmt.Sprintf("%s/%d %s>%s %s %s %s %d", row.UniqueID, row.Sequence, row.Channel, row.DstChannel,
				row.CallDate.UTC().Format(time.RFC3339), row.LastApp, row.Disposition, row.Duration)
			if seen[k] {
				s.rep.add("cdrs_doubled", c.id+" "+k)
			}
			seen[k] = true
		}
		results = append(results, res)
		if res.affected == "" {
			s.rep.Untouched++
		}
	}
	// The CDR rows a call of each class leaves: the most common count among
	// the calls no kill or PBX restart touched and that ended right.
	expect := map[string]int{}
	for _, cl := range classes {
		freq := map[int]int{}
		for _, r := range results {
			if r.c.class.name == cl.name && r.affected == "" && r.stateOK {
				freq[r.rows]++
			}
		}
		best := -1
		for n, f := range freq {
			if best < 0 || f > freq[best] || (f == freq[best] && n > best) {
				best = n
			}
		}
		expect[cl.name] = best
	}
	for _, r := range results {
		want := expect[r.c.class.name]
		if r.affected == "pbx" {
			// A stopping PBX writes the rows of the calls it hangs up; one
			// that vanished (not in this soak) could not.
			if pbx.stopped[r.c.id] && r.rows == 0 {
				s.rep.add("cdrs_lost_pbx", r.c.id)
			}
			continue
		}
		if want < 0 {
			continue
		}
		suffix := ""
		if r.affected != "" {
			suffix = "_" + r.affected
		}
		switch {
		case r.rows < want:
			for range want - r.rows {
				s.rep.add("cdrs_lost"+suffix, fmt.Sprintf("%s (%d of %d rows)", r.c.id, r.rows, want))
			}
		case r.rows > want && r.affected == "":
			for range r.rows - want {
				s.rep.add("cdrs_doubled", fmt.Sprintf("%s (%d rows, want %d)", r.c.id, r.rows, want))
			}
		}
	}
	s.rep.DropsLive = len(hitLive)
	all, err := st.ListRequests(ctx, store.RequestFilter{From: started.Add(-time.Minute), Limit: 100000})
	if err != nil {
		return err
	}
	for _, r := range all {
		if !known[r.ID] && strings.HasPrefix(r.Caller, "+861380000") {
			s.rep.Orphans++
		}
	}
	return nil
}

// pbxRecord is what the sandbox's log says it did, by request id (the
// caller leg's uniqueid = the Originate's ChannelId).
type pbxRecord struct {
	originates map[string]int  // Originates it took
	finished   map[string]bool // calls it finished ("sandbox call ended")
	stopped    map[string]bool // ... of which "core stop now" hung up
}

// readPBXLog reads the sandbox's log.
func readPBXLog(path string) (pbxRecord, error) {
	rec := pbxRecord{originates: map[string]int{}, finished: map[string]bool{}, stopped: map[string]bool{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, `msg="sandbox originate"`):
			if id := logField(line, "channelid"); id != "" {
				rec.originates[id]++
			}
		case strings.Contains(line, `msg="sandbox call ended"`):
			id := logField(line, "uniqueid")
			rec.finished[id] = true
			if logField(line, "stopped") == "true" {
				rec.stopped[id] = true
			}
		}
	}
	return rec, nil
}

// logField is the value of key in a slog text line ("" if absent).
func logField(line, key string) string {
	_, rest, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, " ")
	return v
}

// countLines counts the lines of the file at path that contain what.
func countLines(path, what string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), what)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
