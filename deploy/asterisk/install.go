package asterisk

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"webcallback/deploy/sounds"
)

// Where a bare Asterisk (make install) and the Debian package keep their
// configuration and sounds: asterisk-config --install's defaults.
const (
	DefaultConfDir   = "/etc/asterisk"
	DefaultSoundsDir = "/var/lib/asterisk/sounds"
)

// InstallSounds writes the prompts the dialplan rendered for s plays into
// dir/<lang>/ for every language: the shipped ones in every format, and the
// configured warning's, composed from recorded words when none is
// recorded (wav; Asterisk transcodes it). The files come from the binary
// (deploy/sounds embeds them). It returns the paths written.
func InstallSounds(dir string, s Settings) ([]string, error) {
	var written []string
	for _, lang := range Languages {
		ldir := filepath.Join(dir, lang)
		if err := os.MkdirAll(ldir, 0o755); err != nil {
			return written, fmt.Errorf("install prompts: %w", err)
		}
		put := func(name string, data []byte) error {
			path := filepath.Join(ldir, name)
			if err := writeAtomic(path, data, 0o644); err != nil {
				return fmt.Errorf("install prompts: %w", err)
			}
			written = append(written, path)
			return nil
		}
		for _, p := range Prompts() {
			for _, ext := range SoundFormats {
				b, err := sounds.Read(lang, p, ext)
				if err != nil {
					return written, fmt.Errorf("install prompts: %w", err)
				}
				if err := put(p+"."+ext, b); err != nil {
					return written, err
				}
			}
		}
		if w := int(s.CallWarning / time.Second); w > 0 && !slices.Contains(WarningSeconds, w) {
			b, err := sounds.TimeLeftWAV(lang, w)
			if err != nil {
				return written, fmt.Errorf("install prompts: --call-warning %v: %w", s.CallWarning, err)
			}
			if err := put(WarningPrompt(w)+".wav", b); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}
