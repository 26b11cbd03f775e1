package sandbox

import (
	"slices"
	"strings"
	"testing"

	"webcallback/ami"
	"webcallback/deploy/asterisk"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

// walkDialplan follows steps (one extension, by priority) from index from,
// taking GotoIf by cond (the step's data in, the branch out) and Goto,
// until stop says so (the step excluded) or a Hangup/Return (included). It
// returns the applications run, as Newexten would show them.
func walkDialplan(t *testing.T, steps []asterisk.Step, from int, cond func(data string) bool, stop func(asterisk.Step) bool) []string {
	t.Helper()
	label := map[string]int{}
	for i, st := range steps {
		if st.Label != "" {
			label[st.Label] = i
		}
	}
	var apps []string
	for i := from; i < len(steps); i++ {
		st := steps[i]
		if stop(st) {
			return apps
		}
		apps = append(apps, st.App)
		target := ""
		switch st.App {
		case "Hangup", "Return":
			return apps
		case "Goto":
			target = st.Data
		case "GotoIf":
			c, dest, _ := strings.Cut(st.Data, "?")
			if cond(c) {
				target = dest
			}
		}
		if target != "" {
			j, ok := label[target]
			if !ok {
				t.Fatalf("line %d: jump to unknown label %q", st.Line, target)
			}
			i = j - 1
		}
		if len(apps) > 200 {
			t.Fatal("dialplan walk does not end")
		}
	}
	return apps
}

// consentCase is one call of the plan through the consent stages.
type consentCase struct {
	name, caller, callee string
	confirm, announce    bool
	stages               []string // the WebCallback stages, in order, up to hangup
}

var consentCases = []consentCase{
	{"confirmed", "13800001001", "13855552005", true, false,
		[]string{"answered", "confirming", "dialing", "connected", "dialend", "prompt", "hangup"}},
	{"never-presses", "13888881001", "13800002002", true, false,
		[]string{"answered", "confirming", "noconfirm", "prompt", "hangup"}},
	{"presses-9-as-caller", "13899991001", "13800002002", true, false,
		[]string{"answered", "confirming", "noconfirm", "prompt", "hangup"}},
	{"callee-accepts", "13800001001", "13855552005", true, true,
		[]string{"answered", "confirming", "dialing", "connected", "dialend", "prompt", "hangup"}},
	{"callee-opts-out", "13800001001", "13899992002", false, true,
		[]string{"answered", "dialing", "optout", "dialend", "prompt", "hangup"}},
	{"callee-no-key", "13800001001", "13888882002", false, true,
		[]string{"answered", "dialing", "dialend", "prompt", "hangup"}},
	{"no-consent-stages", "13888881001", "13899992002", false, false,
		[]string{"answered", "dialing", "connected", "dialend", "prompt", "hangup"}},
}

// runConsentCall places one call and returns every message up to the
// caller leg's Hangup.
func runConsentCall(t *testing.T, cc consentCase) []*ami.Message {
	t.Helper()
	_, addr := startServer(t, Config{TimeScale: 0.002, Seed: 5})
	c := dialRaw(t, addr)
	c.login("")
	c.read() // FullyBooted
	const id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	c.send("Action", "Originate", "ActionID", "o1", "Channel", "PJSIP/"+cc.caller+"@gateway",
		"Context", wcbproto.Context, "Exten", wcbproto.Exten, "Priority", wcbproto.Priority, "ChannelId", id,
		"Variable", wcbproto.VarID+"="+id, "Variable", wcbproto.VarCaller+"="+cc.caller,
		"Variable", wcbproto.VarCallee+"="+cc.callee, "Variable", wcbproto.VarLimitMS+"=20000",
		"Variable", wcbproto.VarConfirm+"="+flag(cc.confirm), "Variable", wcbproto.VarAnnounce+"="+flag(cc.announce),
		"Async", "true")
	return c.until(func(m *ami.Message) bool { return m.Event() == "Hangup" && m.Get("Uniqueid") == id })
}

// TestConsentMatchesDialplan is the consent stages' drift test: for every
// behaviour of the plan (press 1, 9, nothing; as caller and as callee) the
// sandbox runs exactly the applications the rendered dialplan runs on that
// path — the caller's question after Welcome in [webcallback], the callee's
// announcement in [webcallback-connected] — and sends the stages in the
// order Asterisk would; the dialplan asks for the keys the plan presses.
func TestConsentMatchesDialplan(t *testing.T) {
	d := renderedDialplan(t)
	main := d.Extension(wcbproto.Context, wcbproto.Exten)
	conn := d.Extension(connectedContext, "s")
	welcome := slices.IndexFunc(main, func(st asterisk.Step) bool {
		return st.App == "Playback" && st.Data == string(callback.PromptWelcome)
	})
	if welcome < 0 {
		t.Fatal("no Playback(Welcome) in the dialplan")
	}
	// The Read()s are the ones the sandbox simulates.
	for ctx, p := range map[string]callback.Prompt{wcbproto.Context: callback.PromptConfirmCall, connectedContext: callback.PromptCalleeChoice} {
		found := false
		for _, st := range d.Contexts[ctx] {
			found = found || st.App == "Read" && st.Data == readArgs(p)
		}
		if !found {
			t.Errorf("[%s] has no Read(%s), which the sandbox simulates", ctx, readArgs(p))
		}
	}
	for _, cc := range consentCases {
		t.Run(cc.name, func(t *testing.T) {
			callerKey, calleeKey := consentKey(cc.caller), consentKey(cc.callee)
			confirmed := !cc.confirm || callerKey == "1"
			cond := func(key string) func(string) bool {
				return func(c string) bool {
					switch {
					case strings.Contains(c, "${"+wcbproto.VarConfirm+"}"):
						return !cc.confirm
					case strings.Contains(c, "${FILTER(0-9,${ARG3})}"):
						return !cc.announce
					case strings.Contains(c, `${`+asterisk.KeyVar+`}" = "`):
						return strings.Contains(c, `= "`+key+`"`)
					case strings.Contains(c, `${WCB_PROMPT}" = ""`):
						return false
					}
					t.Fatalf("no oracle for GotoIf(%s)", c)
					return false
				}
			}
			msgs := runConsentCall(t, cc)
			var stages, callerApps, calleeApps, digits []string
			inSegment := false
			for _, m := range msgs {
				switch m.Event() {
				case "UserEvent":
					stages = append(stages, m.Get(wcbproto.HeaderStage))
				case "DTMFEnd":
					digits = append(digits, m.Get("Digit"))
				case "Newexten":
					app, data := m.Get("Application"), m.Get("AppData")
					if m.Get("Context") == connectedContext {
						calleeApps = append(calleeApps, app)
						continue
					}
					if m.Get("Uniqueid") != m.Get("Linkedid") || m.Get("Extension") != wcbproto.Exten {
						continue
					}
					if app == "Playback" && data == string(callback.PromptWelcome) {
						inSegment = true
						continue
					}
					if strings.Contains(data, "CALLERID(all)") || strings.Contains(data, "LIMIT_PLAYAUDIO_CALLER") {
						inSegment = false
					}
					if inSegment {
						callerApps = append(callerApps, app)
						if app == "Hangup" {
							inSegment = false
						}
					}
				}
			}
			var wantDigits []string
			if cc.confirm && callerKey != "" {
				wantDigits = append(wantDigits, callerKey)
			}
			if cc.announce && confirmed && calleeKey != "" && plan(cc.callee).Answer {
				wantDigits = append(wantDigits, calleeKey)
			}
			if !slices.Equal(digits, wantDigits) {
				t.Errorf("keys pressed %q, want %q", digits, wantDigits)
			}
			if !slices.Equal(stages, cc.stages) {
				t.Errorf("stages %q, want %q", stages, cc.stages)
			}
			want := walkDialplan(t, main, welcome+1, cond(callerKey), func(st asterisk.Step) bool { return st.Label == "confirmed" })
			if !slices.Equal(callerApps, want) {
				t.Errorf("caller after Welcome: sandbox %q, dialplan %q", callerApps, want)
			}
			if !confirmed {
				if len(calleeApps) > 0 {
					t.Errorf("the callee's subroutine ran without the caller's 1: %q", calleeApps)
				}
				return
			}
			if plan(cc.callee).Answer {
				want = walkDialplan(t, conn, 0, cond(calleeKey), func(asterisk.Step) bool { return false })
				if !slices.Equal(calleeApps, want) {
					t.Errorf("callee's U(): sandbox %q, dialplan %q", calleeApps, want)
				}
			}
		})
	}
}

// TestConsentNeverDialsUnconfirmed: without the caller's 1 the sandbox
// never creates the callee's channel (no DialBegin, no second Newchannel).
func TestConsentNeverDialsUnconfirmed(t *testing.T) {
	msgs := runConsentCall(t, consentCase{caller: "13888881001", callee: "13800002002", confirm: true})
	for _, m := range msgs {
		if m.Event() == "DialBegin" && m.Get("Uniqueid") != "" {
			t.Errorf("callee dialled: %s", digest(m))
		}
		if m.Event() == "Cdr" && !strings.Contains(m.Get("UserField"), wcbproto.UserfieldConsentPrefix+string(callback.ReasonCallerNoConfirm)) {
			t.Errorf("CDR userfield %q lacks the consent cause", m.Get("UserField"))
		}
	}
}
