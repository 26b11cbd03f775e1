package asterisk

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFiles(t *testing.T) {
	files, err := Render(registerSettings())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "etc-asterisk")
	for round := 0; round < 2; round++ { // the second round overwrites
		if err := WriteFiles(dir, files); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(Files) {
		t.Errorf("%d entries in %s, want %d (no temporary files left)", len(entries), dir, len(Files))
	}
	for name, want := range files {
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, contents equal: %v", name, err, bytes.Equal(got, want))
		}
		fi, _ := os.Stat(path)
		wantMode := os.FileMode(0o644)
		if name == "manager.conf" || name == "pjsip.conf" {
			wantMode = 0o600
		}
		if fi.Mode().Perm() != wantMode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), wantMode)
		}
	}
	if err := WriteFiles(dir, map[string][]byte{"../x.conf": nil}); err == nil {
		t.Error("a file name with a path was accepted")
	}
}

func TestWriteBundle(t *testing.T) {
	files, err := Render(ipSettings())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteBundle(&b, files); err != nil {
		t.Fatal(err)
	}
	// Cut the bundle at the headers: each part is one file, in install order.
	parts := map[string]string{}
	var order []string
	cur := ""
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if strings.HasPrefix(line, ";;;;;;;;;; ===== ") {
			cur = strings.Fields(line)[2]
			order = append(order, cur)
			continue
		}
		parts[cur] += line
	}
	if strings.Join(order, " ") != strings.Join(Files, " ") {
		t.Fatalf("bundle order %v, want %v", order, Files)
	}
	for name, want := range files {
		if got := strings.TrimSuffix(parts[name], "\n"); got != string(want) {
			t.Errorf("%s differs in the bundle", name)
		}
	}
	if _, err := ParseConf(b.Bytes()); err != nil {
		t.Errorf("the bundle does not parse as one file: %v", err)
	}
}

// TestInstallSounds: the prompts come out of the binary, every shipped one
// in every language and format, plus the configured warning composed from
// words.
func TestInstallSounds(t *testing.T) {
	dir := t.TempDir()
	s := ipSettings()
	s.CallWarning = 45 * time.Second
	written, err := InstallSounds(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	want := len(Languages) * (len(Prompts())*len(SoundFormats) + 1)
	if len(written) != want {
		t.Errorf("wrote %d files, want %d", len(written), want)
	}
	for _, lang := range Languages {
		for _, name := range []string{"Welcome.gsm", "TimeLeft20.alaw", PromptTimeAlmostUp + ".wav", "TimeLeft45.wav"} {
			b, err := os.ReadFile(filepath.Join(dir, lang, name))
			if err != nil || len(b) < 1000 {
				t.Errorf("%s/%s: %d bytes, %v", lang, name, len(b), err)
			}
		}
		if w, ok := parseWAV(must(os.ReadFile(filepath.Join(dir, lang, "TimeLeft45.wav")))); !ok || w.rate != 8000 || w.bits != 16 || w.channels != 1 {
			t.Errorf("%s/TimeLeft45.wav: %+v", lang, w)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
