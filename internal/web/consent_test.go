package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"webcallback/internal/callback"
)

// Consent numbers of the sandbox's plan (docs/design.md §4).
const (
	numNeverPresses = "13888881001" // as a caller: answers, never presses 1
	numOptsOut      = "13899992002" // as a callee: presses 9
)

// final follows a request's events to its final state.
func (e *env) final(id string) callback.Request {
	e.t.Helper()
	evs := until(e.t, e.stream("/api/v1/callbacks/"+id+"/events"), "final", func(ev sseEvent) bool { return ev.Name == "final" })
	return evs[len(evs)-1].Req
}

// TestConsentAPI through the whole service: a caller who never presses 1
// fails caller_no_confirm without the friend being rung; a friend who
// presses 9 fails the call callee_opted_out and every later request to the
// number gets 403 callee_opted_out; the admin sees the entry in the list
// and its CSV, removes it (audited), and the number may be called again.
func TestConsentAPI(t *testing.T) {
	e := newEnv(t, envOpts{announce: true})

	r := e.final(e.create(numNeverPresses, numAnswers).ID)
	if r.State != callback.StateFailed || r.Reason != callback.ReasonCallerNoConfirm || r.Prompt != callback.PromptNoConfirm || r.ConnectedAt != nil {
		t.Errorf("unconfirmed: %s/%s/%s", r.State, r.Reason, r.Prompt)
	}
	for _, h := range r.History {
		if h.State == callback.StateCallingCallee {
			t.Errorf("the friend was rung: %v", r.History)
		}
	}

	r = e.final(e.create(numCaller, numOptsOut).ID)
	if r.State != callback.StateFailed || r.Reason != callback.ReasonCalleeOptedOut {
		t.Fatalf("opt-out: %s/%s (%v)", r.State, r.Reason, r.History)
	}
	for _, lang := range []string{"en", "zh"} {
		resp, b := e.do("POST", "/api/v1/callbacks", `{"caller":"13800001002","callee":"`+numOptsOut+`","lang":"`+lang+`"}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("request to an opted-out number: %s %s", resp.Status, b)
		}
		if er := decodeError(t, b); er.Error.Code != string(callback.ReasonCalleeOptedOut) || er.Error.Field != "callee" {
			t.Errorf("%s: error %+v", lang, er.Error)
		}
	}

	resp, b := e.admin("GET", "/api/v1/admin/donotcall", "")
	var list struct {
		DoNotCall []struct{ Number, RequestID string } `json:"do_not_call"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list.DoNotCall) != 1 || list.DoNotCall[0].Number != "+86"+numOptsOut {
		t.Fatalf("do-not-call list: %s %s", resp.Status, b)
	}
	resp, b = e.admin("GET", "/api/v1/admin/donotcall?format=csv", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") ||
		!strings.HasPrefix(string(b), "number,request_id,created_at\n+86"+numOptsOut+","+r.ID+",") {
		t.Errorf("CSV export: %s %s %q", resp.Status, ct, b)
	}
	if resp, b := e.do("DELETE", "/api/v1/admin/donotcall/%2B86"+numOptsOut, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without the token: %s %s", resp.Status, b)
	}
	if resp, b := e.admin("DELETE", "/api/v1/admin/donotcall/%2B86"+numOptsOut, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s %s", resp.Status, b)
	}
	_, b = e.admin("GET", "/api/v1/admin/audit", "")
	if !strings.Contains(string(b), "DELETE /api/v1/admin/donotcall/") {
		t.Errorf("removal not audited: %s", b)
	}
	if _, b := e.admin("GET", "/api/v1/admin/donotcall", ""); !strings.Contains(string(b), `"do_not_call":[]`) {
		t.Errorf("list after removal: %s", b)
	}
	e.create("13800001003", numOptsOut) // allowed again
}

// recordConfirming records, when the page shows the confirming state, its
// text and the active step.
const recordConfirming = `(() => {
  window.__confirming = null;
  const title = document.getElementById("state-title");
  new MutationObserver(() => {
    if (title.dataset.state === "confirming" && !window.__confirming) {
      const active = document.querySelector("#progress .steps li.active");
      window.__confirming = {text: title.textContent, step: active ? active.dataset.step : ""};
    }
  }).observe(title, {attributes: true, childList: true, characterData: true, subtree: true});
  return true;
})()`

// TestBrowserConsent: the visitor's page asks them to press 1 while the
// service waits for it (zh and en) and says why the friend was not called;
// the admin dashboard lists an opted-out number and removes it.
func TestBrowserConsent(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	e := newEnv(t, envOpts{scale: 0.05, announce: true})
	for _, tc := range []struct{ lang, confirming, outcome string }{
		{"en", "Press 1 on your phone to call your friend", "You did not press 1, so your friend was not called."},
		{"zh", "请在电话上按 1 呼叫您的朋友", "您没有按 1，因此没有呼叫您的朋友。"},
	} {
		ctx := newTab(t, 390, 844)
		run(t, ctx, "open page "+tc.lang, chromedp.Navigate(e.URL+"/?lang="+tc.lang), chromedp.WaitVisible(chromedp.CSS("#call-now")))
		eval[bool](t, ctx, recordConfirming)
		run(t, ctx, "call "+tc.lang, chromedp.SendKeys(chromedp.CSS("#caller"), numNeverPresses), chromedp.Click(chromedp.CSS("#call-now")),
			chromedp.WaitVisible(chromedp.CSS("#callee")), chromedp.SendKeys(chromedp.CSS("#callee"), numAnswers+"\r"),
			chromedp.WaitVisible(chromedp.CSS(`#state-title[data-state="failed"]`)))
		shot(t, ctx, "consent-1-no-confirm-"+tc.lang)
		seen := eval[map[string]string](t, ctx, `window.__confirming || {}`)
		if seen["text"] != tc.confirming || seen["step"] != "2" {
			t.Errorf("%s: while confirming the page showed %q", tc.lang, seen)
		}
		if got := text(t, ctx, "#outcome"); got != tc.outcome {
			t.Errorf("%s: outcome %q", tc.lang, got)
		}
	}

	opted := e.final(e.create(numCaller, numOptsOut).ID)
	if opted.Reason != callback.ReasonCalleeOptedOut {
		t.Fatalf("opt-out call: %s/%s", opted.State, opted.Reason)
	}
	ctx := newTab(t, 1280, 900)
	row := `#dnc tbody tr`
	run(t, ctx, "admin", chromedp.Navigate(e.URL+"/admin?lang=en"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken+"\r"), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(t, ctx, row+" td"); got != "+86"+numOptsOut {
		t.Errorf("do-not-call row shows %q", got)
	}
	shot(t, ctx, "consent-2-admin-do-not-call")
	run(t, ctx, "remove", chromedp.Click(chromedp.CSS(row+" button")), chromedp.WaitNotPresent(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS("#dnc-empty")))
	e.create("13800001004", numOptsOut) // may be called again
}
