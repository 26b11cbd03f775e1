package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/store"
	"webcallback/internal/store/storetest"
	"webcallback/internal/testenv"
	"webcallback/internal/wcbproto"
)

// TestMain lets a test run the real binary's main in a child process
// (WEBCALLBACK_TEST_MAIN=1 and the command's arguments), so a test can
// kill a running `webcallback serve` with SIGKILL. The tests marked
// t.Parallel, each with a service or one-shot run of its own (its own
// SQLite file or PostgreSQL schema, loopback ports from the kernel), wait
// for the sandbox's calls and their child processes, not computing:
// servicesAtOnce of them run at once.
func TestMain(m *testing.M) {
	if os.Getenv("WEBCALLBACK_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(testenv.RunWaitBound(m, servicesAtOnce))
}

// servicesAtOnce: see TestMain.
const servicesAtOnce = 4

// serveProcess is `webcallback serve` running as a child process.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

// startServeProcess runs serve with args on a free loopback port and waits until
// it answers /healthz.
func startServeProcess(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", addr, "--config="}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBCALLBACK_") { // a developer's settings never leak in
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "WEBCALLBACK_TEST_MAIN=1")
	p := &serveProcess{cmd: cmd, url: "http://" + addr, stderr: &bytes.Buffer{}}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	waitFor(t, "serve to answer /healthz", func() bool {
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// kill ends the process with SIGKILL: no graceful shutdown, no drain.
func (p *serveProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a hang, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type apiRequest struct {
	ID, State, Reason, Prompt string
	Cause, Billsec            int
}

func getRequest(t *testing.T, base, id string) apiRequest {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/callbacks/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r apiRequest
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("GET %s: %v", id, err)
	}
	return r
}

// TestCallsEndingWhileServiceKilled is issue 10's proof that no CDR is lost:
// a standalone sandbox PBX writes its CDRs into the service's database
// (sandbox --cdr-db), serve reads them with --cdr-source table. Three
// calls are connected, serve is killed (SIGKILL), the three callees hang
// up while it is down, and after a restart each request is completed /
// callee_hangup with the talk time the PBX measured, its CDR rows are
// stored and counted once, and the per-number table sums talk time.
func TestCallsEndingWhileServiceKilled(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testCallsEndingWhileServiceKilled(t, "sqlite:"+filepath.Join(t.TempDir(), "wcb.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testCallsEndingWhileServiceKilled(t, postgresSchema(t))
	})
}

// postgresSchema returns WEBCALLBACK_TEST_POSTGRES pointed at a schema of
// its own (search_path), dropped at the end: the other packages' tests
// reset the database's default schema while this one runs.
func postgresSchema(t *testing.T) string {
	base := os.Getenv("WEBCALLBACK_TEST_POSTGRES")
	testenv.Require(t, base != "", "PostgreSQL end-to-end test: WEBCALLBACK_TEST_POSTGRES is not set. Run: eval \"$(.ci/db.sh start)\"")
	b := make([]byte, 6)
	rand.Read(b)
	schema := "outage_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func testCallsEndingWhileServiceKilled(t *testing.T, dsn string) {
	ctx := context.Background()
	st := storetest.Open(t, dsn)

	// The standalone sandbox PBX, exactly as `webcallback sandbox --cdr-db`.
	secretBytes := make([]byte, 16)
	rand.Read(secretBytes)
	secret := hex.EncodeToString(secretBytes)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopSandbox := context.WithCancel(ctx)
	var sandboxLog bytes.Buffer
	sandboxDone := make(chan error, 1)
	go func() {
		sandboxDone <- sandboxCommand(sctx, []string{"--secret", secret, "--time-scale", "0.01", "--cdr-db", dsn},
			&lockedWriter{w: &sandboxLog}, pl)
	}()
	defer func() {
		stopSandbox()
		if err := <-sandboxDone; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}()
	amiURL := "tcp://webcallback:" + secret + "@" + pl.Addr().String()
	serveArgs := []string{"--db", dsn, "--ami", amiURL, "--cdr-source", "table", "--instance", "outage-test",
		"--spool-dir", filepath.Join(t.TempDir(), "spool"), "--limits", "off", "--pbx-timezone", "UTC"}

	svc := startServeProcess(t, serveArgs...)
	callers := []string{"13800001001", "13800001002", "13800001003"}
	var ids []string
	for i, caller := range callers {
		body := fmt.Sprintf(`{"caller":%q,"callee":"1380000200%d"}`, caller, i+2)
		resp, err := http.Post(svc.url+"/api/v1/callbacks", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var r apiRequest
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || r.ID == "" {
			t.Fatalf("POST %s: %d %+v\n%s", body, resp.StatusCode, r, svc.stderr)
		}
		ids = append(ids, r.ID)
	}
	for _, id := range ids {
		waitFor(t, id+" connected", func() bool { return getRequest(t, svc.url, id).State == "connected" })
	}

	svc.kill() // SIGKILL mid-call: nothing drained, nothing said to the PBX

	// While the service is down, each callee hangs up (an AMI client of
	// our own asks the PBX, as the far end's BYE would).
	c, err := ami.Dial(ctx, ami.Config{Addr: pl.Addr().String(), Username: "webcallback", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Each callee talks a few seconds of PBX time first: its channel is
	// at least 5 s old (about 1 s of ringing, then talk).
	var resp *ami.Response
	waitFor(t, "the callees to talk", func() bool {
		if resp, err = c.Do(ctx, ami.NewMessage("Action", "CoreShowChannels")); err != nil {
			t.Fatal(err)
		}
		talking := 0
		for _, it := range resp.Items {
			if it.Get("Uniqueid") != it.Get("Linkedid") && it.Get("Duration") >= "00:00:05" {
				talking++
			}
		}
		return talking == len(ids)
	})
	hungUp := 0
	for _, it := range resp.Items {
		for _, id := range ids {
			if it.Get("Linkedid") == id && it.Get("Uniqueid") != id {
				if _, err := c.Do(ctx, ami.NewMessage("Action", "Hangup", "Channel", it.Get("Channel"), "Cause", "16")); err != nil {
					t.Fatal(err)
				}
				hungUp++
			}
		}
	}
	if hungUp != len(ids) {
		t.Fatalf("hung up %d callee legs, want %d", hungUp, len(ids))
	}
	// The PBX writes the CDRs itself, with nobody listening.
	talk := map[string]int{}
	for _, id := range ids {
		waitFor(t, "the CDR rows of "+id, func() bool {
			rows, err := st.CallCDRs(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.TalkSec != nil && strings.HasPrefix(r.UserField, wcbproto.UserfieldPrefix) {
					talk[id] = *r.TalkSec
					return len(rows) == 2
				}
			}
			return false
		})
		if talk[id] < 1 {
			t.Fatalf("%s: talksec %d, want the talk time in seconds", id, talk[id])
		}
	}

	svc = startServeProcess(t, serveArgs...)
	for i, id := range ids {
		var r apiRequest
		waitFor(t, id+" final", func() bool {
			r = getRequest(t, svc.url, id)
			return r.State == "completed" || r.State == "failed" || r.State == "canceled"
		})
		if r.State != "completed" || r.Reason != "callee_hangup" || r.Cause != 16 || r.Prompt != "PartnerHangup" || r.Billsec != talk[id] {
			t.Errorf("%s after the restart: %+v; want completed / callee_hangup, cause 16, PartnerHangup, billsec %d (the PBX's talk time)",
				id, r, talk[id])
		}
		waitFor(t, "the CDRs of "+id+" ingested", func() bool {
			rows, _, err := st.SearchCDRs(ctx, store.CDRFilter{RequestID: id})
			return err == nil && len(rows) == 2
		})
		ns, err := st.NumberStats(ctx, "+86"+callers[i], time.Now())
		if err != nil || ns.Calls != 1 || ns.Answered != 1 || ns.Billsec != talk[id] {
			t.Errorf("stats of %s = %+v, %v; want 1 call, answered, billsec %d", callers[i], ns, err, talk[id])
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("serve's log after the restart:\n%s", svc.stderr)
	}
}

// TestBuiltinSandboxDiesWithService: serve on the built-in sandbox PBX
// (no --ami, the README's first command) is killed mid-call. The sandbox
// died with it, as a restarted Asterisk takes its calls along: after the
// restart the call ends failed / pbx_lost (not network_error), its talk
// counted at most to the new PBX's start, never to the moment the
// restarted service found it gone. The restart listens on another port,
// so its default instance name (<host>-<port>) differs: on SQLite, one
// instance at a time, it takes the previous run's calls over all the same.
func TestBuiltinSandboxDiesWithService(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "wcb.db")
	args := []string{"--db", dsn, "--db-create", "--sandbox-time-scale", "0.05", "--limits", "off", "--pow", "off",
		"--spool-dir", filepath.Join(t.TempDir(), "spool")}
	svc := startServeProcess(t, args...)
	resp, err := http.Post(svc.url+"/api/v1/callbacks", "application/json",
		strings.NewReader(`{"caller":"13800001001","callee":"13800002002"}`))
	if err != nil {
		t.Fatal(err)
	}
	var r apiRequest
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d\n%s", resp.StatusCode, svc.stderr)
	}
	waitFor(t, "connected", func() bool { return getRequest(t, svc.url, r.ID).State == "connected" })
	svc.kill()
	restarted := time.Now()

	svc = startServeProcess(t, args...)
	up := time.Now() // the new sandbox started before serve answered
	var got apiRequest
	waitFor(t, "the call's end after the restart", func() bool {
		got = getRequest(t, svc.url, r.ID)
		return got.State == "failed" || got.State == "completed"
	})
	var full struct {
		ConnectedAt time.Time `json:"connected_at"`
	}
	if b, err := http.Get(svc.url + "/api/v1/callbacks/" + r.ID); err == nil {
		json.NewDecoder(b.Body).Decode(&full)
		b.Body.Close()
	}
	// At most the talk until the new sandbox started, which was before
	// serve answered again: never counted on to when the restarted
	// service found the call gone (its reconcile, seconds later).
	bound := int(up.Sub(full.ConnectedAt).Seconds()/0.05) + 1
	t.Logf("after the restart: %s/%s billsec %d (killed after %d PBX s of talk; the talk until serve answered again is %d)",
		got.State, got.Reason, got.Billsec, int(restarted.Sub(full.ConnectedAt).Seconds()/0.05), bound)
	if got.State != "failed" || got.Reason != "pbx_lost" {
		t.Errorf("the call on the sandbox that died with the service: %s/%s, want failed/pbx_lost\n%s", got.State, got.Reason, svc.stderr)
	}
	if got.Billsec > bound {
		t.Errorf("billsec %d beyond the talk until the new sandbox started (%d)", got.Billsec, bound)
	}
}
