package web_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/web/webtest"
)

func TestAdminAuth(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	off := webtest.New(t, webtest.Options{AdminToken: "-"})
	resp, b := off.Admin("GET", "/api/v1/admin/calls", "")
	if resp.StatusCode != 404 || decodeError(t, b).Error.Code != "admin_disabled" {
		t.Fatalf("no token configured: %s %s", resp.Status, b)
	}
	e := webtest.New(t, webtest.Options{})
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", webtest.AdminToken}} {
		resp, b := e.Do("GET", "/api/v1/admin/calls", "", hdr...)
		if resp.StatusCode != 401 || decodeError(t, b).Error.Code != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("auth %v: %s %s", hdr, resp.Status, b)
		}
	}
	if resp, b := e.Admin("GET", "/api/v1/admin/calls", ""); resp.StatusCode != 200 {
		t.Fatalf("good token: %s %s", resp.Status, b)
	}
}

// TestAdminLiveAndHangup: the live stream shows a ringing call, the admin
// hangs it up, the stream shows it end and the audit log has the action.
func TestAdminLiveAndHangup(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	live := e.Stream("/api/v1/admin/calls/events", "Authorization", "Bearer "+webtest.AdminToken)
	webtest.Until(t, live, "snapshot", func(ev webtest.Event) bool { return ev.Name == "snapshot" })
	r := e.Create(webtest.NumCaller, webtest.NumNoAnswer)
	webtest.Until(t, live, "ringing friend", func(ev webtest.Event) bool {
		return ev.Name == "call" && ev.Req.ID == r.ID && ev.Req.State == callback.StateCallingCallee
	})
	resp, b := e.Admin("GET", "/api/v1/admin/calls", "")
	var calls struct{ Calls []callback.Request }
	if resp.StatusCode != 200 || json.Unmarshal(b, &calls) != nil || len(calls.Calls) != 1 || calls.Calls[0].ID != r.ID {
		t.Fatalf("live calls: %s %s", resp.Status, b)
	}
	if resp, b := e.Admin("DELETE", "/api/v1/admin/calls/"+r.ID, ""); resp.StatusCode != 200 {
		t.Fatalf("hangup: %s %s", resp.Status, b)
	}
	webtest.Until(t, live, "canceled by admin", func(ev webtest.Event) bool {
		return ev.Req.ID == r.ID && ev.Req.State == callback.StateCanceled && ev.Req.Reason == callback.ReasonAdmin
	})
	if resp, b := e.Admin("DELETE", "/api/v1/admin/calls/00000000-0000-4000-8000-000000000000", ""); resp.StatusCode != 404 {
		t.Fatalf("hangup unknown: %s %s", resp.Status, b)
	}
	resp, b = e.Admin("GET", "/api/v1/admin/audit", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), "/api/v1/admin/calls/"+r.ID) {
		t.Fatalf("audit lacks the hangup: %s %s", resp.Status, b)
	}
}

// TestAdminNumbersCDRsStats runs calls, then reads them back through every
// admin view.
func TestAdminNumbersCDRsStats(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	for _, callee := range []string{webtest.NumHangup, webtest.NumBusy} {
		r := e.Create(webtest.NumCaller, callee)
		webtest.Until(t, e.Stream("/api/v1/callbacks/"+r.ID+"/events"), "final", func(ev webtest.Event) bool { return ev.Name == "final" })
	}
	// CDRs arrive from the PBX after the call: wait for them.
	var cdrs struct {
		CDRs  []map[string]any `json:"cdrs"`
		Total int
	}
	for deadline := time.Now().Add(20 * time.Second); cdrs.Total < 2; time.Sleep(20 * time.Millisecond) {
		resp, b := e.Admin("GET", "/api/v1/admin/cdrs?number="+webtest.NumCaller+"&limit=10", "")
		if resp.StatusCode != 200 || json.Unmarshal(b, &cdrs) != nil {
			t.Fatalf("cdrs: %s %s", resp.Status, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("CDRs never arrived: %s", b)
		}
	}
	if _, ok := cdrs.CDRs[0]["userfield"]; !ok {
		t.Errorf("CDR lacks the classic columns: %v", cdrs.CDRs[0])
	}
	resp, b := e.Admin("GET", "/api/v1/admin/cdrs?format=csv&number="+webtest.NumCaller, "")
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(recs) < 3 || recs[0][0] != "calldate" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("cdr csv: %s %v %q", resp.Status, err, b)
	}

	resp, b = e.Admin("GET", "/api/v1/admin/numbers/"+webtest.NumCaller, "")
	var n map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(b, &n) != nil {
		t.Fatalf("number: %s %s", resp.Status, b)
	}
	for _, k := range []string{"number", "calls", "answered", "billsec", "last_call_at", "eligible", "blocked"} {
		if _, ok := n[k]; !ok {
			t.Errorf("number view lacks %q: %s", k, b)
		}
	}
	if n["number"] != "+86"+webtest.NumCaller || n["blocked"] != false || n["eligible"] != true {
		t.Errorf("number view: %s", b)
	}

	// Block, see it, and see the public API refuse the number; then allow again.
	if resp, b := e.Admin("PUT", "/api/v1/admin/numbers/+86"+webtest.NumCaller+"/override", `{"kind":"block","note":"test"}`); resp.StatusCode != 200 {
		t.Fatalf("block: %s %s", resp.Status, b)
	}
	_, b = e.Admin("GET", "/api/v1/admin/numbers/"+webtest.NumCaller, "")
	if !strings.Contains(string(b), `"blocked":true`) || !strings.Contains(string(b), `"eligible":false`) {
		t.Fatalf("after block: %s", b)
	}
	resp, b = e.Do("POST", "/api/v1/callbacks", `{"caller":"`+webtest.NumCaller+`","callee":"`+webtest.NumAnswers+`"}`)
	if resp.StatusCode != 403 || decodeError(t, b).Error.Code != "not_eligible" {
		t.Fatalf("blocked caller: %s %s", resp.Status, b)
	}
	if resp, b := e.Admin("DELETE", "/api/v1/admin/numbers/"+webtest.NumCaller+"/override", ""); resp.StatusCode != 204 {
		t.Fatalf("unblock: %s %s", resp.Status, b)
	}
	_, b = e.Admin("GET", "/api/v1/admin/numbers/"+webtest.NumCaller, "")
	if !strings.Contains(string(b), `"blocked":false`) {
		t.Fatalf("after unblock: %s", b)
	}
	resp, b = e.Admin("GET", "/api/v1/admin/numbers?format=csv", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "number,calls,answered") {
		t.Fatalf("numbers csv: %s %s", resp.Status, b)
	}

	resp, b = e.Admin("GET", "/api/v1/admin/stats", "")
	var st struct {
		Requests, Connected, Failed int
		Hours                       []any
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &st) != nil || st.Requests < 2 || st.Connected < 1 || st.Failed < 1 {
		t.Fatalf("stats: %s %s", resp.Status, b)
	}
	for _, c := range []string{"calls.svg", "outcomes.svg", "quality.svg"} {
		resp, b := e.Admin("GET", "/api/v1/admin/charts/"+c, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(string(b), "<svg") {
			t.Fatalf("chart %s: %s %.100s", c, resp.Status, b)
		}
	}
	resp, b = e.Admin("GET", "/api/v1/admin/requests?number=%2B86"+webtest.NumCaller+"&state=completed,failed", "")
	if resp.StatusCode != 200 || strings.Count(string(b), `"id"`) < 2 {
		t.Fatalf("requests: %s %s", resp.Status, b)
	}
}

// TestAdminBadInput: every admin parameter is checked.
func TestAdminBadInput(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/v1/admin/cdrs?limit=0", "", 400},
		{"GET", "/api/v1/admin/cdrs?limit=abc", "", 400},
		{"GET", "/api/v1/admin/cdrs?offset=-1", "", 400},
		{"GET", "/api/v1/admin/cdrs?from=yesterday", "", 400},
		{"GET", "/api/v1/admin/cdrs?format=xml", "", 400},
		{"GET", "/api/v1/admin/cdrs?number=" + strings.Repeat("1", 40), "", 400},
		{"GET", "/api/v1/admin/requests?state=ringing", "", 400},
		{"GET", "/api/v1/admin/stats?from=2026-01-02&to=2026-01-01", "", 400},
		{"GET", "/api/v1/admin/stats?from=2020-01-01&to=2026-01-01", "", 400},
		{"GET", "/api/v1/admin/charts/pie.svg", "", 404},
		{"GET", "/api/v1/admin/numbers/abc", "", 400},
		{"PUT", "/api/v1/admin/numbers/" + webtest.NumCaller + "/override", `{"kind":"maybe"}`, 400},
		{"PUT", "/api/v1/admin/numbers/" + webtest.NumCaller + "/override", `{"kind":`, 400},
		{"GET", "/api/v1/admin/audit?limit=100000", "", 400},
	} {
		resp, b := e.Admin(tc.method, tc.path, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %s, want %d: %s", tc.method, tc.path, resp.Status, tc.status, b)
			continue
		}
		decodeError(t, b)
	}
	resp, _ := e.Admin("PUT", "/api/v1/admin/numbers/"+webtest.NumCaller+"/override", `{"kind":"block"}`, "Content-Type", "text/plain")
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("override as text/plain: %s", resp.Status)
	}
}
