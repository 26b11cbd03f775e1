package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"webcallback/internal/web/webtest"
)

// TestNoJSFlow is the page without JavaScript: the form posts, 303 to the
// request's page, which reloads itself until the outcome, and can cancel.
func TestNoJSFlow(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	tok := e.FormToken("/")
	resp, b := e.Form("/call", url.Values{"csrf": {tok}, "caller": {webtest.NumCaller}, "callee": {webtest.NumNoAnswer}, "website": {""}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/call/") {
		t.Fatalf("form post: %s %s %.300s", resp.Status, loc, b)
	}
	resp, b = e.Do("GET", loc, "", "Accept-Language", "en")
	page := string(b)
	if resp.StatusCode != 200 || !strings.Contains(page, `http-equiv="refresh"`) || !strings.Contains(page, "138 0000 1001") {
		t.Fatalf("status page: %s %.500s", resp.Status, page)
	}
	tok = webtest.TokenIn(page)
	if tok == "" {
		t.Fatal("status page has no cancel form")
	}
	resp, _ = e.Form(loc+"/cancel", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %s", resp.Status)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, b = e.Do("GET", loc, "", "Accept-Language", "en")
		if strings.Contains(string(b), `class="outcome">You canceled the call.`) {
			if strings.Contains(string(b), `http-equiv="refresh"`) {
				t.Error("a final page still reloads itself")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never showed the cancel: %.800s", b)
		}
	}
	// Cancel again: already over, still a redirect back to the page.
	if resp, _ := e.Form(loc+"/cancel", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("second cancel: %s", resp.Status)
	}
}

// TestFormErrors: refusals come back as the form with the message next to
// the field, in the visitor's language, with the typed values kept.
func TestFormErrors(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	tok := e.FormToken("/")
	tests := []struct {
		name   string
		v      url.Values
		lang   string
		status int
		want   []string
	}{
		{"bad csrf", url.Values{"csrf": {"forged"}, "caller": {webtest.NumCaller}, "callee": {webtest.NumAnswers}}, "en", 403, []string{`role="alert">The form expired`}},
		{"no callee", url.Values{"csrf": {tok}, "caller": {webtest.NumCaller}}, "en", 400, []string{`id="callee-error" class="error">Please enter your friend`, `value="` + webtest.NumCaller + `"`, `id="callee" name="callee"`}},
		{"invalid zh", url.Values{"csrf": {tok}, "caller": {"12"}, "callee": {webtest.NumAnswers}}, "zh-CN", 400, []string{`id="caller-error" class="error">您的号码无效`, `aria-invalid="true"`}},
		{"same", url.Values{"csrf": {tok}, "caller": {webtest.NumCaller}, "callee": {webtest.NumCaller}}, "en", 400, []string{`id="callee-error" class="error">Your number and your friend`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.Form("/call", tc.v, "Accept-Language", tc.lang)
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
	if resp, b := e.Do("GET", "/call/00000000-0000-4000-8000-000000000000", ""); resp.StatusCode != 404 || !strings.Contains(string(b), "No such call") {
		t.Errorf("unknown status page: %s", resp.Status)
	}
}

// TestPages checks languages, the switch, headers and the assets.
func TestPages(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	tests := []struct {
		path, lang, cookie string
		want               []string
	}{
		{"/", "zh-CN,zh;q=0.9,en;q=0.8", "", []string{`<html lang="zh-CN">`, "立即呼叫", "演示模式", `href="?lang=en"`}},
		{"/", "en-US,en;q=0.9", "", []string{`<html lang="en">`, "Call now", "Demo mode", `href="?lang=zh"`}},
		{"/", "fr", "", []string{`<html lang="en">`}}, // the configured default
		{"/?lang=zh", "en", "", []string{`<html lang="zh-CN">`}},
		{"/", "en", "wcb_lang=zh", []string{`<html lang="zh-CN">`}},
		{"/admin", "en", "", []string{"Admin token", "/static/admin.js"}},
		{"/admin", "zh-CN", "", []string{"管理令牌", "实时通话"}},
	}
	for _, tc := range tests {
		hdr := []string{"Accept-Language", tc.lang}
		if tc.cookie != "" {
			hdr = append(hdr, "Cookie", tc.cookie)
		}
		resp, b := e.Do("GET", tc.path, "", hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", tc.path, resp.Status)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s (%s): lacks %q", tc.path, tc.lang, w)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		if regexp.MustCompile(`(?i)<script>|style="|src="https?:|href="https?:`).Match(b) {
			t.Errorf("%s has inline script/style or outside assets", tc.path)
		}
	}
	resp, _ := e.Do("GET", "/?lang=en", "")
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "wcb_lang=en") {
		t.Errorf("switch sets no cookie: %q", c)
	}
	for _, a := range []string{"/static/app.js", "/static/app.css", "/static/admin.js", "/static/icon.svg"} {
		resp, b := e.Do("GET", a+"?v=x", "")
		if resp.StatusCode != 200 || len(b) == 0 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %s %q", a, resp.Status, resp.Header.Get("Cache-Control"))
		}
	}
	// Compressed for clients that accept it; Go's client unzips it.
	resp, b := e.Do("GET", "/static/app.js?v=x", "", "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("gzip asset: %s %v", resp.Status, resp.Header)
	}
	if zr, err := gzip.NewReader(bytes.NewReader(b)); err != nil {
		t.Errorf("gzip asset: %v", err)
	} else if js, _ := io.ReadAll(zr); !strings.Contains(string(js), "use strict") {
		t.Errorf("gzip asset content: %.80q", js)
	}
	if resp, _ := e.Do("GET", "/static/nope.js", ""); resp.StatusCode != 404 {
		t.Errorf("missing asset: %s", resp.Status)
	}
	// No directory listing, however the directory is named (the mux
	// redirects unclean paths to /static/, itself a 404).
	for _, dir := range []string{"/static/", "/static/?v=x", "/static//", "/static/."} {
		if resp, b := e.Do("GET", dir, ""); resp.StatusCode == 200 || strings.Contains(string(b), "app.js") {
			t.Errorf("directory %s: %s %.80q", dir, resp.Status, b)
		}
	}
	if resp, _ := e.Do("GET", "/nope", ""); resp.StatusCode != 404 {
		t.Errorf("unknown page: %s", resp.Status)
	}
}

// TestOps covers /healthz, /readyz and /metrics.
func TestOps(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{})
	r := e.Create(webtest.NumCaller, webtest.NumBusy)
	webtest.Until(t, e.Stream("/api/v1/callbacks/"+r.ID+"/events"), "final", func(ev webtest.Event) bool { return ev.Name == "final" })
	if resp, b := e.Do("GET", "/healthz", ""); resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Errorf("healthz: %s %q", resp.Status, b)
	}
	if resp, b := e.Do("GET", "/readyz", ""); resp.StatusCode != 200 {
		t.Errorf("readyz: %s %q", resp.Status, b)
	}
	want := []string{
		`webcallback_web_submissions_total{outcome="accepted"} 1`,
		`webcallback_web_calls_finished_total{reason="callee_busy",state="failed"} 1`,
		`webcallback_web_call_setup_seconds_count{stage="caller_answered"} 1`,
		`webcallback_web_ami_state{state="connected"} 1`,
		"webcallback_web_live_calls ", // the count itself races the engine's cleanup
		`webcallback_web_http_requests_total{code="201",route="/api/v1/callbacks"} 1`,
	}
	// The outcome counter follows the engine's feed: poll for it.
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, b = e.Do("GET", "/metrics", "")
		if strings.Contains(string(b), want[1]) {
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(string(b), w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// TestFormRefusalNoJS: without JavaScript a refusal of the caller comes back
// on the form next to the caller's number, with its own message for the
// cooldown and when to try again in words.
func TestFormRefusalNoJS(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	e := webtest.New(t, webtest.Options{Quotas: true, Extra: []string{"--limit-per-ip", "off", "--limit-per-subnet", "off"}})
	tok := e.FormToken("/")
	post := func(callee string) (*http.Response, string) {
		resp, b := e.Form("/call", url.Values{"csrf": {tok}, "caller": {webtest.NumCaller}, "callee": {callee}}, "Accept-Language", "en")
		return resp, string(b)
	}
	resp, b := post(webtest.NumBusy)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first call: %s %.300s", resp.Status, b)
	}
	// Over (busy) before the next try: only the cooldown refuses then (a
	// live call would hold the day's one connected call too, and the
	// longer refusal is the one reported).
	e.WaitFinal(strings.TrimPrefix(resp.Header.Get("Location"), "/call/"))
	resp, page := post(webtest.NumAnswers)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second call a moment later: %s", resp.Status)
	}
	for _, want := range []string{
		`id="caller-error" class="error">Your number asked for a call a moment ago`,
		"You can try again in 1 minute (at ",
		`aria-invalid="true"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("the page:\n%s", page)
	}
}
