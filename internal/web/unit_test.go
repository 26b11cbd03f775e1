package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"webcallback/internal/callback"
	"webcallback/internal/policy"
	"webcallback/internal/store"
)

// TestMessages: both languages have the same keys, and every state, reason
// and error code the API can return has a text in both.
func TestMessages(t *testing.T) {
	for k := range messages[langEN] {
		if _, ok := messages[langZH][k]; !ok {
			t.Errorf("zh lacks %q", k)
		}
	}
	for k := range messages[langZH] {
		if _, ok := messages[langEN][k]; !ok {
			t.Errorf("en lacks %q", k)
		}
	}
	var keys []string
	for _, s := range []callback.State{callback.StateRejected, callback.StateQueued, callback.StateCallingCaller,
		callback.StateCallerAnswered, callback.StateConfirming, callback.StateCallingCallee, callback.StateConnected, callback.StateCompleted,
		callback.StateFailed, callback.StateCanceled} {
		keys = append(keys, "state."+string(s))
	}
	for _, r := range []callback.Reason{callback.ReasonLimitReached, callback.ReasonCalleeHangup, callback.ReasonCallerHangup,
		callback.ReasonCallerBusy, callback.ReasonCallerNoAnswer, callback.ReasonCallerUnreachable, callback.ReasonCalleeBusy,
		callback.ReasonCalleeRejected, callback.ReasonCalleeNoAnswer, callback.ReasonCalleeInvalid, callback.ReasonNetworkError,
		callback.ReasonPBXLost, callback.ReasonVisitor, callback.ReasonAdmin, callback.ReasonCallerNoConfirm, callback.ReasonCalleeOptedOut} {
		keys = append(keys, "reason."+string(r))
	}
	for _, r := range []callback.Reason{callback.ReasonInvalidNumber, callback.ReasonSameNumber, callback.ReasonDestinationNotAllowed,
		callback.ReasonNotEligible, callback.ReasonRateLimited, callback.ReasonSystemBusy, callback.ReasonCalleeOptedOut} {
		keys = append(keys, "error."+string(r))
	}
	for _, c := range errorCodes() {
		keys = append(keys, "error."+c)
	}
	// The dashboard's names of every state, reason (rejected requests'
	// reasons are the error codes) and rule.
	for _, k := range slices.Clone(keys) {
		if name, ok := strings.CutPrefix(k, "state."); ok {
			keys = append(keys, "adm.state."+name)
		}
		if name, ok := strings.CutPrefix(k, "reason."); ok {
			keys = append(keys, "adm.reason."+name)
		}
	}
	for _, r := range []callback.Reason{callback.ReasonInvalidNumber, callback.ReasonSameNumber, callback.ReasonDestinationNotAllowed,
		callback.ReasonNotEligible, callback.ReasonRateLimited, callback.ReasonSystemBusy} {
		keys = append(keys, "adm.reason."+string(r))
	}
	for _, r := range []string{store.RuleBlocked, store.RuleCalleeBlocked, store.RuleCallerConnectedPerDay, store.RuleCallerAttemptsPerDay,
		store.RuleCallerBillsecPerDay, store.RuleCallerBillsecLifetime, store.RuleCallerCooldown, store.RuleCalleePerDay} {
		keys = append(keys, "adm.rule."+r)
	}
	for _, k := range keys {
		for _, l := range []string{langEN, langZH} {
			if messages[l][k] == "" {
				t.Errorf("%s lacks %q", l, k)
			}
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"zh-CN,zh;q=0.9,en;q=0.8", langZH},
		{"en-US,en;q=0.9,zh-CN;q=0.8", langEN},
		{"fr-FR,fr;q=0.9,en;q=0.5,zh;q=0.6", langZH},
		{"zh-TW;q=0.1, en-GB;q=0.2", langEN},
		{"en;q=0, zh;q=0.1", langZH},
		{"de, *;q=0.5", ""},
		{"en;q=abc, zh", langZH},
		{"zh_CN", langZH},
	} {
		if got := acceptLanguage(tc.in); got != tc.want {
			t.Errorf("acceptLanguage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"zh-CN,zh;q=0.9", "en;q=1.5", ";;;,,,q=", strings.Repeat("en,", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if l := acceptLanguage(s); l != "" && l != langZH && l != langEN {
			t.Fatalf("acceptLanguage(%q) = %q", s, l)
		}
	})
}

func FuzzLastEventID(f *testing.F) {
	for _, s := range []string{"", "3", "-1", "99999999999999999999", " 7 ", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Last-Event-ID", s)
		if n := lastEventID(r); n < -1 {
			t.Fatalf("lastEventID(%q) = %d", s, n)
		}
	})
}

// FuzzQueryTime: the admin time parameter never panics and errors cleanly.
func FuzzQueryTime(f *testing.F) {
	for _, s := range []string{"2026-01-02", "2026-01-02T15:04", "2026-01-02T15:04:05Z", "yesterday", "%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := httptest.NewRequest("GET", "/", nil)
		q := r.URL.Query()
		q.Set("from", s)
		r.URL.RawQuery = q.Encode()
		qq := &query{r: r, lang: langEN}
		qq.time("from", time.Time{})
		if qq.err != nil && qq.err.Code != "bad_request" {
			t.Fatal(qq.err)
		}
	})
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"+8613800001001": "+8613800001001", "=HYPERLINK(1)": "'=HYPERLINK(1)", "+1+1": "'+1+1",
		"-2": "'-2", "@SUM": "'@SUM", "plain": "plain", "": "",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEligible(t *testing.T) {
	refused := func(rule string) []store.Quota { return []store.Quota{{Rule: rule, Used: 1, Limit: 1, Refused: true}} }
	for _, tc := range []struct {
		name string
		ns   store.NumberStats
		qs   []store.Quota
		want bool
	}{
		{"fresh", store.NumberStats{}, nil, true},
		{"blocked", store.NumberStats{Blocked: true}, nil, false},
		{"allowed beats all", store.NumberStats{Allowed: true, Blocked: true}, refused(store.RuleCallerCooldown), true},
		{"connected today", store.NumberStats{}, refused(store.RuleCallerConnectedPerDay), false},
		{"cooldown", store.NumberStats{}, refused(store.RuleCallerCooldown), false},
		{"rung too often as a callee, may still call", store.NumberStats{}, refused(store.RuleCalleePerDay), true},
	} {
		if got := eligible(&tc.ns, tc.qs); got != tc.want {
			t.Errorf("%s: eligible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOpenAPIInSync: every API route of the handler is in openapi.json with
// its method, every path of openapi.json is served, and every error code
// the handlers use is in the Error schema's enum.
func TestOpenAPIInSync(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct{ Enum []string }
							}
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	s := &server{deps: Deps{Registry: prometheus.NewRegistry()}, metrics: &metrics{}}
	served := map[string]bool{}
	for _, rt := range s.routes() {
		if !rt.api {
			continue
		}
		served[strings.ToLower(rt.method)+" "+rt.path] = true
		if _, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; !ok {
			t.Errorf("openapi.json lacks %s %s", rt.method, rt.path)
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			if !served[m+" "+p] {
				t.Errorf("openapi.json describes %s %s, which is not served", m, p)
			}
		}
	}
	enum := doc.Components.Schemas.Error.Properties.Error.Properties.Code.Enum
	sort.Strings(enum)
	codes := errorCodes()
	sort.Strings(codes)
	if strings.Join(enum, ",") != strings.Join(codes, ",") {
		t.Errorf("error codes in openapi.json %v, handlers %v", enum, codes)
	}
}

// TestRetryAfterRoundsUp: the header is the refusing layer's wait, rounded
// up to whole seconds, so a visitor never retries a moment too early.
func TestRetryAfterRoundsUp(t *testing.T) {
	s := &server{}
	for wait, want := range map[time.Duration]string{1500 * time.Millisecond: "2", time.Second: "1", 90 * time.Second: "90", 0: ""} {
		e := newError("en", string(callback.ReasonRateLimited))
		e.RetryAfter = wait
		rec := httptest.NewRecorder()
		s.writeError(rec, httptest.NewRequest("POST", "/api/v1/callbacks", nil), e)
		if got := rec.Header().Get("Retry-After"); got != want {
			t.Errorf("wait %v: Retry-After %q, want %q", wait, got, want)
		}
	}
}

// errorCodes lists every code, for the translation and OpenAPI tests.
func errorCodes() []string {
	codes := make([]string, 0, len(errorStatus))
	for c := range errorStatus {
		codes = append(codes, c)
	}
	return codes
}

// TestRefusalStatuses pins the HTTP status of every code a policy.Refusal
// can carry: the policy knows no HTTP, so this table is the one mapping.
func TestRefusalStatuses(t *testing.T) {
	for code, want := range map[callback.Reason]int{
		callback.ReasonInvalidNumber:         http.StatusBadRequest,
		callback.ReasonSameNumber:            http.StatusBadRequest,
		callback.ReasonDestinationNotAllowed: http.StatusBadRequest,
		callback.ReasonNotEligible:           http.StatusForbidden,
		callback.ReasonRateLimited:           http.StatusTooManyRequests,
		callback.ReasonSystemBusy:            http.StatusServiceUnavailable,
	} {
		e := refusalError("en", &policy.Refusal{Code: code, Field: "callee"})
		if e.Status != want || e.Code != string(code) || e.Field != "callee" || e.Message == "" {
			t.Errorf("%s: %+v, want status %d", code, e, want)
		}
	}
}
