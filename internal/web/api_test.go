package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/policy"
	"webcallback/internal/policy/pow"
	"webcallback/internal/web/webtest"
)

// TestCallFlows places real calls through the sandbox and follows each by
// SSE to its outcome.
func TestCallFlows(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	tests := []struct {
		callee string
		state  callback.State
		reason callback.Reason
		prompt callback.Prompt
		passes []callback.State // states the stream must show on the way
	}{
		{webtest.NumAnswers, callback.StateCompleted, callback.ReasonLimitReached, callback.PromptTimeoutHangup,
			[]callback.State{callback.StateCallingCaller, callback.StateConfirming, callback.StateCallingCallee, callback.StateConnected}},
		{webtest.NumHangup, callback.StateCompleted, callback.ReasonCalleeHangup, callback.PromptPartnerHangup,
			[]callback.State{callback.StateConnected}},
		{webtest.NumBusy, callback.StateFailed, callback.ReasonCalleeBusy, callback.PromptPartnerBusy, []callback.State{callback.StateCallingCallee}},
		{webtest.Num404, callback.StateFailed, callback.ReasonCalleeInvalid, callback.PromptInvalidNumber, nil},
		{webtest.Num503, callback.StateFailed, callback.ReasonNetworkError, callback.PromptSystemBusy, nil},
		{webtest.Num603, callback.StateFailed, callback.ReasonCalleeRejected, callback.PromptPartnerBusy, nil},
	}
	for _, tc := range tests {
		t.Run(tc.callee, func(t *testing.T) {
			t.Parallel()
			r := e.Create(webtest.NumCaller, tc.callee)
			if r.State != callback.StateQueued || r.Caller != "+86"+webtest.NumCaller || r.Callee != "+86"+tc.callee {
				t.Fatalf("created %+v", r)
			}
			evs := webtest.Until(t, e.Stream("/api/v1/callbacks/"+r.ID+"/events"), "final", func(ev webtest.Event) bool { return ev.Name == "final" })
			last := evs[len(evs)-1].Req
			if last.State != tc.state || last.Reason != tc.reason || last.Prompt != tc.prompt {
				t.Fatalf("final %s/%s/%s, want %s/%s/%s", last.State, last.Reason, last.Prompt, tc.state, tc.reason, tc.prompt)
			}
			prev := -1
			seen := map[callback.State]bool{}
			for _, ev := range evs {
				id, err := strconv.Atoi(ev.ID)
				if err != nil || id <= prev || id != len(ev.Req.History) {
					t.Fatalf("event ids not increasing with history: %q after %d (history %d)", ev.ID, prev, len(ev.Req.History))
				}
				prev = id
				for _, h := range ev.Req.History {
					seen[h.State] = true
				}
			}
			for _, s := range tc.passes {
				if !seen[s] {
					t.Errorf("history lacks %s: %v", s, last.History)
				}
			}
			// GET returns the same object. (Polled: the engine briefly serves
			// the store's older row while it writes the final one.)
			var got callback.Request
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				resp, b := e.Do("GET", "/api/v1/callbacks/"+r.ID, "")
				if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil {
					t.Fatalf("GET: %s %s", resp.Status, b)
				}
				if got.State == tc.state || time.Now().After(deadline) {
					break
				}
			}
			if got.State != tc.state || got.Reason != tc.reason {
				t.Fatalf("GET: %s/%s, want %s/%s", got.State, got.Reason, tc.state, tc.reason)
			}
			// A reconnect with the final Last-Event-ID gets only the final event.
			again := webtest.Until(t, e.Stream("/api/v1/callbacks/"+r.ID+"/events", "Last-Event-ID", evs[len(evs)-1].ID), "final",
				func(ev webtest.Event) bool { return ev.Name == "final" })
			if len(again) != 1 {
				t.Errorf("resumed stream sent %v, want only the final event", webtest.Names(again))
			}
			// Canceling a finished call is a conflict.
			if resp, b := e.Do("DELETE", "/api/v1/callbacks/"+r.ID, ""); resp.StatusCode != http.StatusConflict {
				t.Errorf("DELETE final: %s %s", resp.Status, b)
			} else if decodeError(t, b).Error.Code != "already_final" {
				t.Errorf("DELETE final: %s", b)
			}
		})
	}
}

// TestCancel cancels while the friend's phone rings.
func TestCancel(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	r := e.Create(webtest.NumCaller, webtest.NumNoAnswer)
	ch := e.Stream("/api/v1/callbacks/" + r.ID + "/events")
	webtest.Until(t, ch, "calling_callee", func(ev webtest.Event) bool { return ev.Req.State == callback.StateCallingCallee })
	resp, b := e.Do("DELETE", "/api/v1/callbacks/"+r.ID, "")
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE: %s %s", resp.Status, b)
	}
	evs := webtest.Until(t, ch, "final", func(ev webtest.Event) bool { return ev.Name == "final" })
	if last := evs[len(evs)-1].Req; last.State != callback.StateCanceled || last.Reason != callback.ReasonVisitor {
		t.Fatalf("after cancel: %s/%s", last.State, last.Reason)
	}
}

// TestCreateErrors checks every refusal of POST /api/v1/callbacks: status,
// code, localized message, field.
func TestCreateErrors(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	tests := []struct {
		name, body, ctype, lang string
		status                  int
		code, field, msgHas     string
	}{
		{"not json type", `{"caller":"1"}`, "text/plain", "en", 415, "unsupported_media_type", "", "JSON"},
		{"malformed", `{"caller":`, "application/json", "en", 400, "bad_request", "", ""},
		{"trailing", `{"caller":"1"} {}`, "application/json", "en", 400, "bad_request", "", ""},
		{"too large", `{"caller":"` + strings.Repeat("1", 9000) + `"}`, "application/json", "en", 413, "body_too_large", "", ""},
		{"no caller", `{"callee":"` + webtest.NumAnswers + `"}`, "application/json", "en", 400, "caller_required", "caller", "your phone number"},
		{"no callee", `{"caller":"` + webtest.NumCaller + `"}`, "application/json", "zh-CN,zh;q=0.9", 400, "callee_required", "callee", "朋友"},
		{"invalid", `{"caller":"12","callee":"` + webtest.NumAnswers + `"}`, "application/json", "en", 400, "invalid_number", "caller", "not a valid"},
		{"invalid zh", `{"caller":"` + webtest.NumCaller + `","callee":"999"}`, "application/json", "zh", 400, "invalid_number", "callee", "无效"},
		{"same", `{"caller":"` + webtest.NumCaller + `","callee":"+86 ` + webtest.NumCaller + `"}`, "application/json", "en", 400, "same_number", "callee", "same"},
		{"foreign", `{"caller":"` + webtest.NumCaller + `","callee":"+44 20 7946 0958"}`, "application/json", "en", 400, "destination_not_allowed", "callee", "cannot call your friend"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.Do("POST", "/api/v1/callbacks", tc.body, "Content-Type", tc.ctype, "Accept-Language", tc.lang)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d: %s", resp.Status, tc.status, b)
			}
			eb := decodeError(t, b)
			if eb.Error.Code != tc.code || eb.Error.Field != tc.field || !strings.Contains(eb.Error.Message, tc.msgHas) {
				t.Fatalf("error %+v, want code %s field %q message containing %q", eb.Error, tc.code, tc.field, tc.msgHas)
			}
		})
	}
}

// TestRateLimitedAndNotEligible needs the policy's limits on: the same
// callee too often is rate_limited with Retry-After and retry_at.
func TestRateLimited(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{Limits: true})
	var last *http.Response
	var body []byte
	for i := 0; i < 6; i++ {
		last, body = e.Do("POST", "/api/v1/callbacks", `{"caller":"1380000100`+strconv.Itoa(i)+`","callee":"`+webtest.NumBusy+`"}`)
		if last.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("never rate limited; last %s %s", last.Status, body)
	}
	eb := decodeError(t, body)
	if eb.Error.Code != "rate_limited" || eb.Error.RetryAt == nil || last.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without retry information: %s %v", body, last.Header)
	}
}

// TestLookupErrors covers the id endpoints' 404s.
func TestLookupErrors(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/callbacks/00000000-0000-4000-8000-000000000000"},
		{"GET", "/api/v1/callbacks/bad%20id"},
		{"GET", "/api/v1/callbacks/" + strings.Repeat("a", 65)},
		{"DELETE", "/api/v1/callbacks/00000000-0000-4000-8000-000000000000"},
		{"GET", "/api/v1/callbacks/00000000-0000-4000-8000-000000000000/events"},
	} {
		resp, b := e.Do(tc.method, tc.path, "")
		if resp.StatusCode != 404 || decodeError(t, b).Error.Code != "not_found" {
			t.Errorf("%s %s: %s %s", tc.method, tc.path, resp.Status, b)
		}
	}
	resp, b := e.Do("PUT", "/api/v1/callbacks", "")
	if resp.StatusCode != http.StatusMethodNotAllowed || decodeError(t, b).Error.Code != "method_not_allowed" || resp.Header.Get("Allow") == "" {
		t.Errorf("PUT collection: %s %v %s", resp.Status, resp.Header, b)
	}
	resp, b = e.Do("GET", "/api/v1/nothing", "")
	if resp.StatusCode != http.StatusNotFound || decodeError(t, b).Error.Code != "not_found" {
		t.Errorf("unknown API path: %s %s", resp.Status, b)
	}
}

// TestStreamLimit: beyond MaxStreams a stream is refused with 503, and
// beyond MaxStreamsPerIP for one address while another still gets one.
func TestStreamLimit(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{MaxStreams: 2, StreamsPerIP: 1})
	r := e.Create(webtest.NumCaller, webtest.NumNoAnswer)
	path := "/api/v1/callbacks/" + r.ID + "/events"
	e.Stream(path)
	tooMany := func(what string, c *http.Client) {
		t.Helper()
		resp, err := c.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || decodeError(t, b).Error.Code != "too_many_streams" {
			t.Fatalf("%s: %s %s", what, resp.Status, b)
		}
	}
	tooMany("second stream of one address", http.DefaultClient)
	// Another address (a loopback source of its own) still gets one...
	from := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	c2 := from("127.0.0.2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+path, nil)
	resp, err := c2.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream of a second address: %v %v", resp, err)
	}
	defer resp.Body.Close()
	// ...and a third finds the total reached.
	tooMany("stream over the total", from("127.0.0.3"))
}

// TestEventsWithoutAccept: a script that does not ask for
// text/event-stream (curl sends Accept: */*) gets the same stream, up to
// the final event.
func TestEventsWithoutAccept(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	r := e.Create(webtest.NumCaller, webtest.NumBusy)
	for _, accept := range []string{"*/*", ""} {
		evs := webtest.Until(t, e.Stream("/api/v1/callbacks/"+r.ID+"/events", "Accept", accept), "final",
			func(ev webtest.Event) bool { return ev.Name == "final" })
		if last := evs[len(evs)-1]; !last.Req.State.Final() {
			t.Fatalf("Accept %q: final event %+v", accept, last.Req)
		}
	}
}

// TestProofOfWork: when the policy demands work, the refusal carries the
// challenge; the solved challenge is accepted once.
func TestProofOfWork(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{PoW: policy.PoWAlways})
	body := `{"caller":"` + webtest.NumCaller + `","callee":"` + webtest.NumBusy + `"`
	resp, b := e.Do("POST", "/api/v1/callbacks", body+`}`)
	var eb struct {
		Error struct {
			Code, Field string
			Challenge   *pow.Challenge
		}
	}
	if resp.StatusCode != 429 || json.Unmarshal(b, &eb) != nil || eb.Error.Field != "pow" || eb.Error.Challenge == nil {
		t.Fatalf("without work: %s %s", resp.Status, b)
	}
	sol, err := pow.Solve(context.Background(), *eb.Error.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := e.Do("POST", "/api/v1/callbacks", body+`,"pow":"`+sol+`"}`); resp.StatusCode != 201 {
		t.Fatalf("with work: %s %s", resp.Status, b)
	}
	if resp, b := e.Do("POST", "/api/v1/callbacks", body+`,"pow":"`+sol+`"}`); resp.StatusCode != 429 {
		t.Fatalf("work spent twice: %s %s", resp.Status, b)
	}
	resp, b = e.Do("GET", "/api/v1/challenge", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"required":true`) {
		t.Fatalf("challenge: %s %s", resp.Status, b)
	}
}
