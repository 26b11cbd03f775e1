package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"webcallback/deploy/asterisk"
	"webcallback/internal/config"
)

func TestAsteriskConfigCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   map[string][]string // file → substrings it must contain
		absent  map[string][]string // file → substrings it must not contain
	}{
		{
			name: "defaults: ip gateway, loopback AMI, placeholder secret",
			check: map[string][]string{
				"manager.conf": {"bindaddr = 127.0.0.1", "permit = 127.0.0.1/255.255.255.255", "[webcallback]", ";secret ="},
				"pjsip.conf":   {"contact = sip:127.0.0.1:5060", "match = 127.0.0.1"},
			},
		},
		{
			name: "register trunk, secrets from env, settings from flags",
			args: []string{"--trunk-mode", "register", "--register-server", "sip.example.com", "--register-user", "acct1",
				"--ami", "tcp://wcb@127.0.0.1:5039", "--trunk", "carrier", "--did", "862150001000", "--call-limit", "120s", "--lang", "en"},
			env: map[string]string{"WEBCALLBACK_AMI_SECRET": "Xy7-secret-abcdef", "WEBCALLBACK_REGISTER_PASSWORD": "Pw-9876543210"},
			check: map[string][]string{
				"manager.conf":    {"[wcb]", "secret = Xy7-secret-abcdef", "port = 5039"},
				"pjsip.conf":      {"[carrier-auth]", "password = Pw-9876543210", "contact_user = 862150001000"},
				"extensions.conf": {"@carrier,", "Set(WCB_LIMIT_MS=120000)", "Set(WCB_LANG=en)"},
			},
			absent: map[string][]string{
				"manager.conf":    {"Pw-9876543210"},
				"pjsip.conf":      {"Xy7-secret-abcdef"},
				"extensions.conf": {"Xy7-secret-abcdef", "Pw-9876543210"},
			},
		},
		{
			name:    "sample secret refused",
			args:    []string{"--ami", "tcp://wcb:admin@127.0.0.1:5038"},
			wantErr: "sample secret",
		},
		{
			name:    "AMI off loopback needs a permit",
			args:    []string{"--ami", "tcp://wcb:Long-secret-123456@10.0.0.2:5038"},
			wantErr: "--ami-permit",
		},
		{
			name:  "AMI off loopback with a permit",
			args:  []string{"--ami", "tcp://wcb:Long-secret-123456@10.0.0.2:5038", "--ami-permit", "10.0.0.5/32"},
			check: map[string][]string{"manager.conf": {"bindaddr = 10.0.0.2", "permit = 10.0.0.5/255.255.255.255"}},
		},
		{
			name: "several nodes: --node renders the one named",
			args: []string{"--ami", "tcp://wcb:Long-secret-123456@10.0.0.2:5038?max_concurrent=50,tcp://wcb:Other-secret-654321@10.0.0.3:5038",
				"--node", "10.0.0.3:5038", "--ami-permit", "10.0.0.5/32"},
			check:  map[string][]string{"manager.conf": {"bindaddr = 10.0.0.3", "secret = Other-secret-654321"}},
			absent: map[string][]string{"manager.conf": {"10.0.0.2", "Long-secret-123456"}},
		},
		{
			name:    "several nodes without --node",
			args:    []string{"--ami", "tcp://wcb:Long-secret-123456@10.0.0.2:5038,tcp://wcb:Long-secret-123456@10.0.0.3:5038"},
			wantErr: "--ami names 2 Asterisk nodes: render each one's config with --node (one of 10.0.0.2:5038, 10.0.0.3:5038)",
		},
		{
			name:    "--node not among the nodes",
			args:    []string{"--ami", "tcp://wcb:Long-secret-123456@10.0.0.2:5038,tcp://wcb:Long-secret-123456@10.0.0.3:5038", "--node", "10.0.0.4:5038"},
			wantErr: "--node 10.0.0.4:5038: not a node of --ami",
		},
		{
			name:    "bad trunk mode",
			args:    []string{"--trunk-mode", "carrier-pigeon"},
			wantErr: "--trunk-mode",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out := filepath.Join(t.TempDir(), "asterisk")
			err := runAsteriskConfig(context.Background(), append([]string{"--out", out}, tt.args...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range asterisk.Files {
				b, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := asterisk.ParseConf(b); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				for _, want := range tt.check[name] {
					if !strings.Contains(string(b), want) {
						t.Errorf("%s lacks %q", name, want)
					}
				}
				for _, bad := range tt.absent[name] {
					if strings.Contains(string(b), bad) {
						t.Errorf("%s contains %q", name, bad)
					}
				}
			}
		})
	}
}

// TestAsteriskConfigInstall: one settings file serves asterisk-config and
// serve (so the dialplan's limit, warning, trunk and language are the
// service's), and --install puts the configuration and every prompt in
// place from the binary alone, the configured warning's composed: the
// files holding a secret (the database password in res_odbc.conf) 0600,
// and the ODBC data source merged into the unixODBC file, not /etc/asterisk.
func TestAsteriskConfigInstall(t *testing.T) {
	dir := t.TempDir()
	settings := filepath.Join(dir, "webcallback.conf")
	err := os.WriteFile(settings, []byte(strings.Join([]string{
		"# one file for serve and asterisk-config",
		"ami = tcp://webcallback:Long-secret-123456@127.0.0.1:5038",
		"call-limit = 90s", "call-warning = 7s", "lang = en", "trunk = carrier",
		"listen = 127.0.0.1:8080", "sip-bind = 0.0.0.0:5070",
		"db = mysql://wcb:Db-pass-4711@10.0.0.7:3306/webcallback",
	}, "\n")+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	etc, snd, odbcINI := filepath.Join(dir, "etc"), filepath.Join(dir, "sounds"), filepath.Join(dir, "odbc.ini")
	other := "[other-app]\nDriver = SQLite3\nDatabase = /srv/other.db\n"
	if err := os.WriteFile(odbcINI, []byte(other+"\n[webcallback-cdr]\nServer = stale\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	install := []string{"--config", settings, "--install", "--out", etc, "--sounds-dir", snd, "--odbc-ini", odbcINI}
	var bad *config.SettingError
	if err := runAsteriskConfig(context.Background(), append(slices.Clone(install), "--odbc-ini", "")); !errors.As(err, &bad) {
		t.Errorf("an empty --odbc-ini: %v, want a setting error", err)
	}
	for range 2 { // a second run replaces, never duplicates
		if err := runAsteriskConfig(context.Background(), install); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range append(slices.Clone(asterisk.Files), "res_odbc.conf", "cdr_adaptive_odbc.conf") {
		fi, err := os.Stat(filepath.Join(etc, name))
		if err != nil {
			t.Error(err)
			continue
		}
		want := os.FileMode(0o644)
		if name == "manager.conf" || name == "pjsip.conf" || name == "res_odbc.conf" {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if _, err := os.Stat(filepath.Join(etc, "odbc.ini")); err == nil {
		t.Error("odbc.ini written into the Asterisk directory; it belongs to unixODBC (--odbc-ini)")
	}
	ini, _ := os.ReadFile(odbcINI)
	if !strings.HasPrefix(string(ini), other) || strings.Count(string(ini), "[webcallback-cdr]") != 1 ||
		!strings.Contains(string(ini), "Server = 10.0.0.7") || !strings.Contains(string(ini), "Description = webcallback cdr table (MariaDB/MySQL)") || strings.Contains(string(ini), "stale") {
		t.Errorf("odbc.ini: other data sources not kept or webcallback-cdr not replaced:\n%s", ini)
	}
	if fi, _ := os.Stat(odbcINI); fi == nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("odbc.ini mode not kept: %v", fi)
	}
	ext, _ := os.ReadFile(filepath.Join(etc, "extensions.conf"))
	for _, want := range []string{"Set(WCB_LIMIT_MS=90000)", "Set(WCB_WARN_MS=7000)", "Set(WCB_LANG=en)", "@carrier,", "exten => 7000,1,Return(TimeLeft7)"} {
		if !strings.Contains(string(ext), want) {
			t.Errorf("extensions.conf lacks %s", want)
		}
	}
	for _, lang := range asterisk.Languages {
		for _, f := range []string{"TimeLeft7.wav", "Welcome.ulaw", "TimeAlmostUp.gsm"} {
			if _, err := os.Stat(filepath.Join(snd, lang, f)); err != nil {
				t.Error(err)
			}
		}
	}
	// serve reads the same file and gets the same call settings.
	l := config.NewLoader("serve")
	if err := l.Parse([]string{"--config", settings}); err != nil {
		t.Fatal(err)
	}
	if s := l.S; s.CallLimit != 90*time.Second || s.CallWarning != 7*time.Second || s.Lang != "en" || s.Trunk != "carrier" {
		t.Errorf("serve read limit %v warning %v lang %s trunk %s", s.CallLimit, s.CallWarning, s.Lang, s.Trunk)
	}
}

// TestServeAndKitAgreeOnCallTimes: serve and asterisk-config accept and
// refuse the same talk limits, warnings and ring times (one check each, in
// wcbproto), so the kit never renders a dialplan for settings the service
// refuses, nor refuses what the service runs with. They used to differ: a
// warning of 1500ms started serve, whose prompt can only say whole
// seconds, and the kit took a 90-day limit.
func TestServeAndKitAgreeOnCallTimes(t *testing.T) {
	cases := []struct {
		args []string
		ok   bool
	}{
		{[]string{"--call-warning", "45s"}, true},
		{[]string{"--call-warning", "0"}, true},
		{[]string{"--call-warning", "1500ms"}, false},
		{[]string{"--call-warning", "5m"}, false},
		{[]string{"--call-limit", "2m"}, true},
		{[]string{"--call-limit", "90500ms", "--call-warning", "20s"}, true},
		{[]string{"--call-limit", "90d"}, false},
		{[]string{"--call-limit", "90000500us"}, false},
		{[]string{"--call-limit", "1s", "--call-warning", "0"}, false},
		{[]string{"--callee-ring", "45s"}, true},
		{[]string{"--callee-ring", "1500ms"}, false},
		{[]string{"--callee-ring", "2h"}, false},
		{[]string{"--caller-ring", "1500ms"}, false},
	}
	for _, tc := range cases {
		l := config.NewLoader("serve")
		l.FS.SetOutput(io.Discard)
		serveErr := l.Parse(append([]string{"--config="}, tc.args...))
		kitErr := runAsteriskConfig(context.Background(), append([]string{"--config=", "--out", filepath.Join(t.TempDir(), "asterisk")}, tc.args...))
		if (serveErr == nil) != tc.ok || (kitErr == nil) != tc.ok {
			t.Errorf("%v: serve %v, asterisk-config %v; want accepted=%v by both", tc.args, serveErr, kitErr, tc.ok)
		}
		if serveErr != nil && !strings.Contains(serveErr.Error(), tc.args[len(tc.args)-2]) && !strings.Contains(serveErr.Error(), tc.args[0]) {
			t.Errorf("%v: serve's error %q names no setting", tc.args, serveErr)
		}
	}
}
