package pow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// src is the source (client network) of the tests' challenges.
const src = "192.0.2.0/24"

func newIssuer(t testing.TB, difficulty int) *Issuer {
	t.Helper()
	i, err := NewIssuer([]byte("0123456789abcdef0123456789abcdef"), difficulty, 5*time.Minute, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func solve(t testing.TB, c Challenge) string {
	t.Helper()
	s, err := Solve(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	iss := newIssuer(t, 8)
	other, _ := NewIssuer([]byte("another key, 16+ bytes long"), 8, 5*time.Minute, 100, 0)
	c := iss.Issue(src, t0)
	good := solve(t, c)
	seed, nonce, _ := strings.Cut(good, ":")
	// A nonce that does not meet the difficulty.
	bad := ""
	for n := 0; ; n++ {
		s := seed + ":x" + string(rune('a'+n%26)) + strings.Repeat("0", n/26)
		if LeadingZeroBits(hash(seed, s[len(seed)+1:])) < 8 {
			bad = s
			break
		}
	}
	forged := []byte(seed)
	forged[3] ^= 1
	tests := []struct {
		name     string
		iss      *Issuer
		solution string
		at       time.Time
		want     error
		from     string // source (default src)
	}{
		{"missing", iss, "", t0, ErrMissing, ""},
		{"no colon", iss, seed, t0, ErrBadSeed, ""},
		{"short seed", iss, "abc:1", t0, ErrBadSeed, ""},
		{"forged seed", iss, string(forged) + ":" + nonce, t0, ErrBadSeed, ""},
		{"other key", other, good, t0, ErrBadSeed, ""},
		{"nonce with CRLF", iss, seed + ":1\r\n", t0, ErrBadNonce, ""},
		{"nonce too long", iss, seed + ":" + strings.Repeat("1", 33), t0, ErrBadNonce, ""},
		{"not enough work", iss, bad, t0, ErrTooEasy, ""},
		{"expired", iss, good, t0.Add(5 * time.Minute), ErrExpired, ""},
		{"from another network", iss, good, t0, ErrBadSeed, "198.51.100.0/24"},
		{"good", iss, good, t0.Add(time.Minute), nil, ""},
		{"replayed", iss, good, t0.Add(2 * time.Minute), ErrSpent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := tt.from
			if from == "" {
				from = src
			}
			err := tt.iss.Verify(tt.solution, from, tt.at)
			if !errors.Is(err, tt.want) || (tt.want != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSpentPerSource: each source has its own bounded set of spent seeds;
// one source filling its set, or a flood of sources, never makes another
// visitor's valid solution fail (issue 11).
func TestSpentPerSource(t *testing.T) {
	iss, _ := NewIssuer(nil, 0, time.Minute, 3, 4)
	spend := func(source string, at time.Time) error {
		return iss.Verify(solve(t, iss.Issue(source, at)), source, at)
	}
	for i := 0; i < 3; i++ {
		if err := spend("attacker", t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := spend("attacker", t0); !errors.Is(err, ErrBusy) {
		t.Fatalf("4th solution of one source with room for 3: %v, want ErrBusy", err)
	}
	if err := spend("visitor", t0); err != nil {
		t.Fatalf("a visitor refused because of another source: %v", err)
	}
	// Once the spent seeds expire they are forgotten and there is room.
	later := t0.Add(2 * time.Minute)
	if err := spend("attacker", later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if seeds, sources := iss.Spent(); seeds != 2 || sources != 2 {
		t.Fatalf("Spent = %d seeds of %d sources, want 2 of 2", seeds, sources)
	}
	// A flood of sources (many /64s) evicts the least recently seen; the
	// visitor arriving now is served, and memory stays bounded.
	for i := 0; i < 1000; i++ {
		if err := spend(fmt.Sprintf("2001:db8:%x::/64", i), later); err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
	}
	if err := spend("visitor", later); err != nil {
		t.Fatalf("visitor after a flood of sources: %v", err)
	}
	if seeds, sources := iss.Spent(); sources != 4 || seeds > 4*3 {
		t.Fatalf("Spent = %d seeds of %d sources, want at most 4 sources", seeds, sources)
	}
}

func TestDifficultyRaised(t *testing.T) {
	easy := newIssuer(t, 0)
	c := easy.Issue(src, t0)
	// Same key, higher difficulty: an old easy challenge needs the new work.
	hard := newIssuer(t, 12)
	var sol string
	for n := 0; ; n++ {
		sol = c.Seed + ":" + string(rune('a'+n%26)) + strings.Repeat("b", n/26%30)
		if _, nonce, _ := strings.Cut(sol, ":"); LeadingZeroBits(hash(c.Seed, nonce)) < 12 {
			break
		}
	}
	if err := hard.Verify(sol, src, t0); !errors.Is(err, ErrTooEasy) {
		t.Fatalf("easy solution under raised difficulty: %v", err)
	}
}

func TestNewIssuerErrors(t *testing.T) {
	for _, tt := range []struct {
		key  []byte
		d    int
		ttl  time.Duration
		name string
	}{{[]byte("short"), 8, time.Minute, "short key"}, {nil, 33, time.Minute, "difficulty"}, {nil, 8, 0, "ttl"}} {
		if _, err := NewIssuer(tt.key, tt.d, tt.ttl, 0, 0); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestSolveCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Solve(ctx, Challenge{Seed: "x", Difficulty: 256}); err == nil {
		t.Fatal("Solve ignored its context")
	}
}

func FuzzVerify(f *testing.F) {
	iss := newIssuer(f, 4)
	c := iss.Issue(src, t0)
	f.Add(solve(f, c))
	f.Add(c.Seed + ":")
	f.Add(":1")
	f.Add("\x00:\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = iss.Verify(s, src, t0) // must not panic
	})
}

// BenchmarkVerify is the server's cost per request: one HMAC and one hash.
func BenchmarkVerify(b *testing.B) {
	iss, _ := NewIssuer(nil, 0, time.Hour, 0, 0)
	sols := make([]string, b.N)
	srcs := make([]string, b.N)
	for i := range sols {
		srcs[i] = fmt.Sprintf("2001:db8:%x::/64", i)
		sols[i] = solve(b, iss.Issue(srcs[i], t0))
	}
	b.ResetTimer()
	for i := range sols {
		if err := iss.Verify(sols[i], srcs[i], t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSolve16 is the client's cost at the default difficulty (Go, one core;
// a browser's WebCrypto is several times slower).
func BenchmarkSolve16(b *testing.B) {
	iss := newIssuer(b, 16)
	for i := 0; i < b.N; i++ {
		solve(b, iss.Issue(src, t0))
	}
}
