package deploy_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"webcallback/internal/config"
	"webcallback/internal/testenv"
)

// read returns a file of this directory.
func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// render replaces each old string of a sample with its new one, failing
// when a sample no longer holds one exactly once (it changed under the
// test, which must follow).
func render(t *testing.T, sample string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(sample, pairs[i]); n != 1 {
			t.Fatalf("the sample holds %q %d times; want once", pairs[i], n)
		}
		sample = strings.Replace(sample, pairs[i], pairs[i+1], 1)
	}
	return sample
}

// TestSystemdUnit: the unit passes systemd-analyze verify (on systemd
// before 254 only the back-off keys it does not know yet are reported), has
// the hardening and the stop and restart policy docs/operations.md
// describes, and loads as credentials only secrets the service reads.
func TestSystemdUnit(t *testing.T) {
	unit := read(t, "systemd/webcallback.service")
	for _, want := range []string{
		"Type=notify", "NotifyAccess=main", "User=webcallback",
		"ExecStart=/usr/bin/webcallback serve --config /etc/webcallback/webcallback.conf",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"ReadWritePaths=/var/lib/webcallback", "CapabilityBoundingSet=\n",
		"Restart=on-failure", "RestartSteps=", "RestartMaxDelaySec=", "RestartPreventExitStatus=2",
		"KillMode=mixed", "TimeoutStopSec=40s",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	serve := config.NewLoader("serve")
	creds := regexp.MustCompile(`(?m)^LoadCredential=([a-z-]+):/etc/webcallback/credentials/([a-z-]+)$`).FindAllStringSubmatch(unit, -1)
	loaded := map[string]bool{}
	for _, c := range creds {
		loaded[c[1]] = true
		if c[1] != c[2] || serve.FS.Lookup(c[1]+"-file") == nil {
			t.Errorf("credential %s (%s): not a secret setting of serve", c[1], c[2])
		}
	}
	// And every secret of serve (a setting with a --<name>-file) has one.
	serve.FS.VisitAll(func(f *flag.Flag) {
		if name, ok := strings.CutSuffix(f.Name, "-file"); ok && serve.FS.Lookup(name) != nil && !loaded[name] {
			t.Errorf("secret %s has no LoadCredential= line", name)
		}
	})

	testenv.Require(t, lookPath("systemd-analyze"), "systemd-analyze (package systemd) is not installed")
	// verify wants the command to exist: the test binary stands in.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "webcallback.service")
	os.WriteFile(path, []byte(render(t, unit, "ExecStart=/usr/bin/webcallback", "ExecStart="+self)), 0o644)
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || strings.Contains(line, "Unknown key 'RestartSteps'") || strings.Contains(line, "Unknown key 'RestartMaxDelaySec'") ||
			strings.Contains(line, "Unknown key name 'RestartSteps'") || strings.Contains(line, "Unknown key name 'RestartMaxDelaySec'") {
			continue
		}
		t.Errorf("systemd-analyze verify: %s", line)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for \S+: (\S+) (\S+)`).FindStringSubmatch(string(out)); m == nil || (m[2] != "OK" && m[2] != "SAFE") {
		t.Errorf("systemd-analyze security: exposure %v; want OK or SAFE\n%s", m, out)
	} else {
		t.Logf("systemd-analyze security: exposure %s %s", m[1], m[2])
	}
}

// TestSettingsFile: the settings file the package installs is accepted by
// every command that reads it, and puts the service behind the local proxy
// with its data in the state directory.
func TestSettingsFile(t *testing.T) {
	testenv.ClearSettings(t)
	for _, cmd := range []string{"serve", "migrate", "backup", "restore", "stats", "call", "asterisk-config"} {
		l := config.NewLoader(cmd)
		if err := l.Parse([]string{"--config", "webcallback.conf"}); err != nil {
			t.Errorf("%s --config webcallback.conf: %v", cmd, err)
		}
	}
	l := config.NewLoader("serve")
	if err := l.Parse([]string{"--config", "webcallback.conf"}); err != nil {
		t.Fatal(err)
	}
	s := l.S
	if s.Listen != "127.0.0.1:8080" || s.DB != "sqlite:/var/lib/webcallback/webcallback.db" || len(s.TrustedProxies) != 2 || s.AMI != "" {
		t.Errorf("settings: listen %s, db %s, trusted proxies %v, ami %q", s.Listen, s.DB, s.TrustedProxies, s.AMI)
	}
}

func lookPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
