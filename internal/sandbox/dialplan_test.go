package sandbox

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"webcallback/ami"
	"webcallback/deploy/asterisk"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

// renderedDialplan parses the extensions.conf deploy/asterisk renders with
// its default settings: the dialplan a real Asterisk runs.
func renderedDialplan(t *testing.T) *asterisk.Dialplan {
	t.Helper()
	s := asterisk.DefaultSettings()
	s.AMISecret = "test-secret-123"
	files, err := asterisk.Render(s)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	conf, err := asterisk.ParseConf(files["extensions.conf"])
	if err != nil {
		t.Fatalf("parse extensions.conf: %v", err)
	}
	d, err := asterisk.ParseDialplan(conf)
	if err != nil {
		t.Fatalf("parse dialplan: %v", err)
	}
	return d
}

// TestUserEventsMatchDialplan: the sandbox sends exactly the UserEvents the
// real dialplan sends: same name, stages, headers, and the stage's context.
func TestUserEventsMatchDialplan(t *testing.T) {
	d := renderedDialplan(t)
	evs, err := d.UserEvents()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Name != wcbproto.UserEvent {
			t.Errorf("line %d: UserEvent %q, want %q", ev.Line, ev.Name, wcbproto.UserEvent)
			continue
		}
		stage := ev.Headers[wcbproto.HeaderStage]
		want, ok := userEventHeaders[stage]
		if !ok {
			t.Errorf("line %d: dialplan sends stage %q the sandbox never sends", ev.Line, stage)
			continue
		}
		seen[stage] = true
		if len(ev.Keys) < 2 || ev.Keys[0] != wcbproto.HeaderID || ev.Keys[1] != wcbproto.HeaderStage {
			t.Errorf("line %d: headers %q must start with %s, %s", ev.Line, ev.Keys, wcbproto.HeaderID, wcbproto.HeaderStage)
			continue
		}
		if !slices.Equal(ev.Keys[2:], want) {
			t.Errorf("stage %s: dialplan headers %q, sandbox %q", stage, ev.Keys[2:], want)
		}
		wantCtx, wantExten := wcbproto.Context, wcbproto.Exten
		switch stage {
		case wcbproto.StageConnected, wcbproto.StageOptOut:
			wantCtx = connectedContext
		case wcbproto.StageHangup:
			wantExten = "h"
		}
		if ev.Context != wantCtx || ev.Exten != wantExten {
			t.Errorf("stage %s runs in %s,%s in the dialplan, %s,%s in the sandbox", stage, ev.Context, ev.Exten, wantCtx, wantExten)
		}
	}
	for stage := range userEventHeaders {
		if !seen[stage] {
			t.Errorf("sandbox sends stage %q the dialplan never sends", stage)
		}
	}
	for _, stage := range wcbproto.Stages {
		if _, ok := userEventHeaders[stage]; !ok {
			t.Errorf("wcbproto stage %q missing from the sandbox", stage)
		}
	}
}

var wcbRef = regexp.MustCompile(`\$\{(WCB_[A-Z_]+)\}`)

// TestVariablesMatchDialplan: the sandbox reads the WCB_* variables the
// dialplan reads, and falls back to the same defaults.
func TestVariablesMatchDialplan(t *testing.T) {
	d := renderedDialplan(t)
	steps := d.Contexts[wcbproto.Context]
	if len(steps) == 0 {
		t.Fatalf("no [%s] context in the rendered dialplan", wcbproto.Context)
	}
	if _, ok := d.Contexts[connectedContext]; !ok {
		t.Errorf("the sandbox's U() context [%s] is not in the dialplan", connectedContext)
	}
	reads := map[string]bool{}
	for _, st := range steps {
		for _, m := range wcbRef.FindAllStringSubmatch(st.Data, -1) {
			if slices.Contains(wcbproto.Vars, m[1]) {
				reads[m[1]] = true
			}
		}
	}
	var got, want []string
	for v := range reads {
		got = append(got, v)
	}
	want = append(want, dialplanVars...)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("dialplan reads %q, sandbox reads %q", got, want)
	}

	// ExecIf($["${WCB_X}" = ""]?Set(WCB_X=<default>))
	fallback := regexp.MustCompile(`^\$\["\$\{(WCB_[A-Z_]+)\}" = ""\]\?Set\((WCB_[A-Z_]+)=([0-9a-z]+)\)$`)
	defaults := map[string]string{
		wcbproto.VarLimitMS:    strconv.Itoa(defaultLimitMS),
		wcbproto.VarWarnMS:     strconv.Itoa(defaultWarnMS),
		wcbproto.VarRingS:      strconv.Itoa(defaultRingS),
		wcbproto.VarWarnCallee: "yes",
	}
	found := map[string]bool{}
	for _, st := range steps {
		m := fallback.FindStringSubmatch(st.Data)
		if st.App != "ExecIf" || m == nil || m[1] != m[2] || !slices.Contains(wcbproto.Vars, m[1]) {
			continue
		}
		found[m[1]] = true
		if want, ok := defaults[m[1]]; !ok {
			t.Errorf("dialplan has a fallback for %s the sandbox lacks", m[1])
		} else if m[3] != want {
			t.Errorf("fallback %s: dialplan %s, sandbox %s", m[1], m[3], want)
		}
	}
	for v := range defaults {
		if !found[v] {
			t.Errorf("sandbox falls back for %s, the dialplan does not", v)
		}
	}
}

// TestLimitRuleMatchesDialplan: the sandbox decides TimeoutHangup as the
// dialplan does (talk time >= limit - limitSlackMS, the talk time measured
// from the U() stamp, not ANSWEREDTIME_MS), and simulates the steps that
// measure it with the dialplan's names. If the dialplan changes the rule
// or the names, this fails until the sandbox follows.
func TestLimitRuleMatchesDialplan(t *testing.T) {
	d := renderedDialplan(t)
	talk := "${" + asterisk.TalkVar + "}"
	found := false
	for _, st := range d.Contexts[wcbproto.Context] {
		if !strings.Contains(st.Data, "Set(WCB_PROMPT="+string(callback.PromptTimeoutHangup)+")") {
			continue
		}
		found = true
		want := "$[" + talk + " >= $[${" + wcbproto.VarLimitMS + "} - " + strconv.Itoa(limitSlackMS) + "]]?"
		if st.App != "ExecIf" || !strings.HasPrefix(st.Data, want) {
			t.Errorf("line %d: the TimeoutHangup rule changed: %s(%s), the sandbox does %s...", st.Line, st.App, st.Data, want)
		}
	}
	if !found {
		t.Error("no TimeoutHangup rule in the dialplan")
	}
	// The talk time: now minus the stamp U() put on the caller's channel.
	stamp := "MASTER_CHANNEL(" + asterisk.ConnectedVar + ")=" + asterisk.NowMS
	if acc, ok := d.Label(connectedContext, "s", "accepted"); !ok || acc.App != "Set" || acc.Data != stamp {
		t.Errorf("[%s] accepted is %+v; the sandbox simulates Set(%s) there", connectedContext, acc, stamp)
	}
	compute := asterisk.TalkVar + "=$[" + asterisk.NowMS + " - ${" + asterisk.ConnectedVar + "}]"
	found = false
	for _, st := range d.Contexts[wcbproto.Context] {
		found = found || st.App == "Set" && st.Data == compute
	}
	if !found {
		t.Errorf("no Set(%s) in [%s]: the sandbox's talk time is the U() stamp to Dial's return", compute, wcbproto.Context)
	}
}

// TestTalkTimeAtScale: at a small time scale, the dialend UserEvent's
// TalkMs is the talk time in simulated ms (exact: the callee's BYE after
// 10 s, the limit), its AnsweredMs is larger (the caller's answer, Welcome
// and ringing included), the VarSet of the U() stamp lands on the caller's
// channel, and the prompt follows the talk time.
func TestTalkTimeAtScale(t *testing.T) {
	for _, tt := range []struct {
		callee  string
		limitMS int
		talkMS  int
		prompt  callback.Prompt
	}{
		// 10 s talk under a 14 s limit: ANSWEREDTIME_MS (about 14.5 s)
		// would have said TimeoutHangup.
		{"13855552010", 14000, 10000, callback.PromptPartnerHangup},
		{"13800002002", 14000, 14000, callback.PromptTimeoutHangup},
	} {
		t.Run(tt.callee, func(t *testing.T) {
			_, addr := startServer(t, Config{TimeScale: 0.002, Seed: 3})
			c := dialRaw(t, addr)
			c.login("")
			c.read() // FullyBooted
			const id = "0b6e4a1c-2d3f-4a5b-8c7d-9e0f1a2b3c4d"
			c.send("Action", "Originate", "ActionID", "o1", "Channel", "PJSIP/13800001001@gateway",
				"Context", wcbproto.Context, "Exten", wcbproto.Exten, "Priority", wcbproto.Priority, "ChannelId", id,
				"Variable", wcbproto.VarID+"="+id+","+wcbproto.VarCallee+"="+tt.callee+","+
					wcbproto.VarLimitMS+"="+strconv.Itoa(tt.limitMS)+","+wcbproto.VarWarnMS+"=5000",
				"Async", "true")
			msgs := c.until(func(m *ami.Message) bool { return m.Event() == "Hangup" && m.Get("Uniqueid") == id })
			var stamp, talk, answered, prompt string
			for _, m := range msgs {
				switch {
				case m.Event() == "VarSet" && m.Get("Variable") == asterisk.ConnectedVar && m.Get("Value") != "":
					if m.Get("Uniqueid") != id {
						t.Errorf("%s set on %s, want the caller's channel", asterisk.ConnectedVar, m.Get("Channel"))
					}
					stamp = m.Get("Value")
				case m.Event() == "UserEvent" && m.Get(wcbproto.HeaderStage) == wcbproto.StageDialEnd:
					talk, answered = m.Get(wcbproto.HeaderTalkMS), m.Get(wcbproto.HeaderAnsweredMS)
				case m.Event() == "UserEvent" && m.Get(wcbproto.HeaderStage) == wcbproto.StagePrompt:
					prompt = m.Get(wcbproto.HeaderPrompt)
				}
			}
			if ms, err := strconv.ParseInt(stamp, 10, 64); err != nil || ms < 1e12 {
				t.Errorf("%s = %q, want ms since the epoch", asterisk.ConnectedVar, stamp)
			}
			if talk != strconv.Itoa(tt.talkMS) {
				t.Errorf("TalkMs %q, want %d", talk, tt.talkMS)
			}
			if a, _ := strconv.Atoi(answered); a <= tt.talkMS {
				t.Errorf("AnsweredMs %q, want more than the talk time %d (counts from the caller's answer)", answered, tt.talkMS)
			}
			if prompt != string(tt.prompt) {
				t.Errorf("prompt %q, want %s", prompt, tt.prompt)
			}
		})
	}
}
