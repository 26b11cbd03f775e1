package deploy_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"webcallback/internal/testenv"
)

// TestDebPackage builds the package with scripts/build-deb.sh (the one
// documented command) and checks what dpkg would install: the files with
// their modes, the settings file as the only conffile, maintainer scripts
// that parse, files equal to the repository's, and a binary that runs.
// Installing it is docs/operations.md's job (it changes the machine).
func TestDebPackage(t *testing.T) {
	testenv.Require(t, lookPath("dpkg-deb") && lookPath("dpkg"), "dpkg-deb is not installed (a Debian or Ubuntu machine)")
	out := t.TempDir()
	build := exec.Command("bash", "../scripts/build-deb.sh")
	build.Env = append(os.Environ(), "OUT="+out, "VERSION=0.0.1~test")
	b, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "webcallback_0.0.1~test_*.deb"))
	if len(debs) != 1 || !strings.Contains(string(b), debs[0]) {
		t.Fatalf("build-deb.sh made %v, said %q", debs, b)
	}
	deb := debs[0]

	field := func(name string) string {
		v, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(v))
	}
	if field("Package") != "webcallback" || field("Version") != "0.0.1~test" || !strings.Contains(field("Depends"), "init-system-helpers") {
		t.Errorf("control: %s %s depends %s", field("Package"), field("Version"), field("Depends"))
	}

	listing, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]string{}
	for _, line := range strings.Split(string(listing), "\n") {
		if f := strings.Fields(line); len(f) >= 6 {
			modes[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
		}
	}
	for path, want := range map[string]string{
		"/usr/bin/webcallback":                                       "-rwxr-xr-x root/root",
		"/usr/sbin/webcallback-install-asterisk":                     "-rwxr-xr-x root/root",
		"/etc/webcallback/webcallback.conf":                          "-rw-r----- root/root",
		"/lib/systemd/system/webcallback.service":                    "-rw-r--r-- root/root",
		"/usr/share/webcallback/sounds/zh/Welcome.wav":               "-rw-r--r-- root/root",
		"/usr/share/webcallback/sounds/en/Welcome.wav":               "-rw-r--r-- root/root",
		"/usr/share/doc/webcallback/operations.md":                   "-rw-r--r-- root/root",
		"/usr/share/doc/webcallback/examples/nginx-webcallback.conf": "-rw-r--r-- root/root",
		"/usr/share/doc/webcallback/examples/Caddyfile":              "-rw-r--r-- root/root",
		"/usr/share/doc/webcallback/examples/alerts.yml":             "-rw-r--r-- root/root",
	} {
		if modes[path] != want {
			t.Errorf("%s: %q, want %q", path, modes[path], want)
		}
	}

	// The control area: conffiles and the maintainer scripts.
	ctrl := filepath.Join(out, "control")
	if b, err := exec.Command("dpkg-deb", "-e", deb, ctrl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, b)
	}
	if got := read(t, filepath.Join(ctrl, "conffiles")); got != "/etc/webcallback/webcallback.conf\n" {
		t.Errorf("conffiles %q", got)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		path := filepath.Join(ctrl, script)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v %v", script, fi, err)
		}
		if b, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", script, err, b)
		}
	}
	postinst := read(t, filepath.Join(ctrl, "postinst"))
	for _, want := range []string{"useradd --system", "install -d -o webcallback -g webcallback -m 0750 /var/lib/webcallback",
		"runuser -u webcallback -- /usr/bin/webcallback migrate --config", "deb-systemd-helper enable webcallback.service"} {
		if !strings.Contains(postinst, want) {
			t.Errorf("postinst lacks %q", want)
		}
	}

	// The files are the repository's, and the binary runs.
	root := filepath.Join(out, "root")
	if b, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, b)
	}
	for pkg, repo := range map[string]string{
		"lib/systemd/system/webcallback.service": "systemd/webcallback.service",
		"etc/webcallback/webcallback.conf":       "webcallback.conf",
		"usr/sbin/webcallback-install-asterisk":  "asterisk/install-kit.sh",
	} {
		if read(t, filepath.Join(root, pkg)) != read(t, repo) {
			t.Errorf("%s differs from deploy/%s", pkg, repo)
		}
	}
	check := exec.Command(filepath.Join(root, "usr/bin/webcallback"), "migrate", "--check", "--config=",
		"--db", "sqlite:"+filepath.Join(out, "fresh.db"))
	b, err = check.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !regexp.MustCompile(`pending 0001_init\.sql`).Match(b) {
		t.Errorf("the packaged binary's migrate --check on a new database: %v\n%s", err, b)
	}
}
