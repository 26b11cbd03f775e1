package e2e_test

import (
	"testing"
	"webcallback/internal/callback"
	"webcallback/internal/testenv"
	"webcallback/internal/web/webtest"

	"github.com/chromedp/chromedp"
)

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
	testenv.Long(t, "consent on the pages, in a browser (internal/web's TestConsentAPI is the quick one)")
	e := webtest.New(t, webtest.Options{Scale: 0.05, Announce: true})
	for _, tc := range []struct{ lang, confirming, outcome string }{
		{"en", "Press 1 on your phone to call your friend", "You did not press 1, so your friend was not called."},
		{"zh", "请在电话上按 1 呼叫您的朋友", "您没有按 1，因此没有呼叫您的朋友。"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			t.Parallel() // a tab of its own; the callers' requests are independent
			testNoConfirmPage(t, e.In(t), tc.lang, tc.confirming, tc.outcome)
		})
	}
	t.Run("do-not-call", func(t *testing.T) {
		t.Parallel()
		testDoNotCallAdmin(t, e.In(t))
	})
}

// testNoConfirmPage: a caller who never presses 1, on the visitor's page
// in lang: the page asks for the 1 (step 2) and then says why the friend
// was not called.
func testNoConfirmPage(t *testing.T, e *webtest.Env, lang, confirming, outcome string) {
	ctx := newTab(t, 390, 844)
	run(t, ctx, "open page "+lang, chromedp.Navigate(e.URL+"/?lang="+lang), waitVisible("#call-now"))
	eval[bool](t, ctx, recordConfirming)
	run(t, ctx, "call "+lang, chromedp.SendKeys(chromedp.CSS("#caller"), webtest.NumNeverPresses), chromedp.Click(chromedp.CSS("#call-now")),
		waitVisible("#callee"), chromedp.SendKeys(chromedp.CSS("#callee"), webtest.NumAnswers+"\r"),
		waitVisible(`#state-title[data-state="failed"]`))
	shot(t, ctx, "consent-1-no-confirm-"+lang)
	seen := eval[map[string]string](t, ctx, `window.__confirming || {}`)
	if seen["text"] != confirming || seen["step"] != "2" {
		t.Errorf("%s: while confirming the page showed %q", lang, seen)
	}
	if got := text(t, ctx, "#outcome"); got != outcome {
		t.Errorf("%s: outcome %q", lang, got)
	}
}

// testDoNotCallAdmin: a friend opts out; the admin dashboard lists the
// number in the do-not-call list and removes it, after which it may be
// called again.
func testDoNotCallAdmin(t *testing.T, e *webtest.Env) {
	opted := e.Final(e.Create(webtest.NumCaller, webtest.NumOptsOut).ID)
	if opted.Reason != callback.ReasonCalleeOptedOut {
		t.Fatalf("opt-out call: %s/%s", opted.State, opted.Reason)
	}
	ctx := newTab(t, 1280, 900)
	row := `#dnc tbody tr`
	run(t, ctx, "admin", chromedp.Navigate(e.URL+"/admin?lang=en"), waitVisible("#token"),
		chromedp.SendKeys(chromedp.CSS("#token"), webtest.AdminToken+"\r"), waitVisible(row))
	if got := text(t, ctx, row+" td"); got != "+86"+webtest.NumOptsOut {
		t.Errorf("do-not-call row shows %q", got)
	}
	shot(t, ctx, "consent-2-admin-do-not-call")
	run(t, ctx, "remove", chromedp.Click(chromedp.CSS(row+" button")), waitNotPresent(row),
		waitVisible("#dnc-empty"))
	e.Create("13800001004", webtest.NumOptsOut) // may be called again
}
