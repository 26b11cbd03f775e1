package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"webcallback/internal/callback"
	"webcallback/internal/testenv"
	"webcallback/internal/web/webtest"
)

// Browser tests drive Debian's headless Chromium through the real pages
// against the real engine and sandbox. Screenshots go to
// testdata-out/web/ at the repository root (git-ignored) in CI and full
// runs.

var (
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  string
)

// chromiumPath finds the browser; tests skip without it, except in CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	testenv.Require(t, false, "browser test: chromium not found (install the Debian package chromium, or set CHROMIUM)")
	return ""
}

// startBrowser starts headless Chromium at path with a new profile and
// returns the context of its first tab.
func startBrowser(path string) (context.Context, error) {
	dir, err := os.MkdirTemp("", "wcb-chromium-*")
	if err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// Tabs run side by side: none is treated as a background one.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		cancelAlloc()
		os.RemoveAll(dir)
		return nil, err
	}
	return bctx, nil
}

// newTab opens a fresh tab of one shared headless browser (one browser
// start per test binary; each tab has its own page state). The browser
// tests run in parallel (t.Parallel), each in its own tab and against a
// service of its own: most of their time is spent waiting for the sandbox's
// calls, so they overlap. Each tab has a browser context (cookies, storage)
// of its own and opens in a window of its own (chromedp's
// default), where Chromium neither hides it nor slows its timers, and has
// the focus emulated, so a page behaves as the one the visitor looks at
// whatever the other tabs do.
func newTab(t *testing.T, width, height int) context.Context {
	t.Helper()
	path := chromiumPath(t)
	browserOnce.Do(func() {
		// Chromium's very first start on a fresh machine has been seen to
		// crash (crashpad's report, no DevTools address); a second start
		// with a new profile is what a person would do.
		var err error
		for try := 0; try < 2; try++ {
			if browserCtx, err = startBrowser(path); err == nil {
				return
			}
			t.Logf("start chromium (try %d): %v", try+1, err)
		}
		browserErr = "start chromium: " + err.Error()
	})
	if browserErr != "" {
		t.Fatal(browserErr)
	}
	// A browser context of its own (an incognito profile): cookies, such
	// as the language a page sets, are per host, not per port, and would
	// leak from one test's service to another's.
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancel2)
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// shot saves a PNG of the page under testdata-out/web/.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !testenv.CI() && !testenv.Full() {
		return // a fifth of the browser tests' processor time: CI and full runs take them
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(testenv.RepoRoot(), "testdata-out", "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pollEvery is how often a wait looks at the page again. chromedp's own
// defaults (a query every 5 ms, a predicate on every animation frame)
// keep Chromium drawing and answering flat out while a test waits for a
// call's next state: most of the browser tests' processor time, with
// several tabs at once on two cores. A state shows for far longer.
const pollEvery = 50 * time.Millisecond

// waitVisible waits until the CSS selector sel matches a visible element.
func waitVisible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel), chromedp.RetryInterval(pollEvery))
}

// waitNotVisible waits until the element of sel is hidden.
func waitNotVisible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitNotVisible(chromedp.CSS(sel), chromedp.RetryInterval(pollEvery))
}

// waitNotPresent waits until nothing matches sel.
func waitNotPresent(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitNotPresent(chromedp.CSS(sel), chromedp.RetryInterval(pollEvery))
}

// poll waits until the JavaScript expression is true.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(pollEvery))
}

// run runs steps in the tab, failing the test with what on error.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	start := time.Now()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s (after %v): %v", what, time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// recordStates installs an observer that records every state the page
// shows, and whether a countdown was on screen while connected.
const recordStates = `(() => {
  window.__states = []; window.__countdown = "";
  const title = document.getElementById("state-title");
  new MutationObserver(() => {
    const s = title.dataset.state;
    if (s && window.__states[window.__states.length - 1] !== s) window.__states.push(s);
    const cd = document.getElementById("countdown");
    if (s === "connected" && !cd.hidden) window.__countdown = document.getElementById("remaining").textContent;
  }).observe(title, {attributes: true, childList: true, characterData: true, subtree: true});
  new MutationObserver(() => {
    if (!document.getElementById("countdown").hidden) window.__countdown = document.getElementById("remaining").textContent;
  }).observe(document.getElementById("remaining"), {childList: true, characterData: true, subtree: true});
  return true;
})()`

// TestBrowserVisitorFlow: a visitor on a phone-sized screen walks the
// whole flow in English and sees every stage, the countdown and the
// outcome.
func TestBrowserVisitorFlow(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	ctx := newTab(t, 390, 844)
	// Slow enough that the caller's phone rings visibly (0.6 s) even on a
	// loaded CI machine; the talk lasts 2.4 s.
	e := webtest.New(t, webtest.Options{Scale: 0.6, Limit: 4 * time.Second})
	run(t, ctx, "open page", chromedp.Navigate(e.URL+"/?lang=en"), waitVisible("#call-now"))
	shot(t, ctx, "visitor-1-form-en")

	// Inline validation: Call now with no number says so and opens no dialog.
	run(t, ctx, "call now empty", chromedp.Click(chromedp.CSS("#call-now")), waitVisible("#caller-error"))
	if got := text(t, ctx, "#caller-error"); got != "Please enter your phone number." {
		t.Errorf("caller error %q", got)
	}
	if eval[bool](t, ctx, `document.getElementById("friend").open`) {
		t.Fatal("dialog opened without a caller number")
	}

	// The dialog opens with the focus in the friend's number.
	run(t, ctx, "open dialog", chromedp.SendKeys(chromedp.CSS("#caller"), "138 0000 1001"), chromedp.Click(chromedp.CSS("#call-now")),
		waitVisible("#callee"))
	focus := eval[string](t, ctx, `document.activeElement.id`)
	modal := eval[bool](t, ctx, `document.getElementById("friend").matches(":modal")`)
	if focus != "callee" || !modal {
		t.Errorf("dialog: focus on %q, modal %v", focus, modal)
	}
	if hint := text(t, ctx, "#callee-hint"); !strings.Contains(hint, "area code") {
		t.Errorf("callee hint %q", hint)
	}
	shot(t, ctx, "visitor-2-dialog-en")

	// Escape closes the dialog and gives the focus back to Call now.
	run(t, ctx, "escape", chromedp.KeyEvent("\x1b"), waitNotVisible("#callee"))
	focus = eval[string](t, ctx, `document.activeElement.id`)
	if focus != "call-now" {
		t.Errorf("after Escape focus is on %q", focus)
	}

	// Same number: refused, the message next to the friend's number.
	run(t, ctx, "same number", chromedp.Click(chromedp.CSS("#call-now")), waitVisible("#callee"),
		chromedp.SendKeys(chromedp.CSS("#callee"), "13800001001"), chromedp.Click(chromedp.CSS("#call")),
		waitVisible("#callee-error"))
	if got := text(t, ctx, "#callee-error"); !strings.Contains(got, "the same") {
		t.Errorf("same number error %q", got)
	}

	// The real call: the friend answers; the talk runs to the limit.
	eval[string](t, ctx, `document.getElementById("callee").value = ""`)
	run(t, ctx, "call", chromedp.SendKeys(chromedp.CSS("#callee"), webtest.NumAnswers))
	eval[bool](t, ctx, recordStates)
	run(t, ctx, "submit", chromedp.Click(chromedp.CSS("#call")), waitVisible("#progress"))
	run(t, ctx, "connected", waitVisible(`#state-title[data-state="connected"]`),
		waitVisible("#countdown"))
	shot(t, ctx, "visitor-3-connected-en")
	run(t, ctx, "outcome", waitVisible(`#state-title[data-state="completed"]`), waitVisible("#again"))
	shot(t, ctx, "visitor-4-outcome-en")
	if got := text(t, ctx, "#outcome"); got != "Time is up." {
		t.Errorf("outcome %q", got)
	}
	states := eval[[]string](t, ctx, `window.__states`)
	countdown := eval[string](t, ctx, `window.__countdown`)
	loc := eval[string](t, ctx, `location.pathname`)
	for _, want := range []string{"calling_caller", "calling_callee", "connected", "completed"} {
		if !contains(states, want) {
			t.Errorf("the page never showed %s: %v", want, states)
		}
	}
	if !strings.Contains(countdown, ":") {
		t.Errorf("no countdown seen while connected (%q)", countdown)
	}
	if !strings.HasPrefix(loc, "/call/") {
		t.Errorf("address bar %q, want the request's page", loc)
	}
	if !eval[bool](t, ctx, `document.getElementById("cancel-form").hidden`) {
		t.Error("Cancel still offered after the call ended")
	}
}

// TestBrowserCancelZH: in Chinese, the visitor cancels while the friend's
// phone rings; then the request's own page (reloaded) tells the outcome.
func TestBrowserCancelZH(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	testenv.Long(t, "the visitor cancels in Chinese, in a browser (internal/web's TestCancel and TestNoJSFlow cancel over HTTP)")
	ctx := newTab(t, 390, 844)
	// 0.25: the friend's phone rings 15 s before the far end gives up
	// (60 PBX s), time enough for the page to act while the other tests
	// run too; getting there takes 2 s.
	e := webtest.New(t, webtest.Options{Scale: 0.25})
	run(t, ctx, "open page", chromedp.Navigate(e.URL+"/?lang=zh"), waitVisible("#call-now"))
	if got := text(t, ctx, "#call-now"); got != "立即呼叫" {
		t.Errorf("button %q", got)
	}
	run(t, ctx, "call", chromedp.SendKeys(chromedp.CSS("#caller"), webtest.NumCaller), chromedp.Click(chromedp.CSS("#call-now")),
		waitVisible("#callee"), chromedp.SendKeys(chromedp.CSS("#callee"), webtest.NumNoAnswer+"\r"),
		waitVisible(`#state-title[data-state="calling_callee"]`))
	if got := text(t, ctx, "#state-title"); got != "正在呼叫您的朋友……" {
		t.Errorf("stage text %q", got)
	}
	shot(t, ctx, "visitor-5-ringing-zh")
	run(t, ctx, "cancel", chromedp.Click(chromedp.CSS("#cancel")), waitVisible(`#state-title[data-state="canceled"]`))
	if got := text(t, ctx, "#outcome"); got != "您已取消呼叫。" {
		t.Errorf("outcome %q", got)
	}
	shot(t, ctx, "visitor-6-canceled-zh")
	run(t, ctx, "reload", chromedp.Reload(), waitVisible("#outcome"))
	if got := text(t, ctx, "#outcome"); got != "您已取消呼叫。" {
		t.Errorf("after reload %q", got)
	}
}

// TestBrowserNoJS: with JavaScript off the form posts and the status page
// (which reloads itself) shows the outcome.
func TestBrowserNoJS(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	testenv.Long(t, "the pages without JavaScript, in a browser (internal/web's TestNoJSFlow is the quick one)")
	ctx := newTab(t, 390, 844)
	e := webtest.New(t, webtest.Options{Scale: 0.05})
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "open page", chromedp.Navigate(e.URL+"/?lang=en"), waitVisible("#callee"))
	shot(t, ctx, "nojs-1-form")
	run(t, ctx, "submit", chromedp.SendKeys(chromedp.CSS("#caller"), webtest.NumCaller), chromedp.SendKeys(chromedp.CSS("#callee"), webtest.NumBusy),
		chromedp.Click(chromedp.CSS("#call")), waitVisible("#state-title"))
	// The meta refresh reloads every 2 s until the outcome is there.
	run(t, ctx, "outcome", waitVisible(`#state-title[data-state="failed"]`))
	if got := text(t, ctx, "#outcome"); got != "Your friend's line is busy." {
		t.Errorf("outcome %q", got)
	}
	shot(t, ctx, "nojs-2-outcome")
}

// TestBrowserAdmin: the admin signs in, sees a live call arrive over the
// stream, hangs it up and sees it leave.
func TestBrowserAdmin(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	ctx := newTab(t, 1280, 900)
	// 0.25: the friend's phone rings 15 s before the far end gives up
	// (60 PBX s), time enough for the page to act while the other tests
	// run too; getting there takes 2 s.
	e := webtest.New(t, webtest.Options{Scale: 0.25})
	run(t, ctx, "sign in", chromedp.Navigate(e.URL+"/admin?lang=en"), waitVisible("#token"),
		chromedp.SendKeys(chromedp.CSS("#token"), webtest.AdminToken+"\r"), waitVisible("#dash"))
	r := e.Create(webtest.NumCaller, webtest.NumNoAnswer)
	row := `#live tr[data-id="` + r.ID + `"]`
	// The table is drawn anew on every event of the call: the click waits
	// for the last one (the friend's phone rings until the hang-up), or it
	// could land on a row the next event has just replaced.
	run(t, ctx, "live row", waitVisible(row+` td:nth-child(5)`),
		poll(`document.querySelector('`+row+` td:nth-child(5)').textContent === "calling the callee"`))
	run(t, ctx, "charts", waitVisible("#chart-calls svg"))
	shot(t, ctx, "admin-1-live")
	run(t, ctx, "hang up", chromedp.Click(chromedp.CSS(row+" button")))
	if err := chromedp.Do(ctx, waitNotPresent(row)); err != nil {
		t.Fatalf("row stays after hang-up: %v\n%s", err, eval[string](t, context.WithoutCancel(ctx), `document.body.innerText`))
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, b := e.Do("GET", "/api/v1/callbacks/"+r.ID, "")
		var got callback.Request
		_ = json.Unmarshal(b, &got)
		if got.State == callback.StateCanceled && got.Reason == callback.ReasonAdmin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after hang-up: %s", b)
		}
	}
	run(t, ctx, "audit", waitVisible("#audit tbody tr"))
	shot(t, ctx, "admin-2-after-hangup")
	// The token stays for the tab's session; the dashboard speaks Chinese too.
	run(t, ctx, "zh", chromedp.Navigate(e.URL+"/admin?lang=zh"), waitVisible("#dash"))
	if got := text(t, ctx, "#live-h"); !strings.HasPrefix(got, "实时通话") {
		t.Errorf("zh dashboard heading %q", got)
	}
	shot(t, ctx, "admin-3-zh")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
