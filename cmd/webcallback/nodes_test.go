package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"webcallback/internal/amitap"
	"webcallback/internal/callback"
	"webcallback/internal/sandbox"
	"webcallback/internal/store/storetest"
	"webcallback/internal/testenv"
)

// TestNodes: two service processes on one shared database, each connected
// to the same two sandbox PBX nodes (--ami with two URLs). Calls spread
// over both nodes; a node drained through one instance gets no new call
// from either; a node lost mid-run (its PBX closed, its AMI link dropped)
// shows down in /readyz and /metrics on both instances, new calls go to
// the other node, and once it comes back empty its live calls end
// failed/pbx_lost with their talk time counted until the loss. Every
// request ends, and each Originate reached the node the request records
// exactly once.
func TestNodes(t *testing.T) { eachClusterDB(t, "the nodes test", testNodes) }

// eachClusterDB runs f as a subtest on the shared MariaDB and PostgreSQL
// databases of the cluster tests.
func eachClusterDB(t *testing.T, what string, f func(t *testing.T, dsn string)) {
	for _, backend := range []string{"mysql", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := testenv.ClusterDSN(t, backend, "cmd")
			testenv.Require(t, !testing.Short(), "subprocess test; not with -short")
			f(t, dsn)
		})
	}
}

// pbxNode is one sandbox PBX behind an Originate-counting tap: the tap's
// address is the node's name (--ami).
type pbxNode struct {
	pbx  *sandbox.Server
	addr string // the sandbox's own listener, to bring it back on
	tap  *amitap.Tap
}

// startNode starts a sandbox PBX on a new loopback port behind a new tap
// (l nil), or brings a lost node back on its old address (l: the port
// held while it was down; its tap goes on).
func startNode(t *testing.T, l net.Listener) *pbxNode {
	t.Helper()
	fresh := l == nil
	var err error
	if fresh {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	n := &pbxNode{pbx: sandbox.New(sandbox.Config{Username: "wcb", Secret: "sandbox-secret", TimeScale: 0.5, Seed: 1}), addr: l.Addr().String()}
	go n.pbx.Serve(l)
	t.Cleanup(func() { n.pbx.Close() })
	if fresh {
		if n.tap, err = amitap.New(n.addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.tap.Close() })
	}
	return n
}

// runID is a random tag for this run's instance names.
func runID() string {
	var rnd [4]byte
	rand.Read(rnd[:])
	return hex.EncodeToString(rnd[:])
}

func testNodes(t *testing.T, dsn string) {
	ctx := context.Background()
	st := storetest.Open(t, dsn)
	x, y := startNode(t, nil), startNode(t, nil)
	X, Y := x.tap.Addr(), y.tap.Addr()
	const token = "nodes-admin-token-0123456789abcdef"
	run := runID()
	flags := func(name string) []string {
		return []string{"--db", dsn, "--ami", "tcp://wcb:sandbox-secret@" + X + ",tcp://wcb:sandbox-secret@" + Y,
			"--instance", "n" + run + "-" + name, "--limits", "off", "--pow", "off", "--daily-minutes", "0", "--lang", "en",
			"--admin-token", token}
	}
	a := startInstance(t, flags("a")...)
	b := startInstance(t, flags("b")...)
	insts := []*proc{a, b}

	var ids []string
	nodeOf := func(id string) string {
		r, err := st.GetRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Node
	}
	// place posts a call that talks until canceled and waits until it has
	// gone to the PBX (its node's capacity slot is taken), so the next
	// choice sees it.
	place := func(p *proc) string {
		t.Helper()
		id := postCall(t, p.url, "13800001001", "13900001002")
		ids = append(ids, id)
		waitRequest(t, p.url, id, "to reach the PBX", func(r *callback.Request) bool { return r.State != callback.StateQueued })
		return id
	}
	count := func(got []string) map[string]int {
		m := map[string]int{}
		for _, id := range got {
			m[nodeOf(id)]++
		}
		return m
	}

	// Spread: the least busy node takes each call.
	var spread []string
	for i := range 4 {
		spread = append(spread, place(insts[i%2]))
	}
	if m := count(spread); m[X] != 2 || m[Y] != 2 {
		t.Fatalf("4 calls in a row: %v per node, want 2 on each of %s and %s", m, X, Y)
	}

	// Drain Y through a: neither instance gives it a call.
	admin(t, "POST", a.url+"/api/v1/admin/nodes/"+Y+"/drain", token, http.StatusOK)
	var nodes struct {
		Nodes []struct{ Node, State string }
	}
	json.Unmarshal([]byte(admin(t, "GET", b.url+"/api/v1/admin/nodes", token, http.StatusOK)), &nodes)
	if len(nodes.Nodes) != 2 || nodes.Nodes[1].Node != Y || nodes.Nodes[1].State != "draining" || nodes.Nodes[0].State != "up" {
		t.Fatalf("GET /api/v1/admin/nodes on b after the drain: %+v", nodes.Nodes)
	}
	drained := []string{place(a), place(b), place(a)}
	if m := count(drained); m[X] != 3 {
		t.Fatalf("calls while %s drains: %v per node, want all 3 on %s", Y, m, X)
	}
	admin(t, "DELETE", b.url+"/api/v1/admin/nodes/"+Y+"/drain", token, http.StatusOK)
	if audit := admin(t, "GET", a.url+"/api/v1/admin/audit", token, http.StatusOK); !strings.Contains(audit, "POST /api/v1/admin/nodes/"+Y+"/drain") ||
		!strings.Contains(audit, "DELETE /api/v1/admin/nodes/"+Y+"/drain") {
		t.Errorf("the drain and its end are not in the audit log: %s", audit)
	}

	// Y is lost with its 2 calls connected.
	var onY []string
	for _, id := range spread {
		if nodeOf(id) == Y {
			onY = append(onY, id)
			waitRequest(t, a.url, id, "to connect", func(r *callback.Request) bool { return r.State == callback.StateConnected })
		}
	}
	y.pbx.Close()
	yHeld := testenv.HoldPort(t, y.addr) // for its return below
	for _, p := range insts {
		waitBody(t, p.url+"/readyz", "node "+Y+" down")
		waitBody(t, p.url+"/metrics", `webcallback_node_up{node="`+Y+`"} 0`)
	}
	lostSeen := time.Now() // each instance saw the link go before this
	for _, where := range []string{a.url + "/readyz", a.url + "/metrics", b.Log(), a.Log(),
		admin(t, "GET", a.url+"/api/v1/admin/nodes", token, http.StatusOK)} {
		if strings.HasPrefix(where, "http") {
			where = get(t, where)
		}
		if strings.Contains(where, "sandbox-secret") {
			t.Errorf("the AMI secret leaks: %.300s", where)
		}
	}
	after := []string{place(b), place(a)}
	if m := count(after); m[X] != 2 {
		t.Fatalf("calls while %s is down: %v per node, want both on %s", Y, m, X)
	}
	if body := get(t, a.url+"/readyz"); !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "node "+X+" up") {
		t.Errorf("/readyz with one node of two up: %q, want ready", body)
	}
	// The outage lasts until the calls on X connect (seconds): a billsec
	// counted to the node's return rather than to its loss would exceed
	// the bound below.
	for _, id := range after {
		waitRequest(t, a.url, id, "to connect", func(r *callback.Request) bool { return r.State == callback.StateConnected })
	}
	startNode(t, yHeld.Release()) // back, empty: the calls it had are gone
	for _, id := range onY {
		r := waitRequest(t, b.url, id, "to end", func(r *callback.Request) bool { return r.State.Final() })
		bound := int(lostSeen.Sub(*r.ConnectedAt)/time.Second) + 1
		t.Logf("call %s on the lost node: %s/%s billsec %d (talk until the loss at most %d s)", id, r.State, r.Reason, r.Billsec, bound)
		if r.State != callback.StateFailed || r.Reason != callback.ReasonPBXLost || r.Billsec > bound {
			t.Errorf("call %s on the lost node: %s/%s billsec %d, want failed/pbx_lost with billsec <= %d (the talk until the loss)",
				id, r.State, r.Reason, r.Billsec, bound)
		}
	}

	// The rest are hung up through either instance; every request ends.
	for i, id := range ids {
		if r := getCallback(t, a.url, id); !r.State.Final() {
			cancelCall(t, insts[i%2].url, id)
		}
	}
	for _, id := range ids {
		waitRequest(t, a.url, id, "to end", func(r *callback.Request) bool { return r.State.Final() })
	}
	m := count(ids)
	t.Logf("%d calls: %v per node; Originates %s %d, %s %d", len(ids), m, X, x.tap.Originates(), Y, y.tap.Originates())
	if x.tap.Originates() != m[X] || y.tap.Originates() != m[Y] {
		t.Errorf("Originates per node %d, %d; want one per request placed there (%v)", x.tap.Originates(), y.tap.Originates(), m)
	}
}

// postCall asks base for a callback and returns its id.
func postCall(t *testing.T, base, caller, callee string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/callbacks", "application/json", strings.NewReader(`{"caller":"`+caller+`","callee":"`+callee+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r callback.Request
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST on %s: %s %v", base, resp.Status, err)
	}
	return r.ID
}

// waitRequest polls the request through base until ok and returns it.
func waitRequest(t *testing.T, base, id, what string, ok func(*callback.Request) bool) *callback.Request {
	t.Helper()
	var r *callback.Request
	waitFor(t, "request "+id+" "+what, func() bool { r = getCallback(t, base, id); return ok(r) })
	return r
}

// get reads url's body.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitBody polls url until its body holds want.
func waitBody(t *testing.T, url, want string) {
	t.Helper()
	waitFor(t, url+" to show "+want, func() bool { return strings.Contains(get(t, url), want) })
}

// admin sends an admin API request and checks its status.
func admin(t *testing.T, method, url, token string, want int) string {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	return string(b)
}

// cancelCall is DELETE /api/v1/callbacks/{id} on base.
func cancelCall(t *testing.T, base, id string) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", base+"/api/v1/callbacks/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestNodesFailover: instance a is connected to nodes X and Y, b only to
// X, c only to Y. a places one call on each node and is killed (kill -9):
// b adopts the call on X and c the one on Y (only an instance connected
// to a call's node sees its channels), each follows its call to the end,
// and no call is originated twice.
func TestNodesFailover(t *testing.T) { eachClusterDB(t, "the nodes failover test", testNodesFailover) }

func testNodesFailover(t *testing.T, dsn string) {
	ctx := context.Background()
	st := storetest.Open(t, dsn)
	x, y := startNode(t, nil), startNode(t, nil)
	X, Y := x.tap.Addr(), y.tap.Addr()
	run := runID()
	flags := func(name string, nodes ...string) []string {
		var urls []string
		for _, n := range nodes {
			urls = append(urls, "tcp://wcb:sandbox-secret@"+n)
		}
		return []string{"--db", dsn, "--ami", strings.Join(urls, ","), "--instance", "nf" + run + "-" + name,
			"--limits", "off", "--pow", "off", "--daily-minutes", "0", "--lang", "en"}
	}
	a := startInstance(t, flags("a", X, Y)...)
	b := startInstance(t, flags("b", X)...)
	c := startInstance(t, flags("c", Y)...)

	byNode := map[string]string{}
	for range 2 {
		id := postCall(t, a.url, "13800001001", "13900001002")
		waitRequest(t, b.url, id, "to connect", func(r *callback.Request) bool { return r.State == callback.StateConnected })
		r, err := st.GetRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		byNode[r.Node] = id
	}
	if byNode[X] == "" || byNode[Y] == "" {
		t.Fatalf("a's two calls went to %v, want one on each of %s and %s", byNode, X, Y)
	}
	a.cmd.Process.Kill()
	<-a.done
	for _, w := range []struct {
		p    *proc
		node string
	}{{b, X}, {c, Y}} {
		id := byNode[w.node]
		waitFor(t, "the call on "+w.node+" adopted", func() bool { return adoptedLine(w.p.Log(), id) })
		if owner := ownerOf(t, dsn, id); owner != "nf"+run+"-"+map[*proc]string{b: "b", c: "c"}[w.p] {
			t.Errorf("the call on %s is owned by %q after the kill", w.node, owner)
		}
		cancelCall(t, w.p.url, id) // hung up through the adopter's own AMI link
		r := waitRequest(t, w.p.url, id, "to end", func(r *callback.Request) bool { return r.State.Final() })
		if r.State != callback.StateCanceled || r.Reason != callback.ReasonVisitor || r.ConnectedAt == nil {
			t.Errorf("the adopted call on %s ended %s/%s, want canceled/visitor after it connected", w.node, r.State, r.Reason)
		}
	}
	if x.tap.Originates() != 1 || y.tap.Originates() != 1 {
		t.Errorf("Originates %d on %s, %d on %s; want 1 each", x.tap.Originates(), X, y.tap.Originates(), Y)
	}
}
