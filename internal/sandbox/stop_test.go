package sandbox

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"webcallback/ami"
	"webcallback/deploy/asterisk"
	"webcallback/internal/testenv"
	"webcallback/internal/wcbproto"
)

// afterBridge is what a session sees from the last BridgeEnter on, reduced
// to what the kit's manager.conf lets through (asterisk.AMIEvents): per
// event its name, its header layout, the leg (caller/callee), its Cause
// and, for Cdr, the row's destination, application, disposition and
// userfield prefix.
func afterBridge(msgs []*ami.Message, callerUID string) []string {
	last := -1
	for i, m := range msgs {
		if m.Event() == "BridgeEnter" {
			last = i
		}
	}
	var out []string
	for _, m := range msgs[last+1:] {
		e := m.Event()
		if e == "" || !slices.Contains(asterisk.AMIEvents, e) {
			continue
		}
		leg := "callee"
		if m.Get("Uniqueid") == callerUID || m.Get("UniqueID") == callerUID {
			leg = "caller"
		}
		line := e + " " + leg + " [" + keys(m) + "] cause=" + m.Get("Cause")
		if e == "Cdr" {
			uf, _, _ := strings.Cut(m.Get("UserField"), ";")
			line += " dst=" + m.Get("Destination") + " app=" + m.Get("LastApplication") +
				" disp=" + m.Get("Disposition") + " userfield=" + uf
		}
		out = append(out, line)
	}
	return out
}

// TestCoreStopNowOrder: "core stop now" mid-call ends a bridged call in
// the order, framing and causes real Asterisk 22 sent (fixture
// kit-pbx-shutdown: both legs leave the bridge, the h extension's hangup
// UserEvent with cause 16, the callee's then the caller's Hangup with
// cause 16, then the Dial row and the h extension's row), then Shutdown
// (the fixture's session had no "system" events, so it shows none), then
// the server closes the session.
func TestCoreStopNowOrder(t *testing.T) {
	kit := filepath.Join(filepath.Dir(testenv.FixturesDir(t)), "ami-kit")
	fixture := readMessages(t, filepath.Join(kit, "kit-pbx-shutdown.ami"), true)
	var callerUID string
	for _, m := range fixture {
		if m.Event() == "OriginateResponse" {
			callerUID = m.Get("Uniqueid")
		}
	}
	want := afterBridge(fixture, callerUID)
	if len(want) == 0 {
		t.Fatal("fixture: nothing after the bridge")
	}

	s, addr := startServer(t, Config{TimeScale: 0.02})
	c := dialRaw(t, addr)
	c.login("call,cdr,user,system")
	c.until(func(m *ami.Message) bool { return m.Event() == "FullyBooted" })
	const id = "35de41c9-6b6a-46ce-93fe-d834e6d2f496"
	vars := []string{wcbproto.VarID + "=" + id, wcbproto.VarCaller + "=13800001001", wcbproto.VarCallee + "=13800001234",
		wcbproto.VarLimitMS + "=600000", wcbproto.VarWarnMS + "=0", wcbproto.VarRingS + "=30"}
	c.send("Action", "Originate", "ActionID", "orig-1", "Channel", "PJSIP/13800001001@gateway",
		"Context", wcbproto.Context, "Exten", wcbproto.Exten, "Priority", wcbproto.Priority,
		"CallerID", "<13800001234>", "Timeout", "30000", "ChannelId", id, "Async", "true",
		"Variable", strings.Join(vars, ","))
	bridged := 0
	msgs := c.until(func(m *ami.Message) bool {
		if m.Event() == "BridgeEnter" {
			bridged++
		}
		return bridged == 2
	})

	op := dialRaw(t, addr)
	op.login("off")
	op.send("Action", "Command", "ActionID", "stop", "Command", "core stop now")
	for {
		m, err := c.r.ReadMessage()
		if err != nil {
			break // the PBX closed the session
		}
		msgs = append(msgs, m)
	}
	got := afterBridge(msgs, id)
	if n := len(got); n == 0 || !strings.HasPrefix(got[n-1], "Shutdown ") {
		t.Fatalf("no Shutdown last: %q", got)
	}
	if sd := msgs[len(msgs)-1]; sd.Get("Shutdown") != "Cleanly" || sd.Get("Restart") != "False" {
		t.Errorf("Shutdown event %v", sd)
	}
	got = got[:len(got)-1]
	if !slices.Equal(got, want) {
		t.Errorf("after the bridge, core stop now sent\n%s\nreal Asterisk 22 sent\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s.Close()
}
