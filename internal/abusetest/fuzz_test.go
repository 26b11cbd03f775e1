package abusetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzHTTPToAMI is the property over the whole path, HTTP body to AMI
// bytes: whatever two strings a visitor sends, the service answers without
// a 5xx; a refused request adds no Originate; an accepted one adds exactly
// its own Originate, every header of which is a fixed value, digits, the
// request's UUID or a short token.
func FuzzHTTPToAMI(f *testing.F) {
	for _, s := range [][2]string{
		{"13800001001", "13900001001"},
		{"１３８００００１００１", "010-1234 5678"},
		{"13800001001\r\nAction: Originate", "13900001001"},
		{"13800001001", "13900001001&Local/evil@default"},
		{"+86 138 0000 1001", "0086 139 0000 1001,,L(1)"},
		{"13800001001", strings.Repeat("9", 5000)},
		{"<script>", "' OR 1=1 --"},
		{"\x00", "\xff\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	// Every input takes the whole path: no limits, no budget.
	e := newEnv(f, envOpts{flags: []string{"--limits", "off", "--daily-minutes", "0"}})
	f.Fuzz(func(t *testing.T, caller, callee string) {
		body, _ := json.Marshal(map[string]string{"caller": caller, "callee": callee})
		before := len(originates(e.Tap.Sent()))
		resp, b := e.post(t, "application/json", strings.NewReader(string(body)))
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("%q → %q: %s %s", caller, callee, resp.Status, b)
		case resp.StatusCode == 201:
			var r struct{ ID string }
			if err := json.Unmarshal(b, &r); err != nil || r.ID == "" {
				t.Fatalf("201 without id: %s", b)
			}
			waitChannelID(t, e, r.ID)
			if err := checkOriginates(e.Tap.Sent()); err != nil {
				t.Fatalf("%q → %q: %v", caller, callee, err)
			}
		default:
			if after := len(originates(e.Tap.Sent())); after != before {
				t.Fatalf("refused %q → %q (%s) but %d Originates appeared", caller, callee, resp.Status, after-before)
			}
		}
	})
}

// waitChannelID waits for the Originate of request id.
func waitChannelID(t *testing.T, e *env, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range originates(e.Tap.Sent()) {
			if a["channelid"] == id {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no Originate for accepted request %s", id)
}
