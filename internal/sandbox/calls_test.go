package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/deploy/asterisk"
	"webcallback/internal/wcbproto"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		number string
		want   farEnd
	}{
		{"13800001001", farEnd{Answer: true, RingFor: time.Second}},
		{"+8613800001001", farEnd{Answer: true, RingFor: time.Second}},
		{"13811111001", farEnd{RingFor: 500 * time.Millisecond, Cause: 17, SIP: 486}},
		{"008613811111001", farEnd{RingFor: 500 * time.Millisecond, Cause: 17, SIP: 486}},
		{"8613811111001", farEnd{RingFor: 500 * time.Millisecond, Cause: 17, SIP: 486}},
		{"13822221001", farEnd{NeverAnswers: true, RingFor: 60 * time.Second, Cause: 19, SIP: 480}},
		{"13833331001", farEnd{RingFor: 500 * time.Millisecond, Cause: 34, SIP: 503}},
		{"13844441001", farEnd{RingFor: 500 * time.Millisecond, Cause: 19, SIP: 480}},
		{"13855550012", farEnd{Answer: true, RingFor: time.Second, HangupAfter: 12 * time.Second}},
		{"13855550000", farEnd{Answer: true, RingFor: time.Second, HangupAfter: 4 * time.Second}},
		{"13866661001", farEnd{RingFor: 500 * time.Millisecond, Cause: 1, SIP: 404}},
		{"13877771001", farEnd{RingFor: 500 * time.Millisecond, Cause: 21, SIP: 603}},
		{"02012345678", farEnd{Answer: true, RingFor: time.Second}},
		{"", farEnd{Answer: true, RingFor: time.Second}},
	}
	for _, tt := range tests {
		if got := plan(tt.number); got != tt.want {
			t.Errorf("plan(%q) = %+v, want %+v", tt.number, got, tt.want)
		}
	}
}

// callResult is what one call sent, as the engine sees it.
type callResult struct {
	msgs   []*ami.Message
	stages []string                // WebCallback stages in order
	ue     map[string]*ami.Message // last UserEvent per stage
	orig   *ami.Message            // OriginateResponse
	cdrs   []*ami.Message
	hangup map[string]string // Hangup Cause by Uniqueid
}

func collect(msgs []*ami.Message) callResult {
	r := callResult{msgs: msgs, ue: map[string]*ami.Message{}, hangup: map[string]string{}}
	for _, m := range msgs {
		switch m.Event() {
		case "UserEvent":
			if m.Get("UserEvent") == wcbproto.UserEvent {
				st := m.Get(wcbproto.HeaderStage)
				r.stages = append(r.stages, st)
				r.ue[st] = m
			}
		case "OriginateResponse":
			r.orig = m
		case "Cdr":
			r.cdrs = append(r.cdrs, m)
		case "Hangup":
			r.hangup[m.Get("Uniqueid")] = m.Get("Cause")
		}
	}
	return r
}

// placeCall originates with our names and reads until the caller's leg is
// gone (its Hangup, then a Ping to flush what came with it).
func placeCall(t *testing.T, c *rawClient, id, caller, callee string, extra ...string) callResult {
	t.Helper()
	vars := []string{wcbproto.VarID + "=" + id, wcbproto.VarCaller + "=" + caller, wcbproto.VarCallee + "=" + callee,
		wcbproto.VarLimitMS + "=15000", wcbproto.VarWarnMS + "=5000", wcbproto.VarRingS + "=10"}
	vars = append(vars, extra...)
	c.send("Action", "Originate", "ActionID", "orig-"+id, "Channel", "PJSIP/"+caller+"@gateway",
		"Context", wcbproto.Context, "Exten", wcbproto.Exten, "Priority", wcbproto.Priority,
		"CallerID", "<"+callee+">", "Timeout", "30000", "ChannelId", id, "Async", "true",
		"Variable", strings.Join(vars, ","))
	msgs := c.until(func(m *ami.Message) bool {
		return m.Event() == "Hangup" && m.Get("Uniqueid") == id || m.Response() == "Error"
	})
	c.send("Action", "Ping", "ActionID", "flush-"+id)
	msgs = append(msgs, c.until(func(m *ami.Message) bool { return m.ActionID() == "flush-"+id })...)
	return collect(msgs)
}

// TestCallOutcomes runs docs/design.md §4's numbers through the dialplan and checks
// what the engine relies on: stages, the dialend and prompt headers, the
// caller's final cause and the CDR rows.
func TestCallOutcomes(t *testing.T) {
	tests := []struct {
		name           string
		caller, callee string
		extra          []string
		stages         []string
		dialStatus     string
		cause          string // dialend Cause
		prompt         string
		hangupCause    string // caller leg's Hangup Cause
		cdrs           []string
	}{
		{"limit reached", "13800001001", "13800002002", nil,
			[]string{"answered", "dialing", "connected", "dialend", "prompt", "hangup"}, "ANSWER", "16", "TimeoutHangup", "16",
			[]string{"Dial ANSWERED", "Hangup ANSWERED Hangupcause:16"}},
		{"callee hangs up", "13800001001", "13855550005", nil,
			[]string{"answered", "dialing", "connected", "dialend", "prompt", "hangup"}, "ANSWER", "16", "PartnerHangup", "16",
			[]string{"Dial ANSWERED", "Hangup ANSWERED Hangupcause:16"}},
		{"callee busy", "13800001001", "13811111002", nil,
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "BUSY", "17", "PartnerBusy", "17",
			[]string{"Dial BUSY", "Hangup ANSWERED Hangupcause:17"}},
		{"callee busy +86", "13800001001", "+8613811111002", nil,
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "BUSY", "17", "PartnerBusy", "17",
			[]string{"Dial BUSY", "Hangup ANSWERED Hangupcause:17"}},
		{"inherited variable", "13800001001", "", []string{"__WCB_CALLEE=13811111002"},
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "BUSY", "17", "PartnerBusy", "17",
			[]string{"Dial BUSY", "Hangup ANSWERED Hangupcause:17"}},
		{"callee 503", "13800001001", "13833331002", nil,
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "CONGESTION", "34", "SystemBusy", "34",
			[]string{"Dial CONGESTION", "Hangup ANSWERED Hangupcause:34"}},
		{"callee 480", "13800001001", "13844441002", nil,
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "NOANSWER", "19", "PartnerAway", "19",
			[]string{"Dial NO ANSWER", "Hangup ANSWERED Hangupcause:19"}},
		{"callee 404", "13800001001", "13866661002", nil,
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "NOANSWER", "1", "InvalidNumber", "1",
			[]string{"Dial NO ANSWER", "Hangup ANSWERED Hangupcause:1"}},
		{"callee 603", "13800001001", "13877771002", nil,
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "NOANSWER", "21", "PartnerBusy", "21",
			[]string{"Dial NO ANSWER", "Hangup ANSWERED Hangupcause:21"}},
		{"callee ring timeout", "13800001001", "13822221002", nil,
			[]string{"answered", "dialing", "dialend", "prompt", "hangup"}, "NOANSWER", "19", "PartnerAway", "16",
			[]string{"Dial NO ANSWER", "Hangup ANSWERED Hangupcause:19"}},
		{"no callee digits", "13800001001", "abc", nil,
			[]string{"answered", "dialend", "prompt", "hangup"}, "INVALIDARGS", "28", "InvalidNumber", "16",
			[]string{"Hangup ANSWERED Hangupcause:28"}},
		{"caller hangs up in the bridge", "13855550007", "13800002002", nil,
			[]string{"answered", "dialing", "connected", "hangup"}, "", "", "", "16",
			[]string{"Dial ANSWERED Hangupcause:16"}},
		{"caller hangs up while callee rings", "13855550006", "13822221002", nil,
			[]string{"answered", "dialing", "hangup"}, "", "", "", "0",
			[]string{"Dial NO ANSWER Hangupcause:0"}},
		{"caller hangs up in Welcome", "13855550002", "13800002002", nil,
			[]string{"answered", "hangup"}, "", "", "", "16",
			[]string{"Playback ANSWERED Hangupcause:16"}},
		{"caller busy", "13811111001", "13800002002", nil, nil, "", "", "", "17", []string{"AppDial2 BUSY"}},
		{"caller 503", "13833331001", "13800002002", nil, nil, "", "", "", "34", []string{"AppDial2 CONGESTION"}},
		{"caller 404", "13866661001", "13800002002", nil, nil, "", "", "", "1", []string{"AppDial2 NO ANSWER"}},
		{"caller no answer", "13822221001", "13800002002", nil, nil, "", "", "", "19", []string{"AppDial2 NO ANSWER"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, addr := startServer(t, Config{TimeScale: 0.002, Seed: int64(i)})
			c := dialRaw(t, addr)
			c.login("")
			id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
			r := placeCall(t, c, id, tt.caller, tt.callee, tt.extra...)
			if !slices.Equal(r.stages, tt.stages) {
				t.Errorf("stages %q, want %q", r.stages, tt.stages)
			}
			if ue := r.ue[wcbproto.StageDialEnd]; tt.dialStatus != "" {
				if ue == nil || ue.Get(wcbproto.HeaderDialStatus) != tt.dialStatus || ue.Get(wcbproto.HeaderCause) != tt.cause {
					t.Errorf("dialend %v, want DialStatus %s Cause %s", ue, tt.dialStatus, tt.cause)
				}
			}
			if ue := r.ue[wcbproto.StagePrompt]; tt.prompt != "" && (ue == nil || ue.Get(wcbproto.HeaderPrompt) != tt.prompt) {
				t.Errorf("prompt event %v, want %s", ue, tt.prompt)
			}
			if ue := r.ue[wcbproto.StageHangup]; ue != nil && ue.Get(wcbproto.HeaderCause) != tt.hangupCause {
				t.Errorf("hangup stage Cause %q, want %q", ue.Get(wcbproto.HeaderCause), tt.hangupCause)
			}
			if tt.stages == nil { // the caller's leg failed
				if r.orig == nil || r.orig.Get("Response") != "Failure" || r.orig.Get("Uniqueid") != "<unknown>" {
					t.Errorf("OriginateResponse %v, want Failure", r.orig)
				}
			} else if r.orig == nil || r.orig.Get("Response") != "Success" || r.orig.Get("Reason") != "4" || r.orig.Get("Uniqueid") != id || r.orig.ActionID() != "orig-"+id {
				t.Errorf("OriginateResponse %v, want Success Reason 4 Uniqueid %s", r.orig, id)
			}
			if got := r.hangup[id]; got != tt.hangupCause {
				t.Errorf("caller Hangup Cause %q, want %q", got, tt.hangupCause)
			}
			var cdrs []string
			for _, m := range r.cdrs {
				s := m.Get("LastApplication") + " " + m.Get("Disposition")
				if uf := m.Get("UserField"); uf != "" {
					uf, ok := strings.CutSuffix(uf, wcbproto.UserfieldIDPrefix+id)
					if !ok {
						t.Errorf("UserField %q lacks the request id", m.Get("UserField"))
					}
					s += " " + uf
				}
				cdrs = append(cdrs, s)
				if m.Get("UniqueID") != id {
					t.Errorf("Cdr UniqueID %q, want %q", m.Get("UniqueID"), id)
				}
			}
			if !slices.Equal(cdrs, tt.cdrs) {
				t.Errorf("CDR rows %q, want %q", cdrs, tt.cdrs)
			}
		})
	}
}

// TestSyncOriginate: a synchronous Originate blocks the session, and its
// response comes before the events of the attempt (fixture
// sync-originate-busy).
func TestSyncOriginate(t *testing.T) {
	for _, tc := range []struct{ caller, want string }{
		{"13811111001", "Error: Originate failed"},
		{"13800001001", "Success: Originate successfully queued"},
	} {
		t.Run(tc.caller, func(t *testing.T) {
			_, addr := startServer(t, Config{TimeScale: 0.002})
			c := dialRaw(t, addr)
			c.login("off")
			c.send("Action", "Events", "EventMask", "on")
			c.read()
			c.send("Action", "Originate", "ActionID", "orig-1", "Channel", "PJSIP/"+tc.caller+"@gateway", "Context", "webcallback",
				"Exten", "s", "Priority", "1", "Variable", "WCB_ID=5,WCB_CALLEE=13800002002")
			m := c.read()
			if got := m.Response() + ": " + m.Get("Message"); got != tc.want || m.ActionID() != "orig-1" {
				t.Fatalf("first message %v, want the response %q", m, tc.want)
			}
			if m := c.read(); m.Event() != "Newchannel" {
				t.Errorf("then %v, want Newchannel", m)
			}
		})
	}
}

// TestDuplicateChannelID: a ChannelId in use is refused. The first call
// rings its callee for 60 simulated seconds, 3 s of real time at this
// scale: the second Originate, sent as soon as the first is answered,
// finds it in use however slow the machine (at 0.002 the window was
// 120 ms, which a loaded machine under -race sometimes missed).
func TestDuplicateChannelID(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.05})
	c := dialRaw(t, addr)
	c.login("off")
	for i, want := range []string{"Success", "Error"} {
		c.send("Action", "Originate", "ActionID", fmt.Sprint(i), "Channel", "PJSIP/13800001001@gateway", "Context", "webcallback",
			"Exten", "s", "ChannelId", "dup-1", "Async", "true", "Variable", "WCB_ID=1,WCB_CALLEE=13822221001,WCB_RING_S=60")
		if m := c.read(); m.Response() != want {
			t.Errorf("originate %d: %v, want %s", i, m, want)
		}
	}
}

// TestEventClasses: a login with Events: call,cdr,user gets those classes
// only, and no FullyBooted (a system event).
func TestEventClasses(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.002})
	c := dialRaw(t, addr)
	c.login("call,cdr,user")
	r := placeCall(t, c, "11111111-1111-4111-8111-111111111111", "13800001001", "13811111002")
	classes := map[string]bool{}
	for _, m := range r.msgs {
		if m.Event() == "" {
			continue
		}
		p := m.Get("Privilege")
		classes[p] = true
		if m.Event() == "FullyBooted" || p == "dialplan,all" {
			t.Errorf("got %s (%s) with Events: call,cdr,user", m.Event(), p)
		}
	}
	for _, want := range []string{"call,all", "cdr,all", "user,all"} {
		if !classes[want] {
			t.Errorf("no %s events", want)
		}
	}
}

// TestCapacity: with room for one call's two channels, a second call's
// caller leg gets 503 (CONGESTION, cause 34) while the first is up.
func TestCapacity(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.002, MaxChannels: 2})
	c := dialRaw(t, addr)
	c.login("call,user")
	c.send("Action", "Originate", "ActionID", "a", "Channel", "PJSIP/13800001001@gateway", "Context", "webcallback",
		"Exten", "s", "ChannelId", "call-a", "Async", "true", "Variable", "WCB_ID=a,WCB_CALLEE=13800002002,WCB_LIMIT_MS=60000")
	c.until(func(m *ami.Message) bool { return m.Get(wcbproto.HeaderStage) == wcbproto.StageConnected })
	r := placeCall(t, c, "call-b", "13800003003", "13800004004")
	if r.orig == nil || r.orig.Get("Response") != "Failure" || r.hangup["call-b"] != "34" {
		t.Errorf("second call: OriginateResponse %v, caller Hangup Cause %q; want Failure and 34", r.orig, r.hangup["call-b"])
	}
}

// TestCallRate: one new channel per simulated second; a burst of
// originates gets 503 beyond the first. The burst must fall within one
// simulated second: 500 ms of real time at this scale (at 0.002, 2 ms,
// which a loaded machine under -race sometimes missed).
func TestCallRate(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.5, MaxCallsPerSecond: 1})
	c := dialRaw(t, addr)
	c.login("call")
	var ok, congested atomic.Int32
	for i := range 3 {
		c.send("Action", "Originate", "ActionID", fmt.Sprint(i), "Channel", "PJSIP/13811111001@gateway", "Context", "webcallback",
			"Exten", "s", "ChannelId", fmt.Sprint("rate-", i), "Async", "true")
	}
	c.until(func(m *ami.Message) bool {
		if m.Event() == "Hangup" {
			switch m.Get("Cause") {
			case "17":
				ok.Add(1)
			case "34":
				congested.Add(1)
			}
		}
		return ok.Load()+congested.Load() == 3
	})
	if ok.Load() != 1 || congested.Load() != 2 {
		t.Errorf("%d calls reached the far end, %d got 503; want 1 and 2", ok.Load(), congested.Load())
	}
}

// TestWithAMIClient drives a call with the project's AMI client: login
// with the engine's event classes, Originate, the list actions during the
// bridge, Hangup of the caller by name.
func TestWithAMIClient(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.002})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := ami.Dial(ctx, ami.Config{Addr: addr, Username: testUser, Secret: testSecret, AuthMD5: true, Events: "call,cdr,user"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer cl.Close()
	sub := cl.Subscribe(4096)
	defer sub.Close()
	const id = "22222222-2222-4222-8222-222222222222"
	resp, err := cl.Do(ctx, ami.NewMessage("Action", "Originate", "Channel", "PJSIP/13800001001@gateway", "Context", wcbproto.Context,
		"Exten", wcbproto.Exten, "Priority", wcbproto.Priority, "Timeout", "30000", "ChannelId", id, "Async", "true",
		"Variable", "WCB_ID="+id+",WCB_CALLEE=13800002002,WCB_LIMIT_MS=600000"))
	if err != nil || resp.Get("Message") != "Originate successfully queued" {
		t.Fatalf("originate: %v %v", resp, err)
	}
	next := func(match func(*ami.Message) bool) *ami.Message {
		for {
			select {
			case m := <-sub.C():
				if match(m) {
					return m
				}
			case <-ctx.Done():
				t.Fatal("timed out waiting for an event")
			}
		}
	}
	next(func(m *ami.Message) bool { return m.Get(wcbproto.HeaderStage) == wcbproto.StageConnected })

	list, err := cl.Do(ctx, ami.NewMessage("Action", "CoreShowChannels"))
	if err != nil || len(list.Items) != 2 || list.Complete.Get("ListItems") != "2" {
		t.Fatalf("CoreShowChannels: %v items, err %v", len(list.Items), err)
	}
	var caller string
	for _, it := range list.Items {
		if it.Get("BridgeId") == "" || it.Get("BridgeId") != list.Items[0].Get("BridgeId") {
			t.Errorf("channel %s not in the call's bridge: %q", it.Get("Channel"), it.Get("BridgeId"))
		}
		if it.Get("Uniqueid") == id {
			caller = it.Get("Channel")
			if it.Get("Application") != "Dial" {
				t.Errorf("caller leg in %q, want Dial", it.Get("Application"))
			}
		}
	}
	st, err := cl.Do(ctx, ami.NewMessage("Action", "Status", "Channel", caller, "Variables", "WCB_ID,NOPE"))
	if err != nil || len(st.Items) != 1 || st.Items[0].Get("Uniqueid") != id || st.Complete.Get("Items") != "1" {
		t.Fatalf("Status: %v, err %v", st, err)
	}
	if v := st.Items[0].Values("Variable"); !slices.Equal(v, []string{"WCB_ID=" + id, "NOPE="}) {
		t.Errorf("Status variables %q", v)
	}
	if _, err := cl.Do(ctx, ami.NewMessage("Action", "Hangup", "Channel", caller)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	h := next(func(m *ami.Message) bool { return m.Get(wcbproto.HeaderStage) == wcbproto.StageHangup })
	if h.Get(wcbproto.HeaderID) != id {
		t.Errorf("hangup stage for %q", h.Get(wcbproto.HeaderID))
	}
	cdr := next(func(m *ami.Message) bool { return m.Event() == "Cdr" })
	if cdr.Get("LastApplication") != "Dial" || cdr.Get("UserField") != "Hangupcause:16;wcb:"+id {
		t.Errorf("Cdr %v", cdr)
	}
	next(func(m *ami.Message) bool { return m.Event() == "Hangup" && m.Get("Uniqueid") == id })
	if list, err := cl.Do(ctx, ami.NewMessage("Action", "CoreShowChannels")); err != nil || len(list.Items) != 0 {
		t.Errorf("after hangup: %v channels, err %v", len(list.Items), err)
	}
}

// TestCalleeOverCapacity: room for one channel only: the caller's leg gets
// it, the callee's Dial gets 503 → CONGESTION 34 → SystemBusy.
func TestCalleeOverCapacity(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.002, MaxChannels: 1})
	c := dialRaw(t, addr)
	c.login("call,cdr,user")
	r := placeCall(t, c, "cap-1", "13800001001", "13800002002")
	ue := r.ue[wcbproto.StageDialEnd]
	if ue == nil || ue.Get(wcbproto.HeaderDialStatus) != "CONGESTION" || ue.Get(wcbproto.HeaderCause) != "34" {
		t.Errorf("dialend %v, want CONGESTION 34", ue)
	}
	if p := r.ue[wcbproto.StagePrompt]; p == nil || p.Get(wcbproto.HeaderPrompt) != "SystemBusy" {
		t.Errorf("prompt %v, want SystemBusy", p)
	}
}

// TestHangupRingingCaller: an AMI Hangup of the originate leg while it
// rings fails the Originate; the hangup by regex lists what it hung up.
func TestHangupRingingCaller(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.002})
	c := dialRaw(t, addr)
	c.login("call,cdr")
	c.send("Action", "Originate", "ActionID", "o", "Channel", "PJSIP/13822221001@gateway", "Context", "webcallback",
		"Exten", "s", "ChannelId", "ring-1", "Async", "true", "Timeout", "600000", "Variable", "WCB_ID=1")
	var name string
	c.until(func(m *ami.Message) bool {
		if m.Event() == "Newstate" {
			name = m.Get("Channel")
		}
		return m.Event() == "DialState"
	})
	c.send("Action", "Hangup", "ActionID", "h", "Channel", "/^PJSIP/gateway-/", "Cause", "16")
	msgs := c.until(func(m *ami.Message) bool { return m.Event() == "Cdr" })
	var list []string
	var orig *ami.Message
	for _, m := range msgs {
		switch m.Event() {
		case "ChannelHungup", "ChannelsHungupListComplete":
			list = append(list, m.Event()+" "+m.Get("Channel")+m.Get("ListItems"))
		case "OriginateResponse":
			orig = m
		}
	}
	if want := []string{"ChannelHungup " + name, "ChannelsHungupListComplete 1"}; !slices.Equal(list, want) {
		t.Errorf("hangup list %q, want %q", list, want)
	}
	if orig == nil || orig.Get("Response") != "Failure" || orig.Get("Reason") != "1" {
		t.Errorf("OriginateResponse %v, want Failure Reason 1", orig)
	}
	if cdr := msgs[len(msgs)-1]; cdr.Get("Disposition") != "NO ANSWER" || cdr.Get("LastApplication") != "AppDial2" {
		t.Errorf("Cdr %v", cdr)
	}
}

// TestSeedDeterminism: the same seed gives the same call, event for event
// (bridge ids and the OriginateResponse position included); another seed
// other ids.
func TestSeedDeterminism(t *testing.T) {
	run := func(seed int64) []string {
		_, addr := startServer(t, Config{TimeScale: 0.002, Seed: seed})
		c := dialRaw(t, addr)
		c.login("")
		r := placeCall(t, c, "seed-call", "13800001001", "13855550003")
		var out []string
		for _, m := range r.msgs {
			if e := m.Event(); e != "" && e != "FullyBooted" {
				v := m.Get("Value")
				if m.Get("Variable") == asterisk.ConnectedVar && v != "" {
					v = "<ms now>" // a wall-clock time stamp, like the CDR dates
				}
				out = append(out, e+" "+m.Get("BridgeUniqueid")+v+m.Get("Channel"))
			}
		}
		return out
	}
	a, b, other := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Errorf("seed 42 twice differs:\n%q\n%q", a, b)
	}
	if slices.Equal(a, other) {
		t.Error("seeds 42 and 43 gave identical bridge ids")
	}
}
