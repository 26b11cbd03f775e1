package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in       string
		e164     string
		dial     string
		typ      NumberType
		region   string
		prefix   string
		national string
	}{
		{in: "13800001001", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN", prefix: "+861380000"},
		{in: "138 0000 1001", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"},
		{in: "138-0000-1001", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"},
		{in: "+86 138 0000 1001", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"},
		{in: "0086 13800001001", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"},
		{in: "+86-(138)-0000.1001", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"},
		{in: "１３８００００１００１", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"}, // full-width
		{in: "＋８６　１３８－００００－１００１", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"},
		{in: "١٣٨٠٠٠٠١٠٠١", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"}, // Arabic-Indic
		{in: "१३८००००१००१", e164: "+8613800001001", dial: "13800001001", typ: TypeMobile, region: "CN"}, // Devanagari
		{in: "13811111234", e164: "+8613811111234", dial: "13811111234", typ: TypeMobile, region: "CN"},
		{in: "13855550100", e164: "+8613855550100", dial: "13855550100", typ: TypeMobile, region: "CN"},
		{in: "13877771234", e164: "+8613877771234", dial: "13877771234", typ: TypeMobile, region: "CN"},
		{in: "010 12345678", e164: "+861012345678", dial: "01012345678", typ: TypeFixedLine, region: "CN", prefix: "+86101234"},
		{in: "(010) 1234-5678", e164: "+861012345678", dial: "01012345678", typ: TypeFixedLine, region: "CN"},
		{in: "0755-1234 5678", e164: "+8675512345678", dial: "075512345678", typ: TypeFixedLine, region: "CN"},
		{in: "+86 755 1234 5678", e164: "+8675512345678", dial: "075512345678", typ: TypeFixedLine, region: "CN"},
		{in: "021-6212 3456", e164: "+862162123456", dial: "02162123456", typ: TypeFixedLine, region: "CN"},
		{in: "400 810 8888", e164: "+864008108888", dial: "4008108888", region: "CN"}, // CN 400: shared cost/UAN class
		{in: "800 810 8888", e164: "+868008108888", dial: "8008108888", typ: TypeTollFree, region: "CN"},
		{in: "+44 20 7946 0018", e164: "+442079460018", dial: "00442079460018", typ: TypeFixedLine, region: "GB"},
		{in: "+852 5123 4567", e164: "+85251234567", dial: "0085251234567", region: "HK"},
		{in: "+1 900 555 0199", e164: "+19005550199", dial: "0019005550199", typ: TypePremiumRate, region: "US"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseNumber(tt.in, "CN", "00")
			if err != nil {
				t.Fatalf("ParseNumber(%q): %v", tt.in, err)
			}
			if n.E164 != tt.e164 || n.Dial != tt.dial || n.Region != tt.region {
				t.Errorf("ParseNumber(%q) = %+v, want E164 %s Dial %s Region %s", tt.in, n, tt.e164, tt.dial, tt.region)
			}
			if tt.typ != "" && n.Type != tt.typ {
				t.Errorf("ParseNumber(%q).Type = %s, want %s", tt.in, n.Type, tt.typ)
			}
			if tt.prefix != "" && n.Prefix != tt.prefix {
				t.Errorf("ParseNumber(%q).Prefix = %s, want %s", tt.in, n.Prefix, tt.prefix)
			}
		})
	}
}

func TestParseNumberRefuses(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"spaces", "   "},
		{"letters", "1-800-FLOWERS"},
		{"vanity CN", "138ABCDEFGH"},
		{"extension", "010 12345678 ext. 12"},
		{"extension semicolon", "13800001001;ext=1"},
		{"CRLF", "13800001001\r\nAction: Originate"},
		{"LF", "13800001001\n"},
		{"NUL", "13800001001\x00"},
		{"ampersand", "13800001001&13800001002"},
		{"comma", "13800001001,1"},
		{"pipe", "13800001001|1"},
		{"slash", "PJSIP/13800001001"},
		{"at", "13800001001@gateway"},
		{"semicolon", "13800001001;"},
		{"hash star", "*13800001001#"},
		{"sql", "13800001001' OR '1'='1"},
		{"html", "<script>13800001001</script>"},
		{"too short", "123"},
		{"too long", strings.Repeat("1", 65)},
		{"5000 digits", strings.Repeat("9", 5000)},
		{"invalid CN", "12345678901"},
		{"bad UTF-8", "138\xff00001001"},
		{"unicode letters", "１３８ⅠⅡ"},
		{"plus only", "+"},
		{"zero cc", "+0 13800001001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseNumber(tt.in, "CN", "00")
			if err == nil {
				t.Fatalf("ParseNumber(%q) = %+v, want error", tt.in, n)
			}
			if !errors.Is(err, ErrInvalidNumber) {
				t.Errorf("ParseNumber(%q) error %v does not wrap ErrInvalidNumber", tt.in, err)
			}
		})
	}
}

func TestDigitValue(t *testing.T) {
	for _, zero := range []rune{'0', '٠', '۰', '०', '০', '๐', '０', '𝟎', '𝟘', '𝟢', '𝟬', '𝟶'} {
		for d := rune(0); d < 10; d++ {
			if got := digitValue(zero + d); got != byte(d) {
				t.Errorf("digitValue(%U) = %d, want %d", zero+d, got, d)
			}
		}
	}
}

// FuzzParseNumber: whatever comes in, ParseNumber never panics, and what
// it accepts is E.164 with a digits-only dial string: nothing typed can
// reach an AMI action except digits.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"13800001001", "+86 138 0000 1001", "0086-10-12345678", "１３８００００１００１",
		"13800001001\r\nAction: Originate", "138,0000;1001", "+44 20 7946 0018", "(0755) 1234-5678", "٠١٢", "+",
		strings.Repeat("8", 70)} {
		f.Add(s, "CN")
	}
	f.Add("2025550123", "US")
	f.Fuzz(func(t *testing.T, s, region string) {
		n, err := ParseNumber(s, region, "00")
		if err != nil {
			return
		}
		if !isE164(n.E164) {
			t.Fatalf("ParseNumber(%q) E164 %q not E.164", s, n.E164)
		}
		if n.Dial == "" || digitsOnly(n.Dial) != n.Dial {
			t.Fatalf("ParseNumber(%q) Dial %q not digits", s, n.Dial)
		}
		if !strings.HasPrefix(n.E164, n.Prefix) {
			t.Fatalf("ParseNumber(%q) Prefix %q not a prefix of %q", s, n.Prefix, n.E164)
		}
		again, err := ParseNumber(n.E164, region, "00")
		if err != nil || again.E164 != n.E164 {
			t.Fatalf("E164 %q of %q does not parse back: %v %+v", n.E164, s, err, again)
		}
	})
}

// TestInternationalPrefix: the configured exit prefix, not a hard-coded
// "00", goes before the country code of numbers outside the home region.
func TestInternationalPrefix(t *testing.T) {
	for _, c := range []struct{ region, prefix, in, dial string }{
		{"CN", "00", "+85291234567", "0085291234567"},
		{"US", "011", "+85291234567", "01185291234567"},
		{"US", "011", "+12015550123", "2015550123"},
	} {
		n, err := ParseNumber(c.in, c.region, c.prefix)
		if err != nil || n.Dial != c.dial {
			t.Errorf("ParseNumber(%q, %s, %s) = %q, %v; want dial %s", c.in, c.region, c.prefix, n.Dial, err, c.dial)
		}
	}
	for _, bad := range []string{"", "00;x", "+00", "00000"} {
		if CheckInternationalPrefix(bad) == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
	for _, bad := range []string{"", "XX", "cn", "CHN"} {
		if CheckRegion(bad) == nil {
			t.Errorf("region %q accepted", bad)
		}
	}
}

func TestDisplayNumber(t *testing.T) {
	for _, tc := range []struct{ e164, region, want string }{
		{"+8613800001001", "CN", "138 0000 1001"},
		{"+861065529988", "CN", "010 6552 9988"},
		{"+441632960123", "CN", "+44 1632 960123"},
		{"+442079460123", "GB", "020 7946 0123"},
		{"not a number", "CN", "not a number"},
	} {
		if got := DisplayNumber(tc.e164, tc.region); got != tc.want {
			t.Errorf("DisplayNumber(%q, %s) = %q, want %q", tc.e164, tc.region, got, tc.want)
		}
	}
}
