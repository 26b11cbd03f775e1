package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"webcallback/internal/callback"
	"webcallback/internal/web/webtest"
)

// TestConsentAPI through the whole service: a caller who never presses 1
// fails caller_no_confirm without the friend being rung; a friend who
// presses 9 fails the call callee_opted_out and every later request to the
// number gets 403 callee_opted_out; the admin sees the entry in the list
// and its CSV, removes it (audited), and the number may be called again.
func TestConsentAPI(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{Announce: true})

	r := e.Final(e.Create(webtest.NumNeverPresses, webtest.NumAnswers).ID)
	if r.State != callback.StateFailed || r.Reason != callback.ReasonCallerNoConfirm || r.Prompt != callback.PromptNoConfirm || r.ConnectedAt != nil {
		t.Errorf("unconfirmed: %s/%s/%s", r.State, r.Reason, r.Prompt)
	}
	for _, h := range r.History {
		if h.State == callback.StateCallingCallee {
			t.Errorf("the friend was rung: %v", r.History)
		}
	}

	r = e.Final(e.Create(webtest.NumCaller, webtest.NumOptsOut).ID)
	if r.State != callback.StateFailed || r.Reason != callback.ReasonCalleeOptedOut {
		t.Fatalf("opt-out: %s/%s (%v)", r.State, r.Reason, r.History)
	}
	for _, lang := range []string{"en", "zh"} {
		resp, b := e.Do("POST", "/api/v1/callbacks", `{"caller":"13800001002","callee":"`+webtest.NumOptsOut+`","lang":"`+lang+`"}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("request to an opted-out number: %s %s", resp.Status, b)
		}
		if er := decodeError(t, b); er.Error.Code != string(callback.ReasonCalleeOptedOut) || er.Error.Field != "callee" {
			t.Errorf("%s: error %+v", lang, er.Error)
		}
	}

	resp, b := e.Admin("GET", "/api/v1/admin/donotcall", "")
	var list struct {
		DoNotCall []struct{ Number, RequestID string } `json:"do_not_call"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list.DoNotCall) != 1 || list.DoNotCall[0].Number != "+86"+webtest.NumOptsOut {
		t.Fatalf("do-not-call list: %s %s", resp.Status, b)
	}
	resp, b = e.Admin("GET", "/api/v1/admin/donotcall?format=csv", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") ||
		!strings.HasPrefix(string(b), "number,request_id,created_at\n+86"+webtest.NumOptsOut+","+r.ID+",") {
		t.Errorf("CSV export: %s %s %q", resp.Status, ct, b)
	}
	if resp, b := e.Do("DELETE", "/api/v1/admin/donotcall/%2B86"+webtest.NumOptsOut, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without the token: %s %s", resp.Status, b)
	}
	if resp, b := e.Admin("DELETE", "/api/v1/admin/donotcall/%2B86"+webtest.NumOptsOut, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s %s", resp.Status, b)
	}
	_, b = e.Admin("GET", "/api/v1/admin/audit", "")
	if !strings.Contains(string(b), "DELETE /api/v1/admin/donotcall/") {
		t.Errorf("removal not audited: %s", b)
	}
	if _, b := e.Admin("GET", "/api/v1/admin/donotcall", ""); !strings.Contains(string(b), `"do_not_call":[]`) {
		t.Errorf("list after removal: %s", b)
	}
	e.Create("13800001003", webtest.NumOptsOut) // allowed again
}
