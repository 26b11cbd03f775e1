package deploy_test

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// TestAsteriskKitInstaller runs the package's webcallback-install-asterisk
// (deploy/asterisk/install-kit.sh) with the installed settings file and a
// credentials directory against an Asterisk tree of the test's own: --diff
// changes nothing; the install keeps the previous files, writes the six
// files with the AMI secret from the credential (manager.conf and
// pjsip.conf private) and the prompts of both languages.
func TestAsteriskKitInstaller(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "webcallback")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/webcallback").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	sounds, err := filepath.Abs("sounds")
	if err != nil {
		t.Fatal(err)
	}
	share, creds, etc := filepath.Join(dir, "share"), filepath.Join(dir, "creds"), filepath.Join(dir, "etc")
	os.MkdirAll(share, 0o755)
	os.Symlink(sounds, filepath.Join(share, "sounds"))
	os.MkdirAll(creds, 0o700)
	os.WriteFile(filepath.Join(creds, "ami-secret"), []byte("kit-test-secret-7f3a9c\n"), 0o600)
	os.WriteFile(filepath.Join(creds, "register-password"), nil, 0o600) // empty: not set
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "manager.conf"), []byte("; the PBX's own\n"), 0o640)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("sh", append([]string{"asterisk/install-kit.sh"}, args...)...)
		cmd.Env = append(os.Environ(), "WEBCALLBACK_CONFIG=webcallback.conf", "WEBCALLBACK_CREDENTIALS="+creds,
			"ASTERISK_ETC="+etc, "ASTERISK_SOUNDS="+filepath.Join(dir, "sounds"), "WEBCALLBACK_SHARE="+share,
			"WEBCALLBACK_BIN="+bin, "ASTERISK_USER="+me.Username)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install-kit.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	out := run("--diff")
	if !strings.Contains(out, "+[webcallback]") || !strings.Contains(out, "-; the PBX's own") {
		t.Errorf("--diff shows no change:\n%s", out)
	}
	if ents, _ := os.ReadDir(etc); len(ents) != 1 {
		t.Fatalf("--diff changed %s: %v", etc, ents)
	}

	out = run()
	if !strings.Contains(out, "the previous files are in "+etc+".before-webcallback-") {
		t.Errorf("no word of the backup:\n%s", out)
	}
	backups, _ := filepath.Glob(etc + ".before-webcallback-*/manager.conf")
	if len(backups) != 1 {
		t.Errorf("previous manager.conf not kept: %v", backups)
	}
	for _, f := range []string{"modules.conf", "pjsip.conf", "extensions.conf", "manager.conf", "cdr.conf", "cdr_manager.conf"} {
		fi, err := os.Stat(filepath.Join(etc, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		want := os.FileMode(0o640)
		if f == "manager.conf" || f == "pjsip.conf" {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	if manager := read(t, filepath.Join(etc, "manager.conf")); !strings.Contains(manager, "kit-test-secret-7f3a9c") {
		t.Errorf("manager.conf lacks the credential's AMI secret:\n%s", manager)
	}
	for _, lang := range []string{"zh", "en"} {
		want, _ := os.ReadDir(filepath.Join("sounds", lang))
		got, _ := os.ReadDir(filepath.Join(dir, "sounds", lang))
		if len(got) == 0 || len(got) != len(want) {
			t.Errorf("prompts %s: %d files installed, want %d", lang, len(got), len(want))
		}
	}
}
