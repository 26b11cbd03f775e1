package cluster_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/app/apptest"
	"webcallback/internal/callback"
	"webcallback/internal/policy/ratelimit"
	"webcallback/internal/sandbox"
	"webcallback/internal/store/storetest"
	"webcallback/internal/testenv"
)

const (
	numCaller   = "13800001001"
	numNoAnswer = "13822220001" // the friend's phone rings until canceled
)

// backends are the shared databases several instances can run on: a
// database of the scale-out tests' own (.ci/db.sh creates wcbcluster), as
// the store suite drops the tables of the usual test database meanwhile.
var backends = []string{"mysql", "postgres"}

// forEachBackend runs f on every shared database the environment names.
func forEachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f(t, testenv.ClusterDSN(t, backend, ""))
		})
	}
}

// startPBX runs a sandbox PBX the instances share, as they would share an
// Asterisk node.
func startPBX(t testing.TB, scale float64) string {
	t.Helper()
	pbx := sandbox.New(sandbox.Config{Username: "wcb", Secret: "sandbox-secret", TimeScale: scale, Seed: 1})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go pbx.Serve(l)
	t.Cleanup(func() { pbx.Close() })
	return "tcp://wcb:sandbox-secret@" + l.Addr().String()
}

// runID tells this run's instances apart from those of earlier runs on the
// same database (an instance adopts the unfinished calls of its name).
func runID(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// startInstances runs n service instances (app.New, as serve builds them)
// on one database and one PBX, with the given extra flags.
func startInstances(t testing.TB, n int, dsn, ami string, extra ...string) []*apptest.Service {
	t.Helper()
	run := runID(t)
	var out []*apptest.Service
	for i := range n {
		flags := []string{
			"--db", dsn, "--ami", ami, "--instance", "c" + run + "-" + string(rune('a'+i)),
			"--callee-ring", "1h", "--call-limit", "20s", "--call-warning", "5s", "--max-cps", "1000", "--lang", "en",
			"--limits", "off", "--pow", "off", "--daily-minutes", "0", "--admin-token", "cluster-test-admin-token",
		}
		var log *slog.Logger
		if os.Getenv("CLUSTER_TEST_LOG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test_instance", i)
		}
		out = append(out, apptest.Start(t, log, append(flags, extra...)))
	}
	return out
}

func do(t testing.TB, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func create(t testing.TB, base, caller, callee string) *callback.Request {
	t.Helper()
	resp, b := do(t, "POST", base+"/api/v1/callbacks", `{"caller":"`+caller+`","callee":"`+callee+`"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create on %s: %s %s", base, resp.Status, b)
	}
	var r callback.Request
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func get(t testing.TB, base, id string) *callback.Request {
	t.Helper()
	resp, b := do(t, "GET", base+"/api/v1/callbacks/"+id, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on %s: %s %s", id, base, resp.Status, b)
	}
	var r callback.Request
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// stream reads an /events stream until it ends, sending each event's
// request (the last one is the final state).
func stream(t testing.TB, base, id string) <-chan *callback.Request {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/callbacks/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events of %s on %s: %s", id, base, resp.Status)
	}
	out := make(chan *callback.Request, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var r callback.Request
			if json.Unmarshal([]byte(data), &r) == nil {
				out <- &r
			}
		}
	}()
	return out
}

// waitState polls GET on base until id is in state (a test deadline bounds
// it: the call's progress is the PBX's, not the test's, to time).
func waitState(t testing.TB, base, id string, state callback.State) *callback.Request {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := get(t, base, id)
		if r.State == state {
			return r
		}
		if r.State.Final() || time.Now().After(deadline) {
			t.Fatalf("%s on %s: state %s (%s), want %s", id, base, r.State, r.Reason, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAnyInstanceAnswers: a request placed on instance a is followed live
// on instance c (/events: its progress crosses instances through the
// database) and read and canceled on instance b (the cancel reaches the
// owner a, which hangs up): the visitor sees canceled/visitor everywhere.
func TestAnyInstanceAnswers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		in := startInstances(t, 3, dsn, startPBX(t, 0.1))
		a, b, c := in[0].URL, in[1].URL, in[2].URL

		r := create(t, a, numCaller, numNoAnswer)
		// The live progress on c: every state it reports, up to the
		// friend's phone ringing (a poll may fold states that follow each
		// other within one poll; the stream ends at the final state).
		events := stream(t, c, r.ID)
		var seen []callback.State
		for ev := range events {
			seen = append(seen, ev.State)
			if ev.State == callback.StateCallingCallee || ev.State.Final() {
				break
			}
		}
		if len(seen) == 0 || seen[len(seen)-1] != callback.StateCallingCallee {
			t.Fatalf("events on a third instance: %v; want the live progress up to calling_callee", seen)
		}
		if g := get(t, b, r.ID); g.State != callback.StateCallingCallee {
			t.Fatalf("GET on another instance: %s, want calling_callee", g.State)
		}

		resp, body := do(t, "DELETE", b+"/api/v1/callbacks/"+r.ID, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE on another instance: %s %s", resp.Status, body)
		}
		var last *callback.Request
		for ev := range events {
			last = ev
		}
		if last == nil || last.State != callback.StateCanceled || last.Reason != callback.ReasonVisitor {
			t.Fatalf("events on a third instance end with %+v; want canceled/visitor", last)
		}
		for _, u := range []string{a, b, c} {
			if g := get(t, u, r.ID); g.State != callback.StateCanceled || g.Reason != callback.ReasonVisitor {
				t.Errorf("GET on %s: %s/%s, want canceled/visitor", u, g.State, g.Reason)
			}
		}
		// A final request: DELETE anywhere says so (409), as on its owner.
		if resp, body := do(t, "DELETE", c+"/api/v1/callbacks/"+r.ID, ""); resp.StatusCode != http.StatusConflict {
			t.Errorf("DELETE of a final request on another instance: %s %s", resp.Status, body)
		}
	})
}

// digits is n random decimal digits.
func digits(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// limitFlags: the limits on, the per-IP one the test counts (10 per 10
// minutes, the default), the number limits out of its way; the client's
// address from X-Forwarded-For (a fresh one per run: the counts of the
// shared database outlive a test).
var limitFlags = []string{"--limits", "on", "--limit-per-ip", "10/10m", "--limit-per-subnet", "1000/10m",
	"--limit-per-prefix", "1000/1h", "--trusted-proxies", "127.0.0.1/32", "--caller-cooldown", "0s"}

// flood sends n requests from the address ip, the i-th to instance
// urls[i%len], each with numbers of its own, and counts the answers.
func flood(t *testing.T, urls []string, ip string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range n { // all at once: the instances race for the count
		body := `{"caller":"1390` + digits(t, 7) + `","callee":"1383333` + digits(t, 4) + `"}`
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", urls[i%len(urls)]+"/api/v1/callbacks", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", ip)
			code := 0
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return codes
}

// TestLimitsGlobal: from one address, 30 requests spread over 3 instances
// get exactly what one instance gives (10 admitted, 20 refused with 429):
// the per-IP count lives in the shared database.
func TestLimitsGlobal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		pbx := startPBX(t, 0.01)
		one := startInstances(t, 1, dsn, pbx, limitFlags...)
		three := startInstances(t, 3, dsn, pbx, limitFlags...)
		ip := func() string { // 10.x.y.z, no leading zeros
			return "10.1" + digits(t, 2) + ".1" + digits(t, 2) + ".1" + digits(t, 2)
		}

		single := flood(t, []string{one[0].URL}, ip(), 30)
		spread := flood(t, []string{three[0].URL, three[1].URL, three[2].URL}, ip(), 30)
		t.Logf("one instance: %v; three instances: %v (HTTP status → requests)", single, spread)
		for name, got := range map[string]map[int]int{"one instance": single, "three instances": spread} {
			if got[http.StatusCreated] != 10 || got[http.StatusTooManyRequests] != 20 {
				t.Errorf("%s: %v; want 10×201 and 20×429", name, got)
			}
		}
	})
}

// TestCapacityGlobal: --max-concurrent 2 on each of three instances holds
// for the service: with two calls ringing (placed on a and b), a third
// placed on c waits for a slot and is refused system_busy when its queue
// wait runs out; once one call ends, c places the next.
func TestCapacityGlobal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		in := startInstances(t, 3, dsn, startPBX(t, 0.1), "--max-concurrent", "2", "--queue-size", "5", "--queue-wait", "2s")
		a, b, c := in[0].URL, in[1].URL, in[2].URL
		r1 := create(t, a, "1390"+digits(t, 7), numNoAnswer)
		r2 := create(t, b, "1390"+digits(t, 7), numNoAnswer)
		waitState(t, a, r1.ID, callback.StateCallingCallee)
		waitState(t, b, r2.ID, callback.StateCallingCallee)

		r3 := create(t, c, "1390"+digits(t, 7), numNoAnswer)
		got := waitFinal(t, c, r3.ID)
		if got.State != callback.StateRejected || got.Reason != callback.ReasonSystemBusy {
			t.Fatalf("third call with two slots held on other instances: %s/%s, want rejected/system_busy", got.State, got.Reason)
		}
		if !hasOnly(got.History, callback.StateQueued, callback.StateRejected) {
			t.Errorf("third call's history %v: it must never have been placed", got.History)
		}

		if resp, body := do(t, "DELETE", c+"/api/v1/callbacks/"+r1.ID, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE: %s %s", resp.Status, body)
		}
		waitFinal(t, a, r1.ID)
		r4 := create(t, c, "1390"+digits(t, 7), numNoAnswer)
		waitState(t, c, r4.ID, callback.StateCallingCallee)
		for _, r := range []*callback.Request{r2, r4} {
			do(t, "DELETE", a+"/api/v1/callbacks/"+r.ID, "")
			waitFinal(t, a, r.ID)
		}
	})
}

// waitFinal polls GET on base until id is final.
func waitFinal(t testing.TB, base, id string) *callback.Request {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := get(t, base, id)
		if r.State.Final() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s: still %s", id, base, r.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasOnly(h []callback.Transition, states ...callback.State) bool {
	for _, tr := range h {
		ok := false
		for _, s := range states {
			ok = ok || tr.State == s
		}
		if !ok {
			return false
		}
	}
	return true
}

// TestBudgetGlobal: the daily budget (--daily-minutes) is one for the
// service: set so that exactly five more calls fit today, twelve requests
// spread over three instances get five admitted and seven refused
// (system_busy), as one instance would.
func TestBudgetGlobal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := storetest.Open(t, dsn)
		// What today holds already (earlier tests on this database): the
		// billed seconds and the live reservations, each a full minute.
		now := time.Now()
		day := now.UTC().Truncate(24 * time.Hour)
		hours, err := st.StatsByHour(ctx, day, now)
		if err != nil {
			t.Fatal(err)
		}
		used := 0
		for _, h := range hours {
			used += h.Billsec
		}
		const per, keep = 60, time.Minute + 10*time.Minute
		id, total, err := st.ReserveBudget(ctx, used, per, math.MaxInt32, keep, now)
		if err != nil || id == "" {
			t.Fatalf("probe: %v", err)
		}
		st.ReleaseBudget(ctx, id)
		minutes := (total + 5*per + 59) / 60 // room for exactly five calls of a minute

		in := startInstances(t, 3, dsn, startPBX(t, 0.01), "--daily-minutes", strconv.Itoa(minutes),
			"--call-limit", "60s", "--call-warning", "10s", "--timezone", "UTC")
		codes := map[int]int{}
		for i := range 12 {
			body := `{"caller":"1390` + digits(t, 7) + `","callee":"1383333` + digits(t, 4) + `"}`
			resp, _ := do(t, "POST", in[i%3].URL+"/api/v1/callbacks", body)
			codes[resp.StatusCode]++
		}
		t.Logf("budget %d min with %d s used or reserved: %v", minutes, total, codes)
		if codes[http.StatusCreated] != 5 || codes[http.StatusCreated]+codes[http.StatusServiceUnavailable]+codes[http.StatusTooManyRequests] != 12 {
			t.Errorf("12 requests over 3 instances: %v; want 5 admitted, 7 refused", codes)
		}
	})
}

// TestSharedLimiterStrikesLikeMemory: a limiter counting in the shared
// database refuses and strikes as one in memory does under the policy's
// check-then-count (issue 11: a Check does not count; the Allow of a key
// over its limit refuses it with the backoff strike), and another
// instance's limiter sees the strike's block at once.
func TestSharedLimiterStrikesLikeMemory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := storetest.Open(t, dsn)
		limit := ratelimit.Limit{N: 2, Per: time.Minute}
		backoff := ratelimit.Backoff{Base: 10 * time.Minute, Max: time.Hour, Reset: time.Hour}
		name := "strike-" + runID(t)
		a, b := ratelimit.New(limit, backoff, 0), ratelimit.New(limit, backoff, 0)
		a.Share(name, st, func(err error) { t.Errorf("shared limiter a: %v", err) })
		b.Share(name, st, func(err error) { t.Errorf("shared limiter b: %v", err) })
		mem := ratelimit.New(limit, backoff, 0)
		now := time.Now()

		// checkThenCount is the policy's: a Check first (checkNumberLimits),
		// then an Allow, which strikes a key over its limit or counts an
		// admitted request (countNumberLimits).
		checkThenCount := func(l *ratelimit.Limiter) (bool, time.Duration) {
			l.Check("k", now)
			return l.Allow("k", now)
		}
		for i, l := range []*ratelimit.Limiter{a, b} { // two instances use up the shared allowance
			if ok, _ := checkThenCount(l); !ok {
				t.Fatalf("request %d refused within the limit", i)
			}
			checkThenCount(mem)
		}
		okMem, waitMem := checkThenCount(mem)
		okA, waitA := checkThenCount(a)
		if okMem || okA || waitMem < backoff.Base || waitA < backoff.Base {
			t.Fatalf("over the limit: memory (%v, %v), shared (%v, %v); want both refused with the %v strike",
				okMem, waitMem, okA, waitA, backoff.Base)
		}
		// The database keeps milliseconds: the block read back may end a
		// fraction of one earlier.
		if ok, wait := b.Check("k", now); ok || wait < backoff.Base-time.Second {
			t.Fatalf("the other instance: (%v, %v); want refused for the strike's %v", ok, wait, backoff.Base)
		}
	})
}
