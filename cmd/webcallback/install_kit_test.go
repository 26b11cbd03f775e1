package main

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"webcallback/internal/testenv"
)

// TestAsteriskKitInstaller runs the .deb's webcallback-install-asterisk
// (deploy/asterisk/install-kit.sh) on this binary, with the installed
// settings file (deploy/webcallback.conf) and a credentials directory against an Asterisk tree and an /etc/odbc.ini of
// the test's own: --diff changes nothing; the install (which is
// asterisk-config --install's writing) keeps the previous files, writes
// every file of the kit and the database CDR backend with the AMI secret
// from the credential, closed to others (secrets 0600, the rest 0640),
// merges the ODBC data source beside the other ones, and puts every prompt
// in place, the warning of a --call-warning no prompt records composed.
func TestAsteriskKitInstaller(t *testing.T) {
	t.Parallel() // a folder of its own: see TestMain
	dir := t.TempDir()
	// The binary the script runs is this test binary acting as
	// webcallback (TestMain), not a second build of it.
	bin := filepath.Join(dir, "webcallback")
	script := "#!/bin/sh\nWEBCALLBACK_TEST_MAIN=1 exec '" + strings.ReplaceAll(os.Args[0], "'", `'\''`) + "' \"$@\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	deploy := filepath.Join(testenv.RepoRoot(), "deploy")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	creds, etc, snd, odbcINI := filepath.Join(dir, "creds"), filepath.Join(dir, "etc"), filepath.Join(dir, "sounds"), filepath.Join(dir, "odbc.ini")
	os.MkdirAll(creds, 0o700)
	os.WriteFile(filepath.Join(creds, "ami-secret"), []byte("kit-test-secret-7f3a9c\n"), 0o600)
	os.WriteFile(filepath.Join(creds, "register-password"), nil, 0o600) // empty: not set
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "manager.conf"), []byte("; the PBX's own\n"), 0o640)
	const otherDSN = "[other-app]\nDriver = SQLite3\nDatabase = /srv/other.db\n"
	os.WriteFile(odbcINI, []byte(otherDSN), 0o644)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("sh", append([]string{"asterisk/install-kit.sh"}, args...)...)
		cmd.Dir = deploy
		cmd.Env = append(os.Environ(), "WEBCALLBACK_CONFIG=webcallback.conf", "WEBCALLBACK_CREDENTIALS="+creds,
			"ASTERISK_ETC="+etc, "ASTERISK_SOUNDS="+snd, "ODBC_INI="+odbcINI,
			"WEBCALLBACK_BIN="+bin, "ASTERISK_USER="+me.Username)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install-kit.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	out := run("--diff", "--call-warning", "45s")
	for _, want := range []string{"+[webcallback]", "-; the PBX's own", "+[webcallback-cdr]"} {
		if !strings.Contains(out, want) {
			t.Errorf("--diff does not show %q:\n%s", want, out)
		}
	}
	if ents, _ := os.ReadDir(etc); len(ents) != 1 || readFile(t, odbcINI) != otherDSN {
		t.Fatalf("--diff changed %s or %s: %v", etc, odbcINI, ents)
	}
	if _, err := os.Stat(snd); err == nil {
		t.Fatalf("--diff wrote prompts into %s", snd)
	}

	out = run("--call-warning", "45s")
	if !strings.Contains(out, "the previous files are in "+etc+".before-webcallback-") {
		t.Errorf("no word of the backup:\n%s", out)
	}
	backups, _ := filepath.Glob(etc + ".before-webcallback-*/manager.conf")
	if len(backups) != 1 {
		t.Errorf("previous manager.conf not kept: %v", backups)
	}
	for _, f := range []string{"modules.conf", "logger.conf", "pjsip.conf", "extensions.conf", "manager.conf", "cdr.conf",
		"cdr_manager.conf", "res_odbc.conf", "cdr_adaptive_odbc.conf"} {
		fi, err := os.Stat(filepath.Join(etc, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		want := os.FileMode(0o640)
		if f == "manager.conf" || f == "pjsip.conf" || f == "res_odbc.conf" {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	if _, err := os.Stat(filepath.Join(etc, "odbc.ini")); err == nil {
		t.Errorf("odbc.ini installed into %s; it belongs in unixODBC's file", etc)
	}
	if ini := readFile(t, odbcINI); !strings.HasPrefix(ini, otherDSN) || !strings.Contains(ini, "[webcallback-cdr]") ||
		!strings.Contains(ini, "Database = /var/lib/webcallback/webcallback.db") {
		t.Errorf("%s: other data source lost or webcallback-cdr missing:\n%s", odbcINI, ini)
	}
	if manager := readFile(t, filepath.Join(etc, "manager.conf")); !strings.Contains(manager, "kit-test-secret-7f3a9c") {
		t.Errorf("manager.conf lacks the credential's AMI secret:\n%s", manager)
	}
	for _, lang := range []string{"zh", "en"} {
		for _, f := range []string{"Welcome.wav", "Welcome.ulaw", "TimeLeft45.wav"} {
			if _, err := os.Stat(filepath.Join(snd, lang, f)); err != nil {
				t.Errorf("prompt: %v", err)
			}
		}
	}
}

// readFile returns the file's text, failing t if it cannot be read.
func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
