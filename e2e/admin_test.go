package e2e_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"webcallback/internal/callback"
	"webcallback/internal/testenv"
	"webcallback/internal/web/webtest"
)

// adminTexts are the bits of the dashboard the tests look for, per language.
type adminTexts struct {
	ringingState, cooldownRule, refused, busyDisp string
	date                                          *regexp.Regexp // a date as the language writes it
}

var adminLangs = map[string]adminTexts{
	"en": {ringingState: "calling the callee", cooldownRule: "pause between two requests", refused: "refused", busyDisp: "busy",
		date: regexp.MustCompile(`^\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d$`)},
	"zh": {ringingState: "正在呼叫被叫", cooldownRule: "两次申请间隔", refused: "拒绝", busyDisp: "忙",
		date: regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$`)},
}

// TestBrowserAdminStates: the dashboard on a phone, in both languages, on
// a service with the default quotas: states, reasons and dispositions in
// the operator's words, the callee's number in the CDR table (dst is "s"),
// one labelled time zone, dates as the language writes them, why a number
// is refused (each quota with its counter and reset time), the Hang up
// button on screen without scrolling, the charts wide enough to read.
func TestBrowserAdminStates(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	testenv.Long(t, "the admin dashboard in two languages")
	for _, lang := range []string{"en", "zh"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			want := adminLangs[lang]
			ctx := newTab(t, 390, 844)
			e := webtest.New(t, webtest.Options{Scale: 0.5, Quotas: true, // the friend rings up to 30 s: time to look around
				Extra: []string{"--limit-per-ip", "off", "--limit-per-subnet", "off", "--timezone", "Asia/Shanghai"}})
			done := e.Create(webtest.NumCaller, webtest.NumBusy)
			e.WaitFinal(done.ID)
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				_, b := e.Admin("GET", "/api/v1/admin/cdrs?request_id="+done.ID, "")
				if strings.Contains(string(b), `"callee":"138 1111 2222"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no CDR with the callee: %s", b)
				}
			}
			ringing := e.Create("13800001002", webtest.NumNoAnswer)

			run(t, ctx, "sign in", chromedp.Navigate(e.URL+"/admin?lang="+lang), waitVisible("#token"),
				chromedp.SendKeys(chromedp.CSS("#token"), webtest.AdminToken+"\r"), waitVisible("#dash"))
			row := `#live tr[data-id="` + ringing.ID + `"]`
			run(t, ctx, "live row", waitVisible(row+` td:nth-child(5)`),
				poll(`document.querySelector('`+row+` td:nth-child(5)').textContent === `+jsString(want.ringingState)))
			if got := text(t, ctx, row+" td:nth-child(3)"); got != "138 0000 1002" {
				t.Errorf("live caller %q, want the national format", got)
			}
			if !eval[bool](t, ctx, `document.querySelector('`+row+` button').getBoundingClientRect().right <= innerWidth`) {
				t.Error("the Hang up button is off-screen on a phone")
			}

			// The node (the sandbox): up, drained and resumed by its button.
			nodeState := `document.querySelector("#nodes tbody tr td:nth-child(2)")?.textContent === `
			up, draining := map[string]string{"en": "up", "zh": "正常"}[lang], map[string]string{"en": "draining", "zh": "排空中"}[lang]
			click := chromedp.Evaluate[chromedp.Void](`document.querySelector("#nodes tbody tr button").click()`)
			run(t, ctx, "node up", poll(nodeState+jsString(up)))
			run(t, ctx, "drain", click, poll(nodeState+jsString(draining)))
			run(t, ctx, "resume", click, poll(nodeState+jsString(up)))
			if _, b := e.Admin("GET", "/api/v1/admin/audit", ""); !strings.Contains(string(b), "/drain") {
				t.Errorf("the drain is not in the audit log: %s", b)
			}

			// CDRs: the callee from the request, dates in the service's zone.
			run(t, ctx, "cdrs", chromedp.Click(chromedp.CSS(`#cdr-form button[type="submit"]`)),
				poll(`[...document.querySelectorAll("#cdrs tbody tr td:nth-child(3)")].some(td => td.textContent === "138 1111 2222")`))
			if got := text(t, ctx, "#cdrs thead th"); !strings.Contains(got, "Asia/Shanghai") {
				t.Errorf("CDR date header %q names no time zone", got)
			}
			// Read by script: the table is re-rendered by each search, and a
			// node chromedp looked up earlier may already be gone.
			if got := eval[string](t, ctx, `document.querySelector("#cdrs tbody tr td").textContent`); !want.date.MatchString(got) {
				t.Errorf("CDR date %q is not written as %s writes dates\n%s", got, lang, eval[string](t, ctx, `document.querySelector("#cdrs tbody").innerHTML`))
			}
			if got := eval[[]string](t, ctx, `[...document.querySelectorAll("#cdrs tbody td:nth-child(4)")].map(td => td.textContent)`); !contains(got, want.busyDisp) {
				t.Errorf("dispositions %q, want %q among them", got, want.busyDisp)
			}
			// The charts come from their own request: wait for them.
			run(t, ctx, "charts", waitVisible("#chart-calls svg"))
			if w := eval[float64](t, ctx, `document.querySelector("#chart-calls svg").getBoundingClientRect().width`); w < 640 {
				t.Errorf("chart %v px wide on a phone: its text is unreadable", w)
			}
			shots(t, ctx, "admin", "dashboard", lang)

			// Why is this number refused: each quota, refused ones marked.
			run(t, ctx, "look up", chromedp.SendKeys(chromedp.CSS("#num"), webtest.NumCaller+"\r"), waitVisible("#quotas tbody tr"))
			quotas := text(t, ctx, "#quotas tbody")
			if !strings.Contains(quotas, want.cooldownRule) || !strings.Contains(quotas, want.refused) {
				t.Errorf("quotas table lacks the refused cooldown:\n%s", quotas)
			}
			run(t, ctx, "scroll", chromedp.ScrollIntoView(chromedp.CSS("#num-h")))
			shots(t, ctx, "admin", "number", lang)

			if !eval[bool](t, ctx, `!!document.querySelector('`+row+`')`) {
				_, b := e.Do("GET", "/api/v1/callbacks/"+ringing.ID, "")
				t.Fatalf("the live row left before the hang-up: %s\n%s", b, eval[string](t, ctx, `document.getElementById("live").outerHTML`))
			}
			run(t, ctx, "hang up", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+row+` button').click()`))
			if err := chromedp.Do(ctx, waitNotPresent(row)); err != nil {
				t.Fatalf("row stays after hang-up: %v\n%s", err, eval[string](t, context.WithoutCancel(ctx), `document.body.innerText`))
			}
			if r := e.WaitFinal(ringing.ID); r.State != callback.StateCanceled || r.Reason != callback.ReasonAdmin {
				t.Errorf("after hang-up %s/%s", r.State, r.Reason)
			}
		})
	}
}

// TestBrowserAdminDisabled: without an admin token the page says so and
// how to turn it on, instead of a sign-in form that can never work.
func TestBrowserAdminDisabled(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	testenv.Long(t, "the admin page without a token, in a browser")
	ctx := newTab(t, 390, 844)
	e := webtest.New(t, webtest.Options{AdminToken: "-"})
	for _, lang := range []string{"en", "zh"} {
		run(t, ctx, "open "+lang, chromedp.Navigate(e.URL+"/admin?lang="+lang), waitVisible("#admin-off"))
		if eval[bool](t, ctx, `!!document.getElementById("login")`) {
			t.Error("a sign-in form with admin disabled")
		}
		if got := text(t, ctx, "#admin-off"); !strings.Contains(got, "--admin-token-file") {
			t.Errorf("no pointer to the setting: %q", got)
		}
		shots(t, ctx, "admin", "disabled", lang)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
