package sandbox

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

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
		case wcbproto.StageConnected:
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
// dialplan does (ANSWEREDTIME_MS >= limit - 1000). If the dialplan changes
// the rule, this fails until the sandbox follows.
func TestLimitRuleMatchesDialplan(t *testing.T) {
	d := renderedDialplan(t)
	found := false
	for _, st := range d.Contexts[wcbproto.Context] {
		if !strings.Contains(st.Data, "Set(WCB_PROMPT="+string(callback.PromptTimeoutHangup)+")") {
			continue
		}
		found = true
		if !strings.Contains(st.Data, "${ANSWEREDTIME_MS}") || !strings.Contains(st.Data, "- 1000]") {
			t.Errorf("line %d: the TimeoutHangup rule changed: %s", st.Line, st.Data)
		}
	}
	if !found {
		t.Error("no TimeoutHangup rule in the dialplan")
	}
}
