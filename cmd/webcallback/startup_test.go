package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webcallback/internal/testenv"
)

// TestStartupRefusals runs bad settings through the real serve command and
// main's error report: each is refused with a line naming the setting (or
// the server) and exit status 2 for a bad setting, 1 for an unreachable
// dependency; never a panic, never a service that starts.
func TestStartupRefusals(t *testing.T) {
	testenv.ClearSettings(t)
	// A port that refuses connections: listened on, then closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// A SQLite database that existed (its marker is there) and is gone.
	lostDir := t.TempDir()
	lost := filepath.Join(lostDir, "lost.db")
	os.WriteFile(filepath.Join(lostDir, ".lost.db.created"), []byte("webcallback on 2026-12-01T00:00:00Z\n"), 0o600)
	notADir := filepath.Join(lostDir, "file")
	os.WriteFile(notADir, nil, 0o600)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)

	cases := []struct {
		args []string
		code int
		want string // in the report
	}{
		// Durations: negative, zero where zero is wrong, absurd.
		{[]string{"--call-limit", "90d"}, 2, "--call-limit"},
		{[]string{"--call-limit", "0s"}, 2, "--call-limit"},
		{[]string{"--call-limit", "-5m"}, 2, "--call-limit"},
		{[]string{"--call-limit", "5 minutes"}, 2, "--call-limit"},
		{[]string{"--call-warning", "10m"}, 2, "--call-warning"},
		{[]string{"--caller-ring", "0s"}, 2, "--caller-ring"},
		{[]string{"--callee-ring", "30d"}, 2, "--callee-ring"},
		{[]string{"--queue-wait", "90d"}, 2, "--queue-wait"},
		{[]string{"--caller-cooldown", "400d"}, 2, "--caller-cooldown"},
		{[]string{"--backoff-max", "1s"}, 2, "--backoff-max"},
		{[]string{"--backoff-base", "30d"}, 2, "--backoff-base"},
		{[]string{"--retention", "1m"}, 2, "--retention"},
		{[]string{"--retention", "xd"}, 2, "--retention"},
		// Numbers: negative, NaN, Inf, out of range.
		{[]string{"--caller-connected-per-day", "-1"}, 2, "--caller-connected-per-day"},
		{[]string{"--caller-attempts-per-day", "-1"}, 2, "--caller-attempts-per-day"},
		{[]string{"--caller-billsec-per-day", "-60"}, 2, "--caller-billsec-per-day"},
		{[]string{"--caller-billsec-lifetime", "-1"}, 2, "--caller-billsec-lifetime"},
		{[]string{"--callee-per-day", "-3"}, 2, "--callee-per-day"},
		{[]string{"--caller-no-confirm-per-day", "-1"}, 2, "--caller-no-confirm-per-day"},
		{[]string{"--caller-no-confirm-per-day", "two"}, 2, "--caller-no-confirm-per-day"},
		{[]string{"--daily-minutes", "-1"}, 2, "--daily-minutes"},
		{[]string{"--max-cps", "NaN"}, 2, "--max-cps"},
		{[]string{"--max-cps", "Inf"}, 2, "--max-cps"},
		{[]string{"--max-cps", "0"}, 2, "--max-cps"},
		{[]string{"--max-cps", "-2"}, 2, "--max-cps"},
		{[]string{"--sandbox-time-scale", "NaN"}, 2, "--sandbox-time-scale"},
		{[]string{"--sandbox-time-scale", "0"}, 2, "--sandbox-time-scale"},
		{[]string{"--sandbox-max-cps", "-Inf"}, 2, "--sandbox-max-cps"},
		{[]string{"--sandbox-max-channels", "-1"}, 2, "--sandbox-max-channels"},
		{[]string{"--max-concurrent", "0"}, 2, "--max-concurrent"},
		{[]string{"--max-concurrent", "ten"}, 2, "--max-concurrent"},
		{[]string{"--queue-size", "-1"}, 2, "--queue-size"},
		{[]string{"--max-streams", "0"}, 2, "--max-streams"},
		{[]string{"--pow-difficulty", "99"}, 2, "--pow-difficulty"},
		{[]string{"--pow-difficulty", "-1"}, 2, "--pow-difficulty"},
		{[]string{"--pow-auto-rate", "-1"}, 2, "--pow-auto-rate"},
		{[]string{"--pow-auto-rate", "0"}, 2, "--pow-auto-rate"},
		// Regions, prefixes, names, languages.
		{[]string{"--region", ""}, 2, "--region"},
		{[]string{"--region", "XX"}, 2, "--region"},
		{[]string{"--region", "cn"}, 2, "--region"},
		{[]string{"--region", "CHN"}, 2, "--region"},
		{[]string{"--international-prefix", "00;x"}, 2, "--international-prefix"},
		{[]string{"--international-prefix", ""}, 2, "--international-prefix"},
		{[]string{"--international-prefix", "+00"}, 2, "--international-prefix"},
		{[]string{"--allow-regions", "HK,ZZ"}, 2, "--allow-regions"},
		{[]string{"--allow-prefixes", "852"}, 2, "--allow-prefixes"},
		{[]string{"--deny-prefixes", "+86x"}, 2, "--deny-prefixes"},
		{[]string{"--allowed-number-types", "mobile,satellite"}, 2, "--allowed-number-types"},
		{[]string{"--ami-events", "cdr"}, 2, "--ami-events"},
		{[]string{"--ami-events", "call,cdr,user"}, 2, "lacks system"},
		{[]string{"--ami-events", "call,user,system", "--cdr-source", "ami"}, 2, "lacks cdr"},
		{[]string{"--ami-events", "call,user,system,\r\nAction: Originate"}, 2, "--ami-events"},
		{[]string{"--trunk", "my.trunk"}, 2, "--trunk"},
		{[]string{"--trunk", "gw;evil"}, 2, "--trunk"},
		{[]string{"--trunk", ""}, 2, "--trunk"},
		{[]string{"--lang", "fr"}, 2, "--lang"},
		{[]string{"--lang", ""}, 2, "--lang"},
		{[]string{"--did", "12ab", "--callerid-mode", "did"}, 2, "--did"},
		{[]string{"--callerid-mode", "did"}, 2, "--did"},
		{[]string{"--callerid-mode", "both"}, 2, "--callerid-mode"},
		{[]string{"--pow", "sometimes"}, 2, "--pow"},
		{[]string{"--limits", "maybe"}, 2, "--limits"},
		{[]string{"--caller-confirm", "sometimes"}, 2, "--caller-confirm"},
		{[]string{"--callee-announce", "2"}, 2, "--callee-announce"},
		{[]string{"--instance", "a b"}, 2, "--instance"},
		{[]string{"--timezone", "Mars/Olympus"}, 2, "--timezone"},
		{[]string{"--timezone", ""}, 2, "--timezone"},
		{[]string{"--pbx-timezone", "Nowhere"}, 2, "--pbx-timezone"},
		{[]string{"--log-level", "loud"}, 2, "--log-level"},
		{[]string{"--log-format", "xml"}, 2, "--log-format"},
		{[]string{"--limit-per-ip", "lots"}, 2, "--limit-per-ip"},
		{[]string{"--max-streams-per-ip", "0"}, 2, "--max-streams-per-ip"},
		{[]string{"--max-streams", "10", "--max-streams-per-ip", "11"}, 2, "--max-streams-per-ip"},
		{[]string{"--max-conns", "0"}, 2, "--max-conns"},
		{[]string{"--max-conns", "-1"}, 2, "--max-conns"},
		{[]string{"--max-conns-per-ip", "0"}, 2, "--max-conns-per-ip"},
		{[]string{"--max-conns", "100", "--max-conns-per-ip", "101"}, 2, "--max-conns-per-ip"},
		{[]string{"--limit-per-caller", "5/1000h"}, 2, "--limit-per-caller"},
		// URLs, CIDRs, addresses.
		{[]string{"--trusted-proxies", "10.0.0.0/33"}, 2, "--trusted-proxies"},
		{[]string{"--trusted-proxies", "nonsense"}, 2, "--trusted-proxies"},
		{[]string{"--webhook-url", "ftp://example.com/x", "--webhook-secret", "s"}, 2, "--webhook-url"},
		{[]string{"--webhook-url", "http://"}, 2, "--webhook-url"},
		{[]string{"--webhook-url", "https://example.com/hook"}, 2, "--webhook-secret"},
		{[]string{"--public-url", "example.com"}, 2, "--public-url"},
		{[]string{"--listen", "8080"}, 2, "--listen"},
		{[]string{"--listen", busy.Addr().String()}, 1, "--listen"},
		{[]string{"--ami", "http://x"}, 2, "--ami"},
		{[]string{"--ami", "tcp://host:5038"}, 2, "--ami"},
		{[]string{"--ami", "tcp://u@127.0.0.1:5038"}, 2, "--ami"},
		{[]string{"--ami", "tcp://admin:123456@192.0.2.7:5038"}, 2, "--ami"},
		{[]string{"--ami-auth", "sha1"}, 2, "--ami-auth"},
		{[]string{"--ami", "tls://u:a-long-random-secret@127.0.0.1:1", "--ami-ca-file", notPEM}, 2, "--ami-ca-file"},
		{[]string{"--admin-token", "short"}, 2, "--admin-token"},
		{[]string{"--admin-token-file", "/nonexistent/token"}, 2, "--admin-token-file"},
		{[]string{"--cdr-source", "csv"}, 2, "--cdr-source"},
		{[]string{"--cdr-source", "table", "--cdr-table-db", "oracle://x"}, 2, "--cdr-table-db"},
		{[]string{"--db", ""}, 2, "--db"},
		{[]string{"--db", "oracle://x"}, 2, "--db"},
		{[]string{"--db-create=maybe"}, 2, "--db-create"},
		{[]string{"--spool-max-mb", "0"}, 2, "--spool-max-mb"},
		{[]string{"--spool-max-mb", "-5"}, 2, "--spool-max-mb"},
		{[]string{"--spool-max-mb", "9999999"}, 2, "--spool-max-mb"},
		{[]string{"--spool-max-mb", "lots"}, 2, "--spool-max-mb"},
		{[]string{"--spool-dir", filepath.Join(notADir, "spool")}, 2, "--spool-dir"},
		// The database is gone where one existed: never start empty.
		{[]string{"--db", "sqlite:" + lost}, 1, "--db-create"},
		{[]string{"--config", "/nonexistent/webcallback.conf"}, 2, "settings file"},
		{[]string{"--no-such-setting", "1"}, 2, "no-such-setting"},
		{[]string{"stray"}, 2, "unexpected arguments"},
		// Dependencies that are not there: exit 1, naming the server.
		{[]string{"--ami", "tcp://webcallback:a-long-random-secret@" + closed}, 1, closed},
		{[]string{"--db", "mysql://u:p@" + closed + "/wcb"}, 1, "open database mysql://u:REDACTED@" + closed},
		{[]string{"--db", "postgres://u:p@" + closed + "/wcb"}, 1, "open database postgres://u:REDACTED@" + closed},
	}
	if len(cases) < 50 {
		t.Fatalf("%d cases, want at least 50", len(cases))
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append([]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "wcb.db"), "--listen", "127.0.0.1:0"}, c.args...)
			var log, report_ bytes.Buffer
			code := func() (code int) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				return report(&report_, "serve", serveCommand(ctx, args, &log))
			}()
			if code != c.code || !strings.Contains(report_.String(), c.want) {
				t.Fatalf("exit %d, report %q; want exit %d naming %q\nlog: %s", code, report_.String(), c.code, c.want, log.String())
			}
			for _, line := range strings.Split(strings.TrimSpace(report_.String()), "\n") {
				if !strings.HasPrefix(line, "webcallback serve: ") {
					t.Errorf("report line %q", line)
				}
			}
			if strings.Contains(report_.String(), "p@") {
				t.Errorf("report leaks a password: %s", report_.String())
			}
		})
	}
}

// TestSubcommandHelp: each sub-command's --help lists its own settings
// with their defaults and environment names, and not the others'.
func TestSubcommandHelp(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		run        func(*bytes.Buffer) error
		has, hasNo []string
	}{
		{"serve", func(b *bytes.Buffer) error { return serveCommand(ctx, []string{"--help"}, b) },
			[]string{"--listen string", "(default: 5m0s)  env WEBCALLBACK_CALL_LIMIT", "(default: on)  env WEBCALLBACK_LIMITS"}, []string{"--server", "--sip-bind"}},
		{"call", func(b *bytes.Buffer) error { return callCommand(ctx, []string{"--help"}, io.Discard, b) },
			[]string{"--server string", "--caller string", "(default: 30s)  env WEBCALLBACK_CALLER_RING", "env WEBCALLBACK_INTERNATIONAL_PREFIX"}, []string{"--listen", "--admin-token", "--limit-per-ip"}},
		{"migrate", func(b *bytes.Buffer) error { return migrateCommand(ctx, []string{"--help"}, io.Discard, b) },
			[]string{"--db string", "env WEBCALLBACK_DB"}, []string{"--ami", "--call-limit"}},
		{"stats show", func(b *bytes.Buffer) error { return statsCommand(ctx, []string{"show", "--help"}, io.Discard, b) },
			[]string{"--what string", "--region string"}, []string{"--ami", "--listen"}},
		{"sandbox", func(b *bytes.Buffer) error { _, _, _, err := parseSandboxFlags([]string{"--help"}, b); return err },
			[]string{"-time-scale", "(default 1)", "-cdr-db"}, []string{" -db"}},
	} {
		var b bytes.Buffer
		if err := c.run(&b); report(io.Discard, c.name, err) != 0 {
			t.Errorf("%s --help: %v", c.name, err)
		}
		for _, w := range c.has {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s --help lacks %q:\n%s", c.name, w, b.String())
			}
		}
		for _, w := range c.hasNo {
			if strings.Contains(b.String(), w+" ") {
				t.Errorf("%s --help offers %q", c.name, w)
			}
		}
	}
}
