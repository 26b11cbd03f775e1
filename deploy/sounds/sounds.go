// Package sounds holds the kit's prompts, embedded so that
// `webcallback asterisk-config --install` puts them in place from the binary
// alone, and composes the warning before the talk limit for any number of
// seconds from recorded words (words/<lang>/), so no warning ever falls back
// to Asterisk's English core sounds.
//
// The files are made by generate.sh from text/<lang>.txt and
// words/<lang>.txt (espeak-ng and sox).
package sounds

import (
	"bytes"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
)

//go:embed zh en words
var files embed.FS

// Read returns the prompt file <lang>/<name>.<ext> as shipped.
func Read(lang, name, ext string) ([]byte, error) {
	b, err := fs.ReadFile(files, lang+"/"+name+"."+ext)
	if err != nil {
		return nil, fmt.Errorf("sounds: %w", err)
	}
	return b, nil
}

// MaxWarning is the longest warning TimeLeftWords can say: a warning is
// shorter than the talk limit, which is at most an hour.
const MaxWarning = 3599

// TimeLeftWords names the recorded words that say "you have <secs> left"
// in lang: "Pre Num1 Minute And Num30 Seconds Post" in English, "Pre Num1
// Minute Num10 Num5 Second" (您的通话还剩 一 分钟 十 五 秒) in Chinese.
func TimeLeftWords(lang string, secs int) ([]string, error) {
	if secs < 1 || secs > MaxWarning {
		return nil, fmt.Errorf("sounds: a warning of %d s: want 1 to %d", secs, MaxWarning)
	}
	m, s := secs/60, secs%60
	switch lang {
	case "en":
		w := []string{"Pre"}
		if m > 0 {
			w = append(append(w, enNumber(m)...), plural(m, "Minute", "Minutes"))
			if s > 0 {
				w = append(w, "And")
			}
		}
		if s > 0 {
			w = append(append(w, enNumber(s)...), plural(s, "Second", "Seconds"))
		}
		return append(w, "Post"), nil
	case "zh":
		w := []string{"Pre"}
		if m > 0 {
			w = append(append(w, zhNumber(m, true)...), "Minute")
		}
		if s > 0 {
			w = append(append(w, zhNumber(s, false)...), "Second")
		}
		return w, nil
	}
	return nil, fmt.Errorf("sounds: no words for language %q", lang)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// enNumber says 1..59: "Num20 Num5" for 25.
func enNumber(n int) []string {
	if n < 20 || n%10 == 0 {
		return []string{fmt.Sprint("Num", n)}
	}
	return []string{fmt.Sprint("Num", n/10*10), fmt.Sprint("Num", n%10)}
}

// zhNumber says 1..59: 十五 = Num10 Num5, 二十五 = Num2 Num10 Num5; a lone
// 2 before a measure word (两分钟) is Liang.
func zhNumber(n int, measure bool) []string {
	switch {
	case n == 2 && measure:
		return []string{"Liang"}
	case n < 10:
		return []string{fmt.Sprint("Num", n)}
	}
	var w []string
	if n >= 20 {
		w = append(w, fmt.Sprint("Num", n/10))
	}
	w = append(w, "Num10")
	if n%10 != 0 {
		w = append(w, fmt.Sprint("Num", n%10))
	}
	return w
}

// leadIn is the silence before a composed prompt, as generate.sh pads the
// recorded ones: a late media path does not clip the first syllable.
const leadIn = 8000 / 4 // samples: 0.25 s at 8 kHz

// TimeLeftWAV composes the warning "you have <secs> left" in lang as a
// wav file like the shipped prompts (8 kHz mono 16-bit PCM).
func TimeLeftWAV(lang string, secs int) ([]byte, error) {
	words, err := TimeLeftWords(lang, secs)
	if err != nil {
		return nil, err
	}
	pcm := make([]byte, 2*leadIn)
	for _, w := range words {
		b, err := fs.ReadFile(files, "words/"+lang+"/"+w+".wav")
		if err != nil {
			return nil, fmt.Errorf("sounds: %w", err)
		}
		data, err := pcmData(b)
		if err != nil {
			return nil, fmt.Errorf("sounds: words/%s/%s.wav: %w", lang, w, err)
		}
		pcm = append(pcm, data...)
	}
	return wavFile(pcm), nil
}

// pcmData returns the samples of an 8 kHz mono 16-bit PCM wav.
func pcmData(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF WAVE file")
	}
	format := false
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		if size > len(body) {
			return nil, fmt.Errorf("chunk %q runs past the end", id)
		}
		switch id {
		case "fmt ":
			want := []byte{1, 0, 1, 0, 0x40, 0x1f, 0, 0} // PCM, mono, 8000 Hz
			if size < 16 || !bytes.Equal(body[:8], want) || binary.LittleEndian.Uint16(body[14:]) != 16 {
				return nil, errors.New("not 8 kHz mono 16-bit PCM")
			}
			format = true
		case "data":
			if !format {
				return nil, errors.New("data before fmt")
			}
			return body[:size], nil
		}
		p += 8 + size + size%2
	}
	return nil, errors.New("no data chunk")
}

// wavFile wraps 8 kHz mono 16-bit samples in a RIFF WAVE header.
func wavFile(pcm []byte) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + len(pcm)))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))        // PCM
	le(uint16(1))        // mono
	le(uint32(8000))     // rate
	le(uint32(8000 * 2)) // bytes per second
	le(uint16(2))        // block align
	le(uint16(16))       // bits
	b.WriteString("data")
	le(uint32(len(pcm)))
	b.Write(pcm)
	return b.Bytes()
}
