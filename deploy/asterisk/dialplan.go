package asterisk

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Step is one priority of a dialplan extension: "exten => s,1,App(data)"
// or "same => n(label),App(data)".
type Step struct {
	Context, Exten string
	Priority       int
	Label          string
	App, Data      string
	Line           int
}

// Dialplan is extensions.conf read as Asterisk's pbx_config does: contexts
// → extensions → numbered priorities ("n" and "same" resolved).
type Dialplan struct {
	// Contexts lists every context's steps in file order.
	Contexts map[string][]Step
	// Order is the context names in file order.
	Order []string
	// Includes lists "include => other" per context.
	Includes map[string][]string
}

// ParseDialplan reads the dialplan of an extensions.conf parsed by ParseConf.
// [general] and [globals] are settings, not contexts. Hints are skipped.
func ParseDialplan(c *Conf) (*Dialplan, error) {
	d := &Dialplan{Contexts: map[string][]Step{}, Includes: map[string][]string{}}
	for _, sec := range c.Sections {
		if sec.Name == "general" || sec.Name == "globals" || sec.Name == "" {
			continue
		}
		if _, seen := d.Contexts[sec.Name]; !seen {
			d.Order = append(d.Order, sec.Name)
			d.Contexts[sec.Name] = nil
		}
		var last *Step // the previous step, for "same" and "n"
		for _, e := range sec.Entries {
			switch strings.ToLower(e.Key) {
			case "include":
				d.Includes[sec.Name] = append(d.Includes[sec.Name], e.Value)
				continue
			case "exten", "same":
			default:
				continue // switch =>, ignorepat =>, #include: not steps
			}
			st, err := parseStep(sec.Name, e, last)
			if err != nil {
				return nil, fmt.Errorf("extensions.conf line %d: %w", e.Line, err)
			}
			if st == nil {
				continue // hint
			}
			for _, old := range d.Contexts[sec.Name] {
				if old.Exten == st.Exten && old.Priority == st.Priority {
					return nil, fmt.Errorf("extensions.conf line %d: %s,%s,%d already defined at line %d", e.Line, sec.Name, st.Exten, st.Priority, old.Line)
				}
			}
			d.Contexts[sec.Name] = append(d.Contexts[sec.Name], *st)
			last = &d.Contexts[sec.Name][len(d.Contexts[sec.Name])-1]
		}
	}
	return d, nil
}

func parseStep(context string, e Entry, last *Step) (*Step, error) {
	st := &Step{Context: context, Line: e.Line}
	rest := e.Value
	if strings.EqualFold(e.Key, "same") {
		if last == nil {
			return nil, fmt.Errorf("'same =>' without an extension before it")
		}
		st.Exten = last.Exten
	} else {
		var ok bool
		st.Exten, rest, ok = strings.Cut(rest, ",")
		st.Exten = strings.TrimSpace(st.Exten)
		if !ok || st.Exten == "" {
			return nil, fmt.Errorf("%q: want exten,priority,App(data)", clip(e.Value))
		}
	}
	prio, app, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("%q: want priority,App(data)", clip(e.Value))
	}
	prio = strings.TrimSpace(prio)
	if p, label, ok := strings.Cut(prio, "("); ok {
		if !strings.HasSuffix(label, ")") || label == ")" {
			return nil, fmt.Errorf("priority %q: bad label", clip(prio))
		}
		prio, st.Label = p, strings.TrimSuffix(label, ")")
	}
	switch {
	case prio == "hint":
		return nil, nil
	case prio == "n":
		if last == nil || last.Exten != st.Exten {
			return nil, fmt.Errorf("priority n of %s has no priority before it", st.Exten)
		}
		st.Priority = last.Priority + 1
	case prio == "s" && last != nil && last.Exten == st.Exten:
		st.Priority = last.Priority // "same priority" (for a different CID match)
	default:
		n, err := strconv.Atoi(prio)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("priority %q: want a number >= 1, n or hint", clip(prio))
		}
		st.Priority = n
	}
	app = strings.TrimSpace(app)
	if name, data, ok := strings.Cut(app, "("); ok {
		if !strings.HasSuffix(data, ")") {
			return nil, fmt.Errorf("application %q: no closing ')'", clip(app))
		}
		st.App, st.Data = strings.TrimSpace(name), strings.TrimSuffix(data, ")")
	} else {
		st.App = app // "Hangup" alone, or the old "App,data" form
		if name, data, ok := strings.Cut(app, ","); ok {
			st.App, st.Data = name, data
		}
	}
	if st.App == "" {
		return nil, fmt.Errorf("%q: no application", clip(e.Value))
	}
	return st, nil
}

// Extension returns the steps of exten in context, by priority: the exact
// extension if there is one, else the most specific matching pattern
// ("_X.", "_1[3-9]XXXXXXXXX", ...), as Asterisk picks it.
func (d *Dialplan) Extension(context, exten string) []Step {
	var best string
	found := false
	for _, st := range d.Contexts[context] {
		if st.Exten == exten {
			best, found = exten, true
			break
		}
		if MatchExten(st.Exten, exten) && (!found || patternLess(st.Exten, best)) {
			best, found = st.Exten, true
		}
	}
	if !found {
		return nil
	}
	var steps []Step
	for _, st := range d.Contexts[context] {
		if st.Exten == best {
			steps = append(steps, st)
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Priority < steps[j].Priority })
	return steps
}

// Label returns the step of context/exten labelled label.
func (d *Dialplan) Label(context, exten, label string) (Step, bool) {
	for _, st := range d.Extension(context, exten) {
		if st.Label == label {
			return st, true
		}
	}
	return Step{}, false
}

// MatchExten reports whether exten matches an extension name: literally, or
// as an Asterisk pattern ("_" then X=[0-9], Z=[1-9], N=[2-9], [...] sets,
// '.' one or more characters, '!' zero or more).
func MatchExten(name, exten string) bool {
	if !strings.HasPrefix(name, "_") {
		return name == exten
	}
	p := name[1:]
	for len(p) > 0 {
		switch c := p[0]; c {
		case '.':
			return len(exten) > 0
		case '!':
			return true
		}
		set, n := patternClass(p)
		if n == 0 || len(exten) == 0 || !strings.ContainsRune(set, rune(exten[0])) {
			return false
		}
		p, exten = p[n:], exten[1:]
	}
	return exten == ""
}

// patternClass returns the characters the first element of a pattern
// matches and the element's length.
func patternClass(p string) (set string, n int) {
	switch p[0] {
	case 'X', 'x':
		return "0123456789", 1
	case 'Z', 'z':
		return "123456789", 1
	case 'N', 'n':
		return "23456789", 1
	case '[':
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return "", 0
		}
		var b strings.Builder
		body := p[1:end]
		for i := 0; i < len(body); i++ {
			if i+2 < len(body) && body[i+1] == '-' {
				for c := body[i]; c <= body[i+2] && c >= body[i]; c++ {
					b.WriteByte(c)
					if c == 255 {
						break
					}
				}
				i += 2
				continue
			}
			b.WriteByte(body[i])
		}
		return b.String(), end + 1
	}
	return p[:1], 1
}

// patternLess reports whether pattern a is more specific than b: position
// by position the one whose element matches fewer characters wins, and a
// trailing '.' or '!' loses to anything.
func patternLess(a, b string) bool {
	a, b = strings.TrimPrefix(a, "_"), strings.TrimPrefix(b, "_")
	for a != "" && b != "" {
		wa, wb := elementWidth(a), elementWidth(b)
		if wa != wb {
			return wa < wb
		}
		_, na := patternClass(a)
		_, nb := patternClass(b)
		if na == 0 || nb == 0 {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return a != "" && b == ""
}

func elementWidth(p string) int {
	switch p[0] {
	case '.', '!':
		return 1000
	}
	set, _ := patternClass(p)
	return len(set)
}

// SplitArgs splits application data at top-level commas, as Asterisk's
// argument parser does: commas inside (), ${} or $[] do not split.
func SplitArgs(data string) []string {
	var args []string
	depth, start := 0, 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				args = append(args, data[start:i])
				start = i + 1
			}
		}
	}
	return append(args, data[start:])
}

// UserEvent is one UserEvent(name,Header: value,...) step.
type UserEvent struct {
	Step
	Name    string
	Headers map[string]string // header → value as written (with ${...})
	Keys    []string          // header names in written order
}

// UserEvents returns every UserEvent application in the dialplan, in file
// order of contexts. A malformed header (no ':') is an error.
func (d *Dialplan) UserEvents() ([]UserEvent, error) {
	var evs []UserEvent
	for _, ctx := range d.Order {
		for _, st := range d.Contexts[ctx] {
			if !strings.EqualFold(st.App, "UserEvent") {
				continue
			}
			args := SplitArgs(st.Data)
			ev := UserEvent{Step: st, Name: strings.TrimSpace(args[0]), Headers: map[string]string{}}
			for _, a := range args[1:] {
				k, v, ok := strings.Cut(a, ":")
				if !ok {
					return nil, fmt.Errorf("extensions.conf line %d: UserEvent header %q has no ':'", st.Line, clip(a))
				}
				k = strings.TrimSpace(k)
				ev.Headers[k] = strings.TrimSpace(v)
				ev.Keys = append(ev.Keys, k)
			}
			evs = append(evs, ev)
		}
	}
	return evs, nil
}
