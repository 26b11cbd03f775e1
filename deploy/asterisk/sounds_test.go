package asterisk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"webcallback/internal/testenv"
)

const soundsDir = "../sounds"

// wavInfo is what a prompt's RIFF header says.
type wavInfo struct {
	format, channels uint16
	rate             uint32
	bits             uint16
	dataBytes        int
}

func parseWAV(b []byte) (wavInfo, bool) {
	var w wavInfo
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return w, false
	}
	fmtSeen := false
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		if size > len(body) {
			size = len(body)
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return w, false
			}
			w.format = binary.LittleEndian.Uint16(body[0:])
			w.channels = binary.LittleEndian.Uint16(body[2:])
			w.rate = binary.LittleEndian.Uint32(body[4:])
			w.bits = binary.LittleEndian.Uint16(body[14:])
			fmtSeen = true
		case "data":
			w.dataBytes = size
			return w, fmtSeen
		}
		p += 8 + size + size%2
	}
	return w, false
}

// TestSoundsComplete: every prompt the dialplan plays exists in every
// language and format, and each file is what Asterisk expects: 8 kHz mono
// 16-bit PCM wav, raw G.711 of the same length, whole GSM frames.
func TestSoundsComplete(t *testing.T) {
	for _, lang := range Languages {
		for _, prompt := range Prompts() {
			wav, err := os.ReadFile(filepath.Join(soundsDir, lang, prompt+".wav"))
			if err != nil {
				t.Errorf("%s/%s: %v", lang, prompt, err)
				continue
			}
			w, ok := parseWAV(wav)
			if !ok {
				t.Errorf("%s/%s.wav: not a RIFF WAVE file with fmt and data", lang, prompt)
				continue
			}
			if w.format != 1 || w.channels != 1 || w.rate != 8000 || w.bits != 16 {
				t.Errorf("%s/%s.wav: format %d, %d ch, %d Hz, %d bit; want PCM mono 8000 Hz 16 bit", lang, prompt, w.format, w.channels, w.rate, w.bits)
			}
			samples := w.dataBytes / 2
			if samples < 8000/2 || samples > 8000*15 {
				t.Errorf("%s/%s.wav: %d samples, want 0.5 s to 15 s", lang, prompt, samples)
			}
			for _, ext := range []string{"ulaw", "alaw"} {
				fi, err := os.Stat(filepath.Join(soundsDir, lang, prompt+"."+ext))
				if err != nil {
					t.Errorf("%v", err)
				} else if int(fi.Size()) != samples {
					t.Errorf("%s/%s.%s: %d bytes, want one per sample (%d)", lang, prompt, ext, fi.Size(), samples)
				}
			}
			fi, err := os.Stat(filepath.Join(soundsDir, lang, prompt+".gsm"))
			if err != nil {
				t.Errorf("%v", err)
			} else if frames := (samples + 159) / 160; fi.Size() != int64(frames*33) {
				t.Errorf("%s/%s.gsm: %d bytes, want %d frames of 33", lang, prompt, fi.Size(), frames)
			}
		}
	}
}

// TestSoundTexts: the texts the script speaks name exactly the prompts,
// per language, and nothing else sits in the language directories.
func TestSoundTexts(t *testing.T) {
	for _, lang := range Languages {
		f, err := os.Open(filepath.Join(soundsDir, "text", lang+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			name, text, ok := strings.Cut(line, "|")
			if !ok || strings.TrimSpace(text) == "" {
				t.Errorf("%s.txt: %q is not Name|text", lang, line)
			}
			names = append(names, name)
		}
		f.Close()
		want := slices.Clone(Prompts())
		slices.Sort(want)
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("%s.txt names %v, want %v", lang, names, want)
		}
		entries, err := os.ReadDir(filepath.Join(soundsDir, lang))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			base, ext, _ := strings.Cut(e.Name(), ".")
			if !slices.Contains(want, base) || !slices.Contains(SoundFormats, ext) {
				t.Errorf("stray file %s/%s", lang, e.Name())
			}
		}
	}
}

// needTools skips (or fails under CI=true) when a program is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		testenv.Require(t, err == nil, "%s is not installed; apt-get install espeak-ng sox libsox-fmt-base to run this test", tool)
	}
}

// TestSoundsSoxInfo asks sox itself what each wav is.
func TestSoundsSoxInfo(t *testing.T) {
	needTools(t, "sox")
	for _, lang := range Languages {
		for _, prompt := range Prompts() {
			path := filepath.Join(soundsDir, lang, prompt+".wav")
			out, err := exec.Command("sox", "--i", path).Output()
			if err != nil {
				t.Fatalf("sox --i %s: %v", path, err)
			}
			info := map[string]string{}
			for _, line := range strings.Split(string(out), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok {
					info[strings.TrimSpace(k)] = strings.TrimSpace(v)
				}
			}
			for key, want := range map[string]string{"Channels": "1", "Sample Rate": "8000", "Precision": "16-bit", "Sample Encoding": "16-bit Signed Integer PCM"} {
				if info[key] != want {
					t.Errorf("%s: sox --i says %s %q, want %q", path, key, info[key], want)
				}
			}
		}
	}
}

// TestSoundsReproducible regenerates every prompt from the texts and
// compares byte for byte with the committed files. It renders all of them
// (some 17 s of espeak-ng and sox on two cores): a long test, which CI
// runs; TestSoundsReproducibleSample checks one of each kind here.
func TestSoundsReproducible(t *testing.T) {
	testenv.Long(t, "every prompt regenerated with espeak-ng and sox")
	needTools(t, "espeak-ng", "sox")
	out := regenerate(t, soundsDir)
	for _, lang := range Languages {
		for _, prompt := range Prompts() {
			for _, ext := range SoundFormats {
				sameAsCommitted(t, out, filepath.Join(lang, prompt+"."+ext))
			}
		}
	}
}

// TestSoundsReproducibleSample runs generate.sh on the first prompt and the
// first word of each language (every voice, every format, both kinds of
// padding) and compares with the committed files: an espeak-ng or sox
// that renders differently shows here without the long test.
func TestSoundsReproducibleSample(t *testing.T) {
	needTools(t, "espeak-ng", "sox")
	src := t.TempDir()
	script, err := os.ReadFile(filepath.Join(soundsDir, "generate.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "generate.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	var want []string // the files the sample makes, relative to the output
	for _, kind := range []string{"text", "words"} {
		if err := os.MkdirAll(filepath.Join(src, kind), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, lang := range Languages {
			b, err := os.ReadFile(filepath.Join(soundsDir, kind, lang+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			name, line := firstEntry(t, b)
			if err := os.WriteFile(filepath.Join(src, kind, lang+".txt"), []byte(line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if kind == "words" {
				want = append(want, filepath.Join("words", lang, name+".wav"))
				continue
			}
			for _, ext := range SoundFormats {
				want = append(want, filepath.Join(lang, name+"."+ext))
			}
		}
	}
	out := regenerate(t, src)
	for _, name := range want {
		sameAsCommitted(t, out, name)
	}
}

// firstEntry is the first "Name|text" line of a prompt or word list.
func firstEntry(t *testing.T, list []byte) (name, line string) {
	t.Helper()
	for l := range strings.Lines(string(list)) {
		l = strings.TrimRight(l, "\n")
		if n, _, ok := strings.Cut(l, "|"); ok && !strings.HasPrefix(l, "#") {
			return n, l
		}
	}
	t.Fatalf("no Name|text line in %q", list)
	return "", ""
}

// regenerate runs src/generate.sh (which reads src/text and src/words)
// into a temporary directory and returns it.
func regenerate(t *testing.T, src string) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("sh", filepath.Join(src, "generate.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, b)
	}
	return out
}

// sameAsCommitted compares the regenerated file name under out with the
// committed one.
func sameAsCommitted(t *testing.T, out, name string) {
	t.Helper()
	a, err1 := os.ReadFile(filepath.Join(soundsDir, name))
	b, err2 := os.ReadFile(filepath.Join(out, name))
	if err1 != nil || err2 != nil {
		t.Errorf("%s: %v %v", name, err1, err2)
	} else if !bytes.Equal(a, b) {
		t.Errorf("%s differs from what generate.sh makes now (different espeak-ng/sox version, or text changed without regenerating)", name)
	}
}
