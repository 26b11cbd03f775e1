package policy

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkParseNumber(b *testing.B) {
	for _, s := range []string{"13800001001", "+86 (755) 1234-5678", "１３８００００１００１"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := ParseNumber(s, "CN", "00"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdmitRefused is the policy's cost of refusing a flood, by the
// check that refuses it (no store access on any of these paths).
func BenchmarkAdmitRefused(b *testing.B) {
	tests := []struct {
		name string
		edit func(*Config)
		in   func(i int) Input
	}{
		{"per_ip", nil, func(i int) Input { return in(mobile("138", i%1e8), "13900001001", "192.0.2.1") }},
		{"pow_missing", func(c *Config) { c.PoW = PoWAlways; c.Limits = false },
			func(i int) Input { return in("13800001001", "13900001001", "192.0.2.1") }},
		{"invalid_number", func(c *Config) { c.Limits = false },
			func(i int) Input { return in("13800001001", fmt.Sprintf("1390000%d&x", i), "192.0.2.1") }},
		{"destination", func(c *Config) { c.Limits = false },
			func(i int) Input { return in("13800001001", "+44 20 7946 0018", "192.0.2.1") }},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			g, _, _ := newGuard(b, nil, tt.edit)
			ctx := context.Background()
			for i := 0; i < 20; i++ { // use up what may pass
				g.Admit(ctx, tt.in(i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ref, _ := g.Admit(ctx, tt.in(i)); ref == nil {
					b.Fatal("admitted")
				}
			}
		})
	}
}
