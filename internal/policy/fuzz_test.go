package policy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzAdmit: whatever a visitor sends, Admit never panics, and a request
// it admits carries only E.164 numbers and digits-only dial strings (what
// the engine puts into the AMI Originate).
func FuzzAdmit(f *testing.F) {
	for _, s := range [][2]string{
		{"13800001001", "13800001002"},
		{"+86 138 0000 1001", "010-1234 5678"},
		{"13800001001", "13800001002\r\nAction: Originate\r\nChannel: Local/1@evil"},
		{"13800001001&PJSIP/1", "13800001002,1,Dial"},
		{"１３８００００１００１", "0086 10 12345678"},
		{"13800001001", strings.Repeat("9", 5000)},
		{"' OR 1=1 --", "<script>alert(1)</script>"},
		{"\x00", "\u202e13800001002"},
	} {
		f.Add(s[0], s[1], "192.0.2.1", "")
	}
	g, _, clk := newGuard(f, nil, func(c *Config) { c.Limits = false; c.DailyMinutes = 0 })
	f.Fuzz(func(t *testing.T, caller, callee, addr, honeypot string) {
		clk.Add(time.Second)
		a, _ := netip.ParseAddr(addr)
		req, ref, err := g.Admit(context.Background(), Input{Caller: caller, Callee: callee, ClientIP: a, Honeypot: honeypot, Lang: "en"})
		if err != nil {
			t.Fatalf("Admit(%q, %q): %v", caller, callee, err)
		}
		if ref != nil {
			if req != nil || ref.Code == "" {
				t.Fatalf("refusal %+v with request %v", ref, req)
			}
			return
		}
		for _, s := range []string{req.CallerDial, req.CalleeDial} {
			if s == "" || strings.Trim(s, "0123456789") != "" {
				t.Fatalf("dial string %q from %q / %q", s, caller, callee)
			}
		}
		if !isE164(req.Caller) || !isE164(req.Callee) || req.Caller == req.Callee {
			t.Fatalf("numbers %q %q from %q / %q", req.Caller, req.Callee, caller, callee)
		}
	})
}
