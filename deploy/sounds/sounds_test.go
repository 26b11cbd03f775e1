package sounds

import (
	"slices"
	"strings"
	"testing"
)

func TestTimeLeftWords(t *testing.T) {
	for _, tc := range []struct {
		lang string
		secs int
		want string
	}{
		{"en", 5, "Pre Num5 Seconds Post"},
		{"en", 1, "Pre Num1 Second Post"},
		{"en", 25, "Pre Num20 Num5 Seconds Post"},
		{"en", 60, "Pre Num1 Minute Post"},
		{"en", 90, "Pre Num1 Minute And Num30 Seconds Post"},
		{"en", 3599, "Pre Num50 Num9 Minutes And Num50 Num9 Seconds Post"},
		{"zh", 5, "Pre Num5 Second"},
		{"zh", 15, "Pre Num10 Num5 Second"},
		{"zh", 20, "Pre Num2 Num10 Second"},
		{"zh", 120, "Pre Liang Minute"},
		{"zh", 122, "Pre Liang Minute Num2 Second"},
		{"zh", 1530, "Pre Num2 Num10 Num5 Minute Num3 Num10 Second"},
	} {
		got, err := TimeLeftWords(tc.lang, tc.secs)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s %d s: %v %v, want %s", tc.lang, tc.secs, got, err, tc.want)
		}
	}
	for _, bad := range []int{0, -1, MaxWarning + 1} {
		if _, err := TimeLeftWords("en", bad); err == nil {
			t.Errorf("%d s: no error", bad)
		}
	}
	if _, err := TimeLeftWords("fr", 5); err == nil {
		t.Error("fr: no error")
	}
}

// TestTimeLeftAnyValue: every warning a service can have is said from
// recorded words in both languages, as a wav like the shipped prompts,
// and no word file lies unused.
func TestTimeLeftAnyValue(t *testing.T) {
	for _, lang := range []string{"en", "zh"} {
		used := map[string]bool{}
		for secs := 1; secs <= MaxWarning; secs++ {
			words, _ := TimeLeftWords(lang, secs)
			for _, w := range words {
				used[w] = true
			}
			if secs%97 != 5 && secs != 1 && secs != MaxWarning {
				continue // composing every value is slow; the words are all checked
			}
			wav, err := TimeLeftWAV(lang, secs)
			if err != nil {
				t.Fatalf("%s %d s: %v", lang, secs, err)
			}
			pcm, err := pcmData(wav)
			if err != nil || len(pcm) < 2*(leadIn+8000/2) {
				t.Errorf("%s %d s: %d bytes of samples, %v", lang, secs, len(pcm), err)
			}
		}
		entries, err := files.ReadDir("words/" + lang)
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, e := range entries {
			have = append(have, strings.TrimSuffix(e.Name(), ".wav"))
		}
		for w := range used {
			if !slices.Contains(have, w) {
				t.Errorf("%s: word %s has no recording", lang, w)
			}
		}
		for _, w := range have {
			if !used[w] {
				t.Errorf("%s: words/%s/%s.wav is never used", lang, lang, w)
			}
		}
	}
}
