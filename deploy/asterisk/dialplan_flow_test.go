package asterisk

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"webcallback/internal/wcbproto"
)

// TestDialplanJumpsLand: every Goto/GotoIf label exists in its extension,
// every Gosub and Dial U() names a context the file defines, and every
// subroutine returns.
func TestDialplanJumpsLand(t *testing.T) {
	d := mustDialplan(t, ipSettings())
	for _, ctx := range d.Order {
		for _, st := range d.Contexts[ctx] {
			var targets []string
			switch st.App {
			case "Goto":
				targets = []string{st.Data}
			case "GotoIf":
				_, branches, ok := strings.Cut(st.Data, "?")
				if !ok {
					t.Errorf("line %d: GotoIf(%s) without '?'", st.Line, st.Data)
					continue
				}
				targets = strings.Split(branches, ":")
			case "Gosub":
				sub := SplitArgs(st.Data)[0]
				if !strings.Contains(sub, "$") {
					if _, ok := d.Contexts[sub]; !ok {
						t.Errorf("line %d: Gosub to missing context %s", st.Line, sub)
					}
				}
			case "Dial":
				for _, m := range regexp.MustCompile(`U\(([^^)]+)`).FindAllStringSubmatch(st.Data, -1) {
					if steps := d.Extension(m[1], "s"); len(steps) == 0 {
						t.Errorf("line %d: Dial U() to missing %s,s", st.Line, m[1])
					}
				}
			}
			for _, target := range targets {
				if target == "" || strings.Contains(target, ",") {
					continue // empty branch, or context,exten,priority
				}
				if _, ok := d.Label(ctx, st.Exten, target); !ok {
					t.Errorf("line %d: jump to label %q, not in %s,%s", st.Line, target, ctx, st.Exten)
				}
			}
		}
	}
	for _, ctx := range d.Order {
		if ctx == wcbproto.Context || ctx == "webcallback-inbound" {
			continue
		}
		for _, st := range d.Contexts[ctx] {
			last := d.Extension(ctx, st.Exten)
			if app := last[len(last)-1].App; app != "Return" {
				t.Errorf("subroutine %s,%s ends with %s, not Return", ctx, st.Exten, app)
			}
		}
	}
}

// TestDialplanPlaysOnlyShippedPrompts: every sound the dialplan can play is
// one of Prompts() (shipped in deploy/sounds) or the configured warning's
// (composed by asterisk-config --install); never Asterisk's "timeleft".
// (SayDigits, the callee's announcement of the caller's number, still uses
// the core sounds' digits.)
func TestDialplanPlaysOnlyShippedPrompts(t *testing.T) {
	s := ipSettings()
	s.CallWarning = 7 * time.Second
	d := mustDialplan(t, s)
	ok := func(name string) bool {
		return name == "" || name == WarningPrompt(7) || slices.Contains(Prompts(), name)
	}
	setPrompt := regexp.MustCompile(`^WCB_PROMPT=([A-Za-z0-9]*)\)?$`)
	for _, ctx := range d.Order {
		for _, st := range d.Contexts[ctx] {
			var name string
			switch {
			case st.App == "Playback" && !strings.Contains(st.Data, "$"):
				name = st.Data
			case st.App == "Read": // Read(var,prompt,...): the consent questions
				if args := SplitArgs(st.Data); len(args) > 1 {
					name = args[1]
				}
			case st.App == "Return" && ctx != "webcallback-connected":
				name = st.Data
			case st.App == "Set" && setPrompt.MatchString(st.Data):
				name = setPrompt.FindStringSubmatch(st.Data)[1]
			case st.App == "ExecIf" && strings.Contains(st.Data, "Set(WCB_PROMPT="):
				_, after, _ := strings.Cut(st.Data, "Set(WCB_PROMPT=")
				name, _, _ = strings.Cut(after, ")")
			default:
				continue
			}
			if !ok(name) {
				t.Errorf("line %d: %s(%s) plays %q, which deploy/sounds does not ship", st.Line, st.App, st.Data, name)
			}
		}
	}
}

// TestTalkTimeFromCalleeAnswer: the talk time that decides TimeoutHangup
// and goes out as TalkMs is measured from the callee's answer, not taken
// from ANSWEREDTIME_MS (on Asterisk 22 that counts from the caller's
// answer: Welcome and ringing included).
func TestTalkTimeFromCalleeAnswer(t *testing.T) {
	d := mustDialplan(t, ipSettings())
	ref := "${" + ConnectedVar + "}"
	talk := "${" + TalkVar + "}"
	if !strings.Contains(NowMS, "STRFTIME(,") {
		t.Errorf("NowMS %s: STRFTIME needs an empty epoch (the clock with microseconds); ${EPOCH} makes %%3q read 000", NowMS)
	}

	// U() stamps the answer on the caller's channel at its "accepted"
	// label: after the callee's announcement (confirmation time is not talk
	// time), first thing after it.
	acc, ok := d.Label("webcallback-connected", "s", "accepted")
	if !ok || acc.App != "Set" || acc.Data != "MASTER_CHANNEL("+ConnectedVar+")="+NowMS {
		t.Errorf("[webcallback-connected] accepted = %+v, want Set(MASTER_CHANNEL(%s)=%s)", acc, ConnectedVar, NowMS)
	}
	for _, st := range d.Extension("webcallback-connected", "s") {
		if st.Priority < acc.Priority && strings.Contains(st.Data, ConnectedVar) {
			t.Errorf("line %d: %s touched before the announcement is accepted", st.Line, ConnectedVar)
		}
	}

	// In [webcallback]: the stamp is cleared before Dial; after Dial (and on
	// the jump to dialend without one) the talk time is computed before the
	// dialend UserEvent; the TimeoutHangup rule reads it.
	steps := d.Extension(wcbproto.Context, wcbproto.Exten)
	at := func(match func(Step) bool) int {
		for i, st := range steps {
			if match(st) {
				return i
			}
		}
		return -1
	}
	dial := at(func(st Step) bool { return st.App == "Dial" })
	reset := at(func(st Step) bool { return st.App == "Set" && st.Data == ConnectedVar+"=" })
	dialend := at(func(st Step) bool { return st.Label == "dialend" })
	zero := at(func(st Step) bool { return st.App == "Set" && st.Data == TalkVar+"=0" })
	compute := at(func(st Step) bool {
		return st.App == "Set" && st.Data == TalkVar+"=$["+NowMS+" - "+ref+"]"
	})
	skip := at(func(st Step) bool { return st.App == "GotoIf" && strings.Contains(st.Data, `"`+ref+`" = ""`) })
	event := at(func(st Step) bool {
		return st.App == "UserEvent" && strings.Contains(st.Data, wcbproto.HeaderStage+": "+wcbproto.StageDialEnd)
	})
	rule := at(func(st Step) bool { return strings.Contains(st.Data, "Set(WCB_PROMPT=TimeoutHangup)") })
	for name, i := range map[string]int{"Dial": dial, "clear": reset, "dialend": dialend, "talk=0": zero,
		"talk=now-connected": compute, "skip when never connected": skip, "dialend event": event, "rule": rule} {
		if i < 0 {
			t.Fatalf("no %s step in [%s]", name, wcbproto.Context)
		}
	}
	if !(reset < dial && dial < dialend && dialend <= zero && zero < skip && skip < compute && compute < event && event < rule) {
		t.Errorf("order: clear %d, Dial %d, dialend %d, talk=0 %d, skip %d, compute %d, event %d, rule %d",
			reset, dial, dialend, zero, skip, compute, event, rule)
	}
	evs, err := d.UserEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Headers[wcbproto.HeaderStage] == wcbproto.StageDialEnd && ev.Headers[wcbproto.HeaderTalkMS] != talk {
			t.Errorf("line %d: %s: %q, want %s", ev.Line, wcbproto.HeaderTalkMS, ev.Headers[wcbproto.HeaderTalkMS], talk)
		}
	}
	if data := steps[rule].Data; !strings.HasPrefix(data, "$["+talk+" >= $[${"+wcbproto.VarLimitMS+"} - 1000]]?") ||
		strings.Contains(data, "ANSWEREDTIME") {
		t.Errorf("TimeoutHangup rule %s: want the talk time against the limit less 1000 ms", data)
	}
}
