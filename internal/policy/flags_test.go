package policy

import (
	"flag"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in   string
		want Limit
		err  bool
	}{
		{"10/10m", Limit{N: 10, Per: 10 * time.Minute}, false},
		{" 3 / 1h ", Limit{N: 3, Per: time.Hour}, false},
		{"off", Limit{}, false},
		{"0", Limit{}, false},
		{"10", Limit{}, true},
		{"0/1m", Limit{}, true},
		{"-1/1m", Limit{}, true},
		{"5/0s", Limit{}, true},
		{"5/10ms", Limit{}, true},
		{"5/1000h", Limit{}, true},
		{"x/1m", Limit{}, true},
		{"5/abc", Limit{}, true},
	}
	for _, tt := range tests {
		got, err := ParseLimit(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
		if err == nil {
			if back, _ := ParseLimit(FormatLimit(got)); back != got {
				t.Errorf("FormatLimit(%v) = %q does not parse back", got, FormatLimit(got))
			}
		}
	}
}

func TestFlagValues(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(LimitValue(&cfg.PerIP), "limit-per-ip", "")
	fs.Var(ListValue(&cfg.AllowRegions), "allow-regions", "")
	fs.Var(ListValue(&cfg.DenyPrefixes), "deny-prefixes", "")
	fs.Var(TypesValue(&cfg.AllowedTypes), "allowed-number-types", "")
	if fs.Lookup("limit-per-ip").DefValue != "10/10m0s" || fs.Lookup("allowed-number-types").DefValue != "mobile,fixed_line,fixed_line_or_mobile" {
		t.Fatalf("defaults %q %q", fs.Lookup("limit-per-ip").DefValue, fs.Lookup("allowed-number-types").DefValue)
	}
	err := fs.Parse([]string{"-limit-per-ip", "4/1h", "-allow-regions", "HK, MO,", "-deny-prefixes", "+86170,+86171",
		"-allowed-number-types", "Mobile,fixed_line"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PerIP != (Limit{N: 4, Per: time.Hour}) || len(cfg.AllowRegions) != 2 || cfg.AllowRegions[1] != "MO" ||
		len(cfg.DenyPrefixes) != 2 || len(cfg.AllowedTypes) != 2 || cfg.AllowedTypes[0] != TypeMobile {
		t.Fatalf("parsed %+v", cfg)
	}
	if err := fs.Set("allowed-number-types", "mobile,satellite"); err == nil {
		t.Fatal("unknown type accepted")
	}
	if err := fs.Set("limit-per-ip", "lots"); err == nil {
		t.Fatal("bad limit accepted")
	}
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"10/10m", "off", "0", "3/1h", "1/1s", "x", "9999999/1m", "5/-1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimit(s)
		if err != nil {
			return
		}
		if !l.Off() && (l.N < 1 || l.Per < time.Second) {
			t.Fatalf("ParseLimit(%q) = %v", s, l)
		}
		if back, err := ParseLimit(FormatLimit(l)); err != nil || back != l {
			t.Fatalf("ParseLimit(%q) = %v does not round-trip: %v %v", s, l, back, err)
		}
	})
}
