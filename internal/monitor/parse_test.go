package monitor

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/store"
	"webcallback/internal/testenv"
)

// fixtureEvents reads every message of every *.ami fixture.
func fixtureEvents(t testing.TB) map[string][]*ami.Message {
	t.Helper()
	dir := testenv.FixturesDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.ami"))
	if len(files) == 0 {
		t.Fatalf("no .ami fixtures in %s", dir)
	}
	out := map[string][]*ami.Message{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r := ami.NewReader(fh)
		if _, err := r.ReadBanner(); err != nil {
			t.Fatalf("%s: banner: %v", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".ami")
		for {
			m, err := r.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[name] = append(out[name], m)
		}
		fh.Close()
	}
	return out
}

func cdrEvents(ms []*ami.Message) []*ami.Message {
	var out []*ami.Message
	for _, m := range ms {
		if m.Event() == "Cdr" {
			out = append(out, m)
		}
	}
	return out
}

func TestParseCDRFixtures(t *testing.T) {
	all := fixtureEvents(t)
	// Rows per scenario, from the fixtures README digest.
	wantRows := map[string]int{"timeout-direct": 2, "caller-busy-direct": 1, "caller-noanswer-direct": 1, "caller-503-direct": 1,
		"callee-busy-direct": 2, "callee-noanswer-direct": 2, "callee-hangup-early-direct": 2, "caller-hangup-early-direct": 1,
		"sync-originate-busy": 1, "unknown-context-direct": 0, "ping": 0}
	for name, ms := range all {
		evs := cdrEvents(ms)
		if n, ok := wantRows[name]; ok && len(evs) != n {
			t.Errorf("%s: %d Cdr events, want %d", name, len(evs), n)
		}
		for _, m := range evs {
			if _, err := ParseCDR(m); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	evs := cdrEvents(all["timeout-direct"])
	got, err := ParseCDR(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := &store.CDR{CallDate: time.Date(2026, 11, 25, 16, 55, 24, 0, time.UTC), CLID: `"" <13800001001>`, Src: "13800001001",
		Dst: "s", DContext: "webcallback-direct", Channel: "PJSIP/gateway-0000001b", DstChannel: "PJSIP/gateway-0000001c",
		LastApp: "Dial", LastData: "PJSIP/13800002002@gateway,,gL(15000:5000:5000)", Duration: 20, Billsec: 19,
		Disposition: "ANSWERED", AMAFlags: 3, UniqueID: "1795625724.55"}
	if *got != *want {
		t.Fatalf("timeout-direct Dial row:\n got %+v\nwant %+v", got, want)
	}
	second, _ := ParseCDR(evs[1])
	if second.UserField != "Hangupcause:16" || second.LastApp != "Hangup" || second.DstChannel != "" || second.RequestID != "" {
		t.Fatalf("timeout-direct Hangup row: %+v", second)
	}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	if in, _ := ParseCDRIn(evs[0], shanghai); !in.CallDate.Equal(time.Date(2026, 11, 25, 8, 55, 24, 0, time.UTC)) {
		t.Fatalf("StartTime in Asia/Shanghai = %v", in.CallDate)
	}
}

func TestParseCDRErrors(t *testing.T) {
	base := func(kv ...string) *ami.Message {
		m := ami.NewMessage("Event", "Cdr", "UniqueID", "1.1", "StartTime", "2026-11-25 16:55:24", "Duration", "3", "BillableSeconds", "1")
		for i := 0; i < len(kv); i += 2 {
			m.Set(kv[i], kv[i+1])
		}
		return m
	}
	cases := []struct {
		name string
		m    *ami.Message
		ok   bool
		want func(*store.CDR) bool
	}{
		{"minimal", base(), true, nil},
		{"nil", nil, false, nil},
		{"other event", ami.NewMessage("Event", "Hangup"), false, nil},
		{"lower-case keys", ami.NewMessage("event", "cdr", "uniqueid", "1.2", "starttime", "2026-11-25 16:55:24", "duration", "0",
			"billableseconds", "0"), true, nil},
		{"no uniqueid", base("UniqueID", ""), false, nil},
		{"bad start", base("StartTime", "25/11/2026"), false, nil},
		{"empty start", base("StartTime", ""), false, nil},
		{"negative duration", base("Duration", "-1"), false, nil},
		{"huge billsec", base("BillableSeconds", "99999999999"), false, nil},
		{"missing duration", ami.NewMessage("Event", "Cdr", "UniqueID", "1", "StartTime", "2026-11-25 16:55:24"), false, nil},
		{"mapped columns", base("LinkedID", "1.0", "Sequence", "42", "PeerAccount", "x"), true,
			func(c *store.CDR) bool { return c.LinkedID == "1.0" && c.Sequence == 42 && c.PeerAccount == "x" }},
		{"bad sequence", base("Sequence", "x"), false, nil},
		{"talk time mapped", base("TalkSec", "15"), true, func(c *store.CDR) bool { return c.TalkSec != nil && *c.TalkSec == 15 }},
		{"talk time empty", base("TalkSec", ""), true, func(c *store.CDR) bool { return c.TalkSec == nil }},
		{"bad talk time", base("TalkSec", "-3"), false, nil},
		{"request id", base("UserField", "Hangupcause:16;wcb:5b0e9a52-7c1e-4c57-9f57-2f1e6f0e1a01"), true,
			func(c *store.CDR) bool { return c.RequestID == "5b0e9a52-7c1e-4c57-9f57-2f1e6f0e1a01" }},
		{"ama names", base("AMAFlags", "BILLING"), true, func(c *store.CDR) bool { return c.AMAFlags == 2 }},
		{"long field clipped", base("LastData", strings.Repeat("x", 5000)), true, func(c *store.CDR) bool { return len(c.LastData) == maxField }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCDR(tc.m)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err == nil && tc.want != nil && !tc.want(c) {
				t.Fatalf("parsed %+v", c)
			}
		})
	}
}

func TestRequestIDFromUserfield(t *testing.T) {
	for uf, want := range map[string]string{
		"":                                "",
		"Hangupcause:16":                  "",
		"Hangupcause:16;wcb:abc-1":        "abc-1",
		"Hangupcause:0;wcb:a;x=1":         "a",
		"Hangupcause:0;wcb:":              "",
		"Hangupcause:0;wcb:a'b":           "",
		"wcb:abc":                         "",
		";wcb:" + strings.Repeat("a", 65): "",
	} {
		if got := RequestIDFromUserfield(uf); got != want {
			t.Errorf("RequestIDFromUserfield(%q) = %q, want %q", uf, got, want)
		}
	}
}

// FuzzParseCDR feeds arbitrary header blocks: ParseCDR must never panic,
// and what it accepts must be sane.
func FuzzParseCDR(f *testing.F) {
	for _, ms := range fixtureEvents(f) {
		for _, m := range cdrEvents(ms) {
			f.Add(m.String())
		}
	}
	f.Add("Event: Cdr\r\nUniqueID: 1\r\nStartTime: 2026-02-30 25:61:61\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		m := &ami.Message{}
		for _, line := range strings.Split(raw, "\n") {
			k, v, _ := strings.Cut(strings.TrimRight(line, "\r"), ":")
			m.Add(k, strings.TrimPrefix(v, " "))
		}
		c, err := ParseCDR(m)
		if err != nil {
			return
		}
		if c.UniqueID == "" || c.CallDate.IsZero() || c.Duration < 0 || c.Billsec < 0 || c.Sequence < 0 ||
			len(c.LastData) > maxField || len(c.RequestID) > 64 {
			t.Fatalf("accepted a bad CDR: %+v", c)
		}
	})
}
