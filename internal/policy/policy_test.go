package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/policy/pow"
	"webcallback/internal/store"
	"webcallback/internal/store/storetest"
	"webcallback/internal/testenv"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// newGuard returns a guard over a fresh store; edit changes the defaults.
func newGuard(t testing.TB, rules *store.Rules, edit func(*Config)) (*Guard, *store.DB, *testenv.Clock) {
	t.Helper()
	clk := testenv.NewClock(t0)
	cfg := DefaultConfig()
	cfg.PoW = PoWOff
	cfg.Now = clk.Now
	if edit != nil {
		edit(&cfg)
	}
	st := storetest.SQLite(t)
	g, err := New(cfg, st, rules, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g, st, clk
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func in(caller, callee, addr string) Input {
	return Input{Caller: caller, Callee: callee, ClientIP: ip(addr), Lang: "en"}
}

// mobile returns the 11-digit CN mobile number prefix followed by n.
func mobile(prefix string, n int) string { return fmt.Sprintf("%s%0*d", prefix, 11-len(prefix), n) }

func TestAdmitAccepts(t *testing.T) {
	g, st, _ := newGuard(t, nil, nil)
	req, ref, err := g.Admit(context.Background(), Input{Caller: "138 0000 1001", Callee: "(010) 1234-5678",
		ClientIP: ip("::ffff:192.0.2.7"), Lang: "en"})
	if err != nil || ref != nil {
		t.Fatalf("Admit: %v %v", ref, err)
	}
	want := callback.Request{Caller: "+8613800001001", Callee: "+861012345678", State: callback.StateQueued,
		CallerDial: "13800001001", CalleeDial: "01012345678", Lang: "en", ClientIP: "192.0.2.7", CreatedAt: t0}
	if req.Caller != want.Caller || req.Callee != want.Callee || req.State != want.State || req.CallerDial != want.CallerDial ||
		req.CalleeDial != want.CalleeDial || req.Lang != want.Lang || req.ClientIP != want.ClientIP || !req.CreatedAt.Equal(t0) {
		t.Fatalf("request %+v, want %+v", req, want)
	}
	if len(req.ID) != 36 || len(req.History) != 1 || req.History[0].State != callback.StateQueued {
		t.Fatalf("request id %q history %v", req.ID, req.History)
	}
	got, err := st.GetRequest(context.Background(), req.ID)
	if err != nil || got.Caller != want.Caller || got.CalleeDial != want.CalleeDial {
		t.Fatalf("stored request %+v, %v", got, err)
	}
}

func TestAdmitRefuses(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		in    Input
		code  callback.Reason
		field string
	}{
		{"invalid caller", nil, in("12345", "13800001002", "192.0.2.1"), callback.ReasonInvalidNumber, "caller"},
		{"invalid callee", nil, in("13800001001", "138000010020000", "192.0.2.1"), callback.ReasonInvalidNumber, "callee"},
		{"empty callee", nil, in("13800001001", "", "192.0.2.1"), callback.ReasonInvalidNumber, "callee"},
		{"CRLF in callee", nil, in("13800001001", "13800001002\r\nAction: Originate", "192.0.2.1"), callback.ReasonInvalidNumber, "callee"},
		{"dial-string chars", nil, in("13800001001", "13800001002&PJSIP/999@evil", "192.0.2.1"), callback.ReasonInvalidNumber, "callee"},
		{"same number", nil, in("13800001001", "+86 138-0000-1001", "192.0.2.1"), callback.ReasonSameNumber, "callee"},
		{"same number 0086", nil, in("008613800001001", "13800001001", "192.0.2.1"), callback.ReasonSameNumber, "callee"},
		{"toll free", nil, in("13800001001", "800 810 8888", "192.0.2.1"), callback.ReasonDestinationNotAllowed, "callee"},
		{"CN 400", nil, in("13800001001", "400 810 8888", "192.0.2.1"), callback.ReasonDestinationNotAllowed, "callee"},
		{"premium abroad", nil, in("13800001001", "+1 900 555 0199", "192.0.2.1"), callback.ReasonDestinationNotAllowed, "callee"},
		{"abroad (IRSF)", nil, in("13800001001", "+44 20 7946 0018", "192.0.2.1"), callback.ReasonDestinationNotAllowed, "callee"},
		{"caller abroad", nil, in("+44 20 7946 0018", "13800001001", "192.0.2.1"), callback.ReasonDestinationNotAllowed, "caller"},
		{"denied prefix wins over home", func(c *Config) { c.DenyPrefixes = []string{"+86138000"} },
			in("13900001001", "13800001002", "192.0.2.1"), callback.ReasonDestinationNotAllowed, "callee"},
		{"honeypot", nil, Input{Caller: "13800001001", Callee: "13800001002", ClientIP: ip("192.0.2.1"), Honeypot: "http://spam"},
			callback.ReasonNotEligible, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, st, _ := newGuard(t, nil, tt.edit)
			req, ref, err := g.Admit(context.Background(), tt.in)
			if err != nil || req != nil || ref == nil {
				t.Fatalf("Admit = %v, %v, %v; want a refusal", req, ref, err)
			}
			if ref.Code != tt.code || ref.Field != tt.field {
				t.Fatalf("refusal %+v, want %s field %q", ref, tt.code, tt.field)
			}
			if rs, _ := st.ListRequests(context.Background(), store.RequestFilter{}); len(rs) != 0 {
				t.Fatalf("refused request stored: %v", rs)
			}
		})
	}
}

func TestDestinationSettings(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		callee string
		ok     bool
	}{
		{"GB refused by default", nil, "+44 20 7946 0018", false},
		{"GB allowed by region", func(c *Config) { c.AllowRegions = []string{"gb"} }, "+44 20 7946 0018", true},
		{"GB allowed by prefix", func(c *Config) { c.AllowPrefixes = []string{"+4420"} }, "+44 20 7946 0018", true},
		{"any region", func(c *Config) { c.AllowRegions = []string{"*"} }, "+44 20 7946 0018", true},
		{"any region still not premium", func(c *Config) { c.AllowRegions = []string{"*"} }, "+1 900 555 0199", false},
		{"toll free when listed", func(c *Config) { c.AllowedTypes = append(c.AllowedTypes, TypeTollFree) }, "800 810 8888", true},
		{"deny beats allow", func(c *Config) { c.AllowRegions = []string{"*"}; c.DenyPrefixes = []string{"+44"} }, "+44 20 7946 0018", false},
		{"international dial prefix", func(c *Config) { c.AllowRegions = []string{"GB"}; c.InternationalPrefix = "011" }, "+44 20 7946 0018", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := newGuard(t, nil, tt.edit)
			req, ref, err := g.Admit(context.Background(), in("13800001001", tt.callee, "192.0.2.1"))
			if err != nil {
				t.Fatal(err)
			}
			if (ref == nil) != tt.ok {
				t.Fatalf("Admit(%s) refusal %v, want ok=%v", tt.callee, ref, tt.ok)
			}
			if ref != nil && ref.Code != callback.ReasonDestinationNotAllowed {
				t.Fatalf("refusal %+v", ref)
			}
			if req != nil && strings.Trim(req.CalleeDial, "0123456789") != "" {
				t.Fatalf("dial %q", req.CalleeDial)
			}
			if tt.name == "international dial prefix" && req.CalleeDial != "011442079460018" {
				t.Fatalf("dial %q", req.CalleeDial)
			}
		})
	}
}

// attempt describes one request of a limit scenario.
type attempt struct {
	caller, callee, addr string
	wantCode             callback.Reason // "" = admitted
	wantField            string
}

func runAttempts(t *testing.T, g *Guard, atts []attempt) {
	t.Helper()
	for i, a := range atts {
		req, ref, err := g.Admit(context.Background(), in(a.caller, a.callee, a.addr))
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		switch {
		case a.wantCode == "" && ref != nil:
			t.Fatalf("attempt %d (%+v): refused %+v", i, a, ref)
		case a.wantCode != "" && ref == nil:
			t.Fatalf("attempt %d (%+v): admitted %s, want %s", i, a, req.ID, a.wantCode)
		case ref != nil && (ref.Code != a.wantCode || ref.Field != a.wantField):
			t.Fatalf("attempt %d (%+v): refusal %+v, want %s field %q", i, a, ref, a.wantCode, a.wantField)
		case ref != nil && ref.Code == callback.ReasonRateLimited:
			if ref.RetryAfter < time.Second ||
				!ref.RetryAt.After(t0) {
				t.Fatalf("attempt %d: rate limit without Retry-After: %+v", i, ref)
			}
		}
	}
}

// distinct gives each attempt its own numbers and address unless set.
func seq(n int, f func(i int) attempt) []attempt {
	out := make([]attempt, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestLimits(t *testing.T) {
	const rl = callback.ReasonRateLimited
	small := func(c *Config) {
		c.PerIP = Limit{N: 3, Per: time.Hour}
		c.PerSubnet = Limit{N: 5, Per: time.Hour}
		c.PerCaller = Limit{N: 2, Per: time.Hour}
		c.PerCallee = Limit{N: 2, Per: time.Hour}
		c.PerPrefix = Limit{N: 4, Per: time.Hour}
	}
	tests := []struct {
		name string
		edit func(*Config)
		atts []attempt
	}{
		{"per IP", small, append(seq(3, func(i int) attempt {
			return attempt{mobile("1380000", i), mobile("1390000", i*1000), "192.0.2.1", "", ""}
		}), attempt{"13800009999", "13900009999", "192.0.2.1", rl, ""})},
		{"per IP counts invalid input too", small, append(seq(3, func(i int) attempt {
			return attempt{"junk", "13900001000", "192.0.2.1", callback.ReasonInvalidNumber, "caller"}
		}), attempt{"13800001001", "13900001000", "192.0.2.1", rl, ""})},
		{"per subnet /24", small, append(seq(5, func(i int) attempt {
			return attempt{mobile("138", i*10000), mobile("139", i*10000), fmt.Sprintf("192.0.2.%d", i+1), "", ""}
		}), attempt{"13700001001", "13600001001", "192.0.2.200", rl, ""})},
		{"per subnet /64", small, append(seq(5, func(i int) attempt {
			return attempt{mobile("138", i*10000), mobile("139", i*10000), fmt.Sprintf("2001:db8::%x", i+1), "", ""}
		}), attempt{"13700001001", "13600001001", "2001:db8::ffff:1", rl, ""})},
		{"other subnet unaffected", small, append(seq(6, func(i int) attempt {
			a := attempt{mobile("138", i*10000), mobile("139", i*10000), fmt.Sprintf("192.0.2.%d", i+1), "", ""}
			if i == 5 {
				a.wantCode = rl
			}
			return a
		}), attempt{"13700001001", "13600001001", "198.51.100.1", "", ""})},
		{"per callee (call bombing)", small, append(seq(2, func(i int) attempt {
			return attempt{mobile("138", i*10000), "13900001001", fmt.Sprintf("198.51.%d.1", i), "", ""}
		}), attempt{"13700001001", "13900001001", "203.0.113.1", rl, "callee"})},
		{"per caller", small, append(seq(2, func(i int) attempt {
			return attempt{"13800001001", mobile("139", i*10000), fmt.Sprintf("198.51.%d.1", i), "", ""}
		}), attempt{"13800001001", "13700001001", "203.0.113.1", rl, "caller"})},
		{"per prefix (enumeration)", small, append(seq(4, func(i int) attempt {
			return attempt{mobile("13", i*1000000), mobile("1390000", i), fmt.Sprintf("198.51.%d.1", i), "", ""}
		}), attempt{"13700001001", "13900000077", "203.0.113.1", rl, "callee"})},
		{"limits off", func(c *Config) { small(c); c.Limits = false }, seq(20, func(i int) attempt {
			return attempt{mobile("1380000", i), "13900001001", "192.0.2.1", "", ""}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := newGuard(t, nil, tt.edit)
			runAttempts(t, g, tt.atts)
		})
	}
}

func TestLimitBackoffAndRecovery(t *testing.T) {
	g, _, clk := newGuard(t, nil, func(c *Config) {
		c.PerIP = Limit{N: 1, Per: time.Minute}
		c.BackoffBase, c.BackoffMax = 2*time.Minute, 8*time.Minute
	})
	try := func(i int) *Refusal {
		_, ref, err := g.Admit(context.Background(), in(mobile("1380000", i), mobile("1390000", i), "192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	if ref := try(0); ref != nil {
		t.Fatal(ref)
	}
	var waits []time.Duration
	for i := 1; i <= 3; i++ {
		ref := try(i * 10)
		if ref == nil {
			t.Fatalf("strike %d admitted", i)
		}
		waits = append(waits, ref.RetryAfter)
		clk.Add(ref.RetryAfter)
		if ref := try(i*10 + 1); ref != nil {
			t.Fatalf("after Retry-After %v still refused: %+v", waits[len(waits)-1], ref)
		}
	}
	if fmt.Sprint(waits) != "[2m0s 4m0s 8m0s]" {
		t.Fatalf("backoff %v", waits)
	}
}

func TestEligibilityFromStore(t *testing.T) {
	rules := &store.Rules{CallerAttemptsPerDay: 1, Location: time.UTC}
	g, _, _ := newGuard(t, rules, nil)
	runAttempts(t, g, []attempt{
		{"13800001001", "13900001001", "192.0.2.1", "", ""},
		{"13800001001", "13900002002", "198.51.100.1", callback.ReasonNotEligible, "caller"},
	})
	_, ref, _ := g.Admit(context.Background(), in("13800001001", "13900003003", "203.0.113.1"))
	if ref.Code != callback.ReasonNotEligible || ref.RetryAt.IsZero() || ref.RetryAfter <= 0 {
		t.Fatalf("not eligible refusal %+v: want not_eligible with the time of the next day", ref)
	}
	// --limits off: eligibility off too.
	g, _, _ = newGuard(t, rules, func(c *Config) { c.Limits = false })
	runAttempts(t, g, []attempt{
		{"13800001001", "13900001001", "192.0.2.1", "", ""},
		{"13800001001", "13900002002", "192.0.2.1", "", ""},
	})
}

func TestDailyBudget(t *testing.T) {
	g, _, clk := newGuard(t, nil, func(c *Config) {
		c.DailyMinutes = 12
		c.CallLimit = 5 * time.Minute
	})
	runAttempts(t, g, []attempt{
		{"13800001001", "13900001001", "192.0.2.1", "", ""},
		{"13800002002", "13900002002", "192.0.2.2", "", ""},
		{"13800003003", "13900003003", "192.0.2.3", callback.ReasonSystemBusy, ""},
	})
	_, ref, _ := g.Admit(context.Background(), in("13800004004", "13900004004", "192.0.2.4"))
	if ref == nil || ref.Code != callback.ReasonSystemBusy || !ref.RetryAt.Equal(t0.Truncate(24*time.Hour).Add(24*time.Hour)) {
		t.Fatalf("budget refusal %+v", ref)
	}
	// The reservations of calls that have surely ended lapse (their CDRs,
	// none here, would count instead).
	clk.Add(16 * time.Minute)
	runAttempts(t, g, []attempt{{"13800005005", "13900005005", "192.0.2.5", "", ""}})
}

func TestProofOfWork(t *testing.T) {
	g, _, clk := newGuard(t, nil, func(c *Config) { c.PoW = PoWAlways; c.PoWDifficulty = 8 })
	ctx := context.Background()
	_, ref, _ := g.Admit(ctx, in("13800001001", "13900001001", "192.0.2.1"))
	if ref == nil || ref.Code != callback.ReasonRateLimited || ref.Field != "pow" || ref.Challenge == nil ||
		!ref.Challenge.Required || ref.RetryAfter != time.Second {
		t.Fatalf("without solution: %+v", ref)
	}
	sol, err := pow.Solve(ctx, *ref.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	i := in("13800001001", "13900001001", "192.0.2.1")
	i.PoW = sol
	if _, ref, err := g.Admit(ctx, i); ref != nil || err != nil {
		t.Fatalf("with solution: %+v %v", ref, err)
	}
	i.Caller = "13800002002"
	if _, ref, _ := g.Admit(ctx, i); ref == nil || ref.Field != "pow" {
		t.Fatalf("replayed solution: %+v", ref)
	}
	c := g.Challenge(netip.MustParseAddr("192.0.2.1"), clk.Now())
	clk.Add(6 * time.Minute)
	i.PoW, _ = pow.Solve(ctx, c)
	if _, ref, _ := g.Admit(ctx, i); ref == nil || ref.Field != "pow" {
		t.Fatalf("expired solution: %+v", ref)
	}
}

func TestProofOfWorkAuto(t *testing.T) {
	g, _, clk := newGuard(t, nil, func(c *Config) {
		c.PoW = PoWAuto
		c.PoWAutoRate = 5
		c.PoWAutoHold = 10 * time.Minute
		c.PerIP = Limit{} // the load comes from one address here
		c.PerSubnet = Limit{}
	})
	if g.Challenge(netip.MustParseAddr("192.0.2.1"), clk.Now()).Required {
		t.Fatal("required when idle")
	}
	atts := seq(5, func(i int) attempt {
		return attempt{mobile("1380000", i), mobile("1390000", i), "192.0.2.1", "", ""}
	})
	atts = append(atts, attempt{"13800009999", "13900009999", "192.0.2.1", callback.ReasonRateLimited, "pow"})
	runAttempts(t, g, atts)
	if !g.Challenge(netip.MustParseAddr("192.0.2.1"), clk.Now()).Required {
		t.Fatal("not required under load")
	}
	clk.Add(5 * time.Minute)
	if !g.Challenge(netip.MustParseAddr("192.0.2.1"), clk.Now()).Required {
		t.Fatal("not held")
	}
	clk.Add(6 * time.Minute)
	if g.Challenge(netip.MustParseAddr("192.0.2.1"), clk.Now()).Required {
		t.Fatal("still required after the hold")
	}
	// Auto stays off with --limits off (load tests).
	g, _, clk = newGuard(t, nil, func(c *Config) { c.PoW = PoWAuto; c.PoWAutoRate = 1; c.Limits = false })
	runAttempts(t, g, seq(5, func(i int) attempt {
		return attempt{mobile("1380000", i), mobile("1390000", i), "192.0.2.1", "", ""}
	}))
}

func TestStoreFailure(t *testing.T) {
	g, st, _ := newGuard(t, nil, func(c *Config) { c.DailyMinutes = 0 })
	st.Close()
	req, ref, err := g.Admit(context.Background(), in("13800001001", "13900001001", "192.0.2.1"))
	if err == nil || req != nil || ref != nil {
		t.Fatalf("Admit on a closed store = %v %v %v, want an error", req, ref, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"region", func(c *Config) { c.Region = "XX1" }},
		{"empty region", func(c *Config) { c.Region = "" }},
		{"type", func(c *Config) { c.AllowedTypes = []NumberType{"satellite"} }},
		{"prefix", func(c *Config) { c.DenyPrefixes = []string{"86"} }},
		{"prefix chars", func(c *Config) { c.AllowPrefixes = []string{"+86&"} }},
		{"intl prefix", func(c *Config) { c.InternationalPrefix = "+" }},
		{"pow", func(c *Config) { c.PoW = "sometimes" }},
		{"pow difficulty", func(c *Config) { c.PoWDifficulty = 99 }},
		{"subnet", func(c *Config) { c.SubnetV4Bits = 40 }},
		{"budget", func(c *Config) { c.CallLimit = 0 }},
	}
	st := storetest.SQLite(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			if _, err := New(cfg, st, nil, nil); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
	if _, err := New(DefaultConfig(), nil, nil, nil); err == nil {
		t.Fatal("New accepted no store")
	}
	if _, err := New(DefaultConfig(), st, nil, nil); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
}

func TestRefusalError(t *testing.T) {
	r := &Refusal{Code: callback.ReasonRateLimited, Detail: "per-IP limit"}
	var err error = r
	var got *Refusal
	if !errors.As(err, &got) || !strings.Contains(err.Error(), "rate_limited") {
		t.Fatalf("Error() = %q", err.Error())
	}
}

// TestDailyBudgetConcurrent: concurrent requests cannot overrun the budget
// together, and a request refused later (not eligible) gives its
// reservation back.
func TestDailyBudgetConcurrent(t *testing.T) {
	rules := &store.Rules{CallerAttemptsPerDay: 1, Location: time.UTC}
	g, _, _ := newGuard(t, rules, func(c *Config) {
		c.DailyMinutes = 15
		c.CallLimit = 5 * time.Minute
	})
	// Not eligible after its first request: the second must not hold budget.
	runAttempts(t, g, []attempt{
		{"13800001001", "13900001001", "192.0.2.1", "", ""},
		{"13800001001", "13900002002", "192.0.2.2", callback.ReasonNotEligible, "caller"},
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, busy := 0, 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ref, err := g.Admit(context.Background(), in(mobile("137", i*10000), mobile("136", i*10000), fmt.Sprintf("198.51.100.%d", i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case ref == nil:
				admitted++
			case ref.Code == callback.ReasonSystemBusy:
				busy++
			default:
				t.Errorf("refusal %+v", ref)
			}
		}()
	}
	wg.Wait()
	if admitted != 2 || busy != 18 {
		t.Fatalf("%d admitted, %d busy; want 2 and 18 (15 min budget, 5 min calls, one already admitted)", admitted, busy)
	}
}

// TestProofOfWorkAutoIgnoresOneAddress: one address flooding is stopped by
// its own limit and does not switch proof of work on for everyone.
func TestProofOfWorkAutoIgnoresOneAddress(t *testing.T) {
	g, _, clk := newGuard(t, nil, func(c *Config) { c.PoW = PoWAuto; c.PoWAutoRate = 20 })
	for i := 0; i < 500; i++ {
		g.Admit(context.Background(), in(mobile("138", i*10000), mobile("139", i*10000), "192.0.2.1"))
	}
	if g.Challenge(netip.MustParseAddr("192.0.2.1"), clk.Now()).Required {
		t.Fatal("one address switched proof of work on")
	}
	runAttempts(t, g, []attempt{{"13700001001", "13600001001", "198.51.100.1", "", ""}})
}

// TestRefusalSpendsNoOtherQuota: a caller over its limit, aimed at V,
// spends none of V's quota, so V's friends still get through (issue 11);
// and the other way round.
func TestRefusalSpendsNoOtherQuota(t *testing.T) {
	g, _, _ := newGuard(t, nil, func(c *Config) {
		c.PerCaller = Limit{N: 1, Per: time.Hour}
		c.PerCallee = Limit{N: 2, Per: time.Hour}
		c.PerPrefix = Limit{}
	})
	const v = "13900001001"
	runAttempts(t, g, []attempt{
		{"13800001001", v, "192.0.2.1", "", ""},
		// The same caller again, and again: over its own limit.
		{"13800001001", v, "192.0.2.2", callback.ReasonRateLimited, "caller"},
		{"13800001001", v, "192.0.2.3", callback.ReasonRateLimited, "caller"},
		// V's friend still gets through: V was counted once.
		{"13800002002", v, "192.0.2.4", "", ""},
		// Now V is at its limit; a fresh caller refused for V keeps its
		// own quota and may ring someone else.
		{"13800003003", v, "192.0.2.5", callback.ReasonRateLimited, "callee"},
		{"13800003003", "13900002002", "192.0.2.6", "", ""},
	})
}

// TestProofOfWorkCountsOnce: the page's one submission (sent without a
// solution, answered with a challenge, sent again solved) counts once
// against its address's limit.
func TestProofOfWorkCountsOnce(t *testing.T) {
	g, _, clk := newGuard(t, nil, func(c *Config) {
		c.PoW, c.PoWDifficulty = PoWAlways, 4
		c.PerIP = Limit{N: 1, Per: time.Hour}
	})
	ctx := context.Background()
	i := in("13800001001", "13900001001", "192.0.2.1")
	_, ref, _ := g.Admit(ctx, i)
	if ref == nil || ref.Challenge == nil {
		t.Fatalf("without solution: %+v", ref)
	}
	if i.PoW, _ = pow.Solve(ctx, *ref.Challenge); i.PoW == "" {
		t.Fatal("no solution")
	}
	if _, ref, err := g.Admit(ctx, i); ref != nil || err != nil {
		t.Fatalf("the solved submission, its address's first: %+v %v", ref, err)
	}
	// A solution is good from the network it was issued to only.
	c := g.Challenge(netip.MustParseAddr("192.0.2.77"), clk.Now())
	j := in("13800002002", "13900002002", "198.51.100.1")
	j.PoW, _ = pow.Solve(ctx, c)
	if _, ref, _ := g.Admit(ctx, j); ref == nil || ref.Field != "pow" {
		t.Fatalf("solution carried to another network: %+v", ref)
	}
}
