package config

import (
	"flag"
	"testing"
	"time"
	"webcallback/internal/policy"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in   string
		want policy.Limit
		err  bool
	}{
		{"10/10m", policy.Limit{N: 10, Per: 10 * time.Minute}, false},
		{" 3 / 1h ", policy.Limit{N: 3, Per: time.Hour}, false},
		{"off", policy.Limit{}, false},
		{"0", policy.Limit{}, false},
		{"10", policy.Limit{}, true},
		{"0/1m", policy.Limit{}, true},
		{"-1/1m", policy.Limit{}, true},
		{"5/0s", policy.Limit{}, true},
		{"5/10ms", policy.Limit{}, true},
		{"5/1000h", policy.Limit{}, true},
		{"x/1m", policy.Limit{}, true},
		{"5/abc", policy.Limit{}, true},
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
	cfg := policy.DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(limitValue{&cfg.PerIP}, "limit-per-ip", "")
	fs.Var(listValue{&cfg.AllowRegions}, "allow-regions", "")
	fs.Var(listValue{&cfg.DenyPrefixes}, "deny-prefixes", "")
	fs.Var(typesValue{&cfg.AllowedTypes}, "allowed-number-types", "")
	if fs.Lookup("limit-per-ip").DefValue != "10/10m0s" || fs.Lookup("allowed-number-types").DefValue != "mobile,fixed_line,fixed_line_or_mobile" {
		t.Fatalf("defaults %q %q", fs.Lookup("limit-per-ip").DefValue, fs.Lookup("allowed-number-types").DefValue)
	}
	err := fs.Parse([]string{"-limit-per-ip", "4/1h", "-allow-regions", "HK, MO,", "-deny-prefixes", "+86170,+86171",
		"-allowed-number-types", "Mobile,fixed_line"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PerIP != (policy.Limit{N: 4, Per: time.Hour}) || len(cfg.AllowRegions) != 2 || cfg.AllowRegions[1] != "MO" ||
		len(cfg.DenyPrefixes) != 2 || len(cfg.AllowedTypes) != 2 || cfg.AllowedTypes[0] != policy.TypeMobile {
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
