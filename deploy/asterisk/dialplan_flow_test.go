package asterisk

import (
	"regexp"
	"slices"
	"strings"
	"testing"

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
// one of Prompts() (shipped in deploy/sounds) or Asterisk's built-in
// "timeleft" announcement.
func TestDialplanPlaysOnlyShippedPrompts(t *testing.T) {
	d := mustDialplan(t, ipSettings())
	ok := func(name string) bool { return name == "" || name == "timeleft" || slices.Contains(Prompts(), name) }
	setPrompt := regexp.MustCompile(`^WCB_PROMPT=([A-Za-z0-9]*)\)?$`)
	for _, ctx := range d.Order {
		for _, st := range d.Contexts[ctx] {
			var name string
			switch {
			case st.App == "Playback" && !strings.Contains(st.Data, "$"):
				name = st.Data
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
