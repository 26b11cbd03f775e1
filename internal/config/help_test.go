package config

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"webcallback/internal/policy"
	"webcallback/internal/store"
	"webcallback/internal/testenv"
	"webcallback/internal/wcbproto"
)

// helpBlock is the part of the help that describes --name.
func helpBlock(help, name string) string {
	i := strings.Index(help, "\n  --"+name+" ")
	if i < 0 {
		i = strings.Index(help, "\n  --"+name+"\n")
	}
	if i < 0 {
		return ""
	}
	block := help[i+1:]
	if j := strings.Index(block, "\n  --"); j >= 0 {
		block = block[:j]
	}
	return block
}

// TestHelpShowsLoadedDefaults: for every setting of every command, the
// default --help shows is the value the loader yields with no flag, no
// environment and no file, and the help names its environment variable.
func TestHelpShowsLoadedDefaults(t *testing.T) {
	testenv.ClearSettings(t)
	for _, cmd := range []string{"serve", "call", "migrate", "stats show", "asterisk-config"} {
		l := NewLoader(cmd)
		var help strings.Builder
		l.PrintHelp(&help)
		if err := l.Parse(nil); err != nil {
			t.Fatalf("%s: defaults refused: %v", cmd, err)
		}
		n := 0
		l.FS.VisitAll(func(f *flag.Flag) {
			n++
			block := helpBlock(help.String(), f.Name)
			if block == "" {
				t.Errorf("%s --help: no --%s", cmd, f.Name)
				return
			}
			want := "(default: " + f.Value.String() + ")"
			switch {
			case l.secrets[f.Name]:
				want = "(secret: never printed)"
			case f.Value.String() == "":
				want = "(default: empty)"
			}
			if !strings.Contains(block, want) {
				t.Errorf("%s --help of --%s shows %q, loaded default %q", cmd, f.Name, block, f.Value.String())
			}
			env := "env " + EnvName(f.Name)
			if !strings.Contains(block, env) {
				t.Errorf("%s --help of --%s lacks %q", cmd, f.Name, env)
			}
		})
		if n < 5 {
			t.Errorf("%s: only %d flags", cmd, n)
		}
	}
}

// TestHelpRealDefaults pins the defaults issue 12 found wrong in --help,
// and that each is the one its consumer uses.
func TestHelpRealDefaults(t *testing.T) {
	testenv.ClearSettings(t)
	l := NewLoader("serve")
	var help strings.Builder
	l.PrintHelp(&help)
	for name, want := range map[string]string{
		"call-limit": "5m0s", "call-warning": "20s", "caller-ring": "30s", "callee-ring": "30s",
		"caller-cooldown": "1m0s", "queue-wait": "15s", "limits": "on", "international-prefix": "00",
		"region": "CN", "lang": "zh", "trunk": "gateway", "limit-per-ip": "10/10m0s",
	} {
		if b := helpBlock(help.String(), name); !strings.Contains(b, "(default: "+want+")") {
			t.Errorf("--%s: help %q, want default %s", name, b, want)
		}
	}
	s := Defaults()
	if s.CallLimit != wcbproto.DefaultCallLimit || s.CallWarning != wcbproto.DefaultCallWarning ||
		s.CalleeRing != wcbproto.DefaultRing || s.Lang != wcbproto.DefaultLang || s.Trunk != wcbproto.DefaultTrunk {
		t.Errorf("call defaults differ from wcbproto's: %+v", s)
	}
	if r := store.DefaultRules(); s.CallerCooldown != r.CallerCooldown || s.CalleePerDay != r.CalleePerDay {
		t.Errorf("quota defaults differ from the store's")
	}
	if p := policy.DefaultConfig(); s.Region != p.Region || s.Policy.InternationalPrefix != p.InternationalPrefix || s.Policy.CallLimit != s.CallLimit {
		t.Errorf("policy defaults differ")
	}
}

// TestCommandsShowOnlyTheirSettings: call, migrate and asterisk-config do
// not offer the web's settings, and every command's settings are accepted
// in a shared settings file.
func TestCommandsShowOnlyTheirSettings(t *testing.T) {
	testenv.ClearSettings(t)
	for cmd, c := range map[string]struct{ has, hasNot []string }{
		"serve":           {[]string{"listen", "admin-token", "ami", "call-limit", "retention"}, []string{"out", "sip-bind", "server"}},
		"call":            {[]string{"db", "ami", "call-limit", "region", "international-prefix"}, []string{"listen", "admin-token", "limit-per-ip", "sip-bind", "retention"}},
		"migrate":         {[]string{"db", "timezone"}, []string{"ami", "listen", "call-limit"}},
		"stats":           {[]string{"db", "region", "retention"}, []string{"ami", "listen"}},
		"asterisk-config": {[]string{"ami", "ami-secret-file", "trunk", "call-limit", "sip-bind", "register-password-file", "db", "cdr-source", "cdr-table-db"}, []string{"listen", "admin-token", "caller-ring", "timezone"}},
	} {
		l := NewLoader(cmd)
		for _, n := range c.has {
			if l.FS.Lookup(n) == nil {
				t.Errorf("%s lacks --%s", cmd, n)
			}
		}
		for _, n := range c.hasNot {
			if l.FS.Lookup(n) != nil {
				t.Errorf("%s offers --%s", cmd, n)
			}
		}
	}
	file := t.TempDir() + "/shared.conf"
	os.WriteFile(file, []byte("listen = 127.0.0.1:9000\nsip-bind = 0.0.0.0:5070\ncall-limit = 2m\n"), 0o600)
	for _, cmd := range []string{"serve", "asterisk-config", "migrate"} {
		l := NewLoader(cmd)
		if err := l.Parse([]string{"--config", file}); err != nil {
			t.Fatalf("%s with a shared settings file: %v", cmd, err)
		}
		if cmd != "migrate" && l.S.CallLimit != 2*time.Minute {
			t.Errorf("%s: call-limit %v from the file", cmd, l.S.CallLimit)
		}
	}
	os.WriteFile(file, []byte("call-limt = 2m\n"), 0o600)
	if err := NewLoader("migrate").Parse([]string{"--config", file}); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Errorf("a typo in the settings file: %v", err)
	}
}
