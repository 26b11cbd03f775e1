package asterisk

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseConf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []*Section
	}{
		{
			name: "key = value and comments",
			in:   "; top comment\n[general]\nenabled = yes ; trailing\n  port=5038\n\n",
			want: []*Section{{Name: "general", Line: 2, Entries: []Entry{
				{Key: "enabled", Value: "yes", Line: 3}, {Key: "port", Value: "5038", Line: 4}}}},
		},
		{
			name: "arrow and same",
			in:   "[ctx]\nexten => s,1,NoOp(a)\n same => n,Hangup()\ninclude => other\n",
			want: []*Section{{Name: "ctx", Line: 1, Entries: []Entry{
				{Key: "exten", Value: "s,1,NoOp(a)", Arrow: true, Line: 2},
				{Key: "same", Value: "n,Hangup()", Arrow: true, Line: 3},
				{Key: "include", Value: "other", Arrow: true, Line: 4}}}},
		},
		{
			name: "escaped semicolon is a literal",
			in:   "[c]\nexten => s,1,Set(CDR(userfield)=a:1\\;wcb:x) ; comment\n",
			want: []*Section{{Name: "c", Line: 1, Entries: []Entry{
				{Key: "exten", Value: "s,1,Set(CDR(userfield)=a:1;wcb:x)", Arrow: true, Line: 2}}}},
		},
		{
			name: "templates",
			in:   "[tmpl](!)\ntype=endpoint\n[gw](tmpl, other)\naors=gw\n[gw](+)\nallow=alaw\n[t2](!,tmpl)\n",
			want: []*Section{
				{Name: "tmpl", Template: true, Line: 1, Entries: []Entry{{Key: "type", Value: "endpoint", Line: 2}}},
				{Name: "gw", Inherits: []string{"tmpl", "other"}, Line: 3, Entries: []Entry{{Key: "aors", Value: "gw", Line: 4}}},
				{Name: "gw", Append: true, Line: 5, Entries: []Entry{{Key: "allow", Value: "alaw", Line: 6}}},
				{Name: "t2", Template: true, Inherits: []string{"tmpl"}, Line: 7},
			},
		},
		{
			name: "block comment over lines",
			in:   "[a]\nx = 1 ;-- start\ny = 2\nend --; z = 3\nw = 4\n",
			want: []*Section{{Name: "a", Line: 1, Entries: []Entry{
				{Key: "x", Value: "1", Line: 2}, {Key: "z", Value: "3", Line: 4}, {Key: "w", Value: "4", Line: 5}}}},
		},
		{
			name: "include directive before any section",
			in:   "#include \"extra.conf\"\n[a]\n#include other.conf\nk=v\n",
			want: []*Section{
				{Line: 1, Entries: []Entry{{Key: "#include", Value: "extra.conf", Line: 1}}},
				{Name: "a", Line: 2, Entries: []Entry{{Key: "#include", Value: "other.conf", Line: 3}, {Key: "k", Value: "v", Line: 4}}},
			},
		},
		{
			name: "CRLF and empty value",
			in:   "[a]\r\nsecret =\r\nk = v\r\n",
			want: []*Section{{Name: "a", Line: 1, Entries: []Entry{{Key: "secret", Line: 2}, {Key: "k", Value: "v", Line: 3}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConf([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseConf: %v", err)
			}
			if !reflect.DeepEqual(c.Sections, tt.want) {
				for i, s := range c.Sections {
					t.Logf("got[%d] = %+v", i, *s)
				}
				t.Fatalf("sections differ from want")
			}
		})
	}
}

func TestParseConfErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"entry before section", "k = v\n", "outside of any [section]"},
		{"no bracket", "[abc\n", "no ']'"},
		{"empty name", "[]\n", "empty section name"},
		{"junk after header", "[a] junk\n", "want (options)"},
		{"empty option", "[a](!,)\n", "empty option"},
		{"no equals", "[a]\njust words\n", "neither [section] nor key = value"},
		{"no key", "[a]\n= v\n", "no key"},
		{"unclosed block", "[a]\n;-- open\n", "not closed"},
		{"unknown directive", "#frobnicate x\n", "unknown directive"},
		{"include without file", "#include\n", "needs a file name"},
		{"NUL", "[a]\nk = v\x00\n", "NUL"},
		{"long line", "[a]\nk = " + strings.Repeat("x", MaxConfLine) + "\n", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConf([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			var ce *ConfError
			if !errors.As(err, &ce) || ce.Line < 1 {
				t.Fatalf("err = %#v, want a *ConfError with a line", err)
			}
		})
	}
	if _, err := ParseConf(make([]byte, MaxConfSize+1)); err == nil {
		t.Fatal("oversized input accepted")
	}
}

func TestParseDialplan(t *testing.T) {
	in := `[general]
static = yes
[ctx]
exten => s,1,NoOp(start)
 same => n(loop),GotoIf($[${X} > 1]?loop)
 same => n,Hangup
exten => _1X.,1,Dial(PJSIP/${EXTEN}@gw,30)
exten => _1XX,1,NoOp(more specific)
exten => 123,1,NoOp(exact)
exten => 100,hint,PJSIP/100
include => other
[other]
exten => h,1,UserEvent(Ev,A: ${IF($[1]?a:b)},B: x)
`
	c, err := ParseConf([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDialplan(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Order; !reflect.DeepEqual(got, []string{"ctx", "other"}) {
		t.Fatalf("Order = %v", got)
	}
	s := d.Extension("ctx", "s")
	if len(s) != 3 || s[1].Priority != 2 || s[1].Label != "loop" || s[1].App != "GotoIf" || s[2].App != "Hangup" {
		t.Fatalf("s steps = %+v", s)
	}
	for exten, want := range map[string]string{"123": "exact", "155": "more specific", "1555": "PJSIP/${EXTEN}@gw,30", "2": ""} {
		steps := d.Extension("ctx", exten)
		got := ""
		if len(steps) > 0 {
			got = steps[0].Data
		}
		if got != want {
			t.Errorf("Extension(ctx, %s) data = %q, want %q", exten, got, want)
		}
	}
	if st, ok := d.Label("ctx", "s", "loop"); !ok || st.Priority != 2 {
		t.Errorf("Label loop = %+v, %v", st, ok)
	}
	if got := d.Includes["ctx"]; !reflect.DeepEqual(got, []string{"other"}) {
		t.Errorf("Includes = %v", got)
	}
	evs, err := d.UserEvents()
	if err != nil || len(evs) != 1 {
		t.Fatalf("UserEvents = %v, %v", evs, err)
	}
	if evs[0].Name != "Ev" || evs[0].Headers["A"] != "${IF($[1]?a:b)}" || evs[0].Headers["B"] != "x" {
		t.Fatalf("UserEvent = %+v", evs[0])
	}
}

func TestParseDialplanErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"same first", "[c]\nsame => n,NoOp()\n", "without an extension"},
		{"n first", "[c]\nexten => s,n,NoOp()\n", "no priority before"},
		{"bad priority", "[c]\nexten => s,x,NoOp()\n", "want a number"},
		{"duplicate", "[c]\nexten => s,1,NoOp()\nexten => s,1,NoOp()\n", "already defined"},
		{"no app", "[c]\nexten => s,1,\n", "no application"},
		{"unclosed app", "[c]\nexten => s,1,NoOp(x\n", "no closing"},
		{"no priority", "[c]\nexten => s\n", "want exten,priority"},
		{"bad label", "[c]\nexten => s,1(x,NoOp()\n", "bad label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConf([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseDialplan(c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMatchExten(t *testing.T) {
	tests := []struct {
		pattern, exten string
		want           bool
	}{
		{"s", "s", true},
		{"s", "t", false},
		{"_X", "5", true},
		{"_X", "55", false},
		{"_X.", "5", false},
		{"_X.", "55", true},
		{"_X!", "5", true},
		{"_NXX", "200", true},
		{"_NXX", "100", false},
		{"_Z", "0", false},
		{"_1[3-9]X", "135", true},
		{"_1[3-9]X", "125", false},
		{"_[abc]", "b", true},
		{"_[", "x", false},
		{"_X", "", false},
	}
	for _, tt := range tests {
		if got := MatchExten(tt.pattern, tt.exten); got != tt.want {
			t.Errorf("MatchExten(%q, %q) = %v, want %v", tt.pattern, tt.exten, got, tt.want)
		}
	}
}

func FuzzParseConf(f *testing.F) {
	files, err := Render(DefaultSettings())
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range files {
		f.Add(b)
	}
	for _, s := range []string{"[a](!)\nk=v\n", "[a]\n;--\n--;k=>v\\;x\n", "#include x\n[c]\nexten => s,1,NoOp()\n same => n(l),Set(A=${B})\n", "[c]\nexten=>_X.,hint,x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConf(data)
		if err != nil {
			return
		}
		for _, s := range c.Sections {
			for _, e := range s.Entries {
				if e.Key == "" || e.Line < 1 {
					t.Fatalf("entry without key or line: %+v", e)
				}
			}
		}
		d, err := ParseDialplan(c)
		if err != nil {
			return
		}
		for _, ctx := range d.Order {
			for _, st := range d.Contexts[ctx] {
				d.Extension(ctx, st.Exten)
			}
		}
		_, _ = d.UserEvents()
	})
}
