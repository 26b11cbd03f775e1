package e2e_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"webcallback/internal/testenv"
	"webcallback/internal/web/webtest"
)

// visitorTexts are the bits of the visitor's texts the state tests look
// for, per language (the page's own catalogue is internal).
type visitorTexts struct {
	busy, callerNoAnswer, cooldown, calleeLimited, retryWords, waitLabel string
	hangUp, hungUp, ended, talk, timeUp, canceled                        string
}

var visitorLangs = map[string]visitorTexts{
	"en": {
		busy: "Your friend's line is busy.", callerNoAnswer: "You did not answer your phone.",
		cooldown: "Your number asked for a call a moment ago", calleeLimited: "Your friend's number has been called too often",
		retryWords: "You can try again in", waitLabel: "Time to wait",
		hangUp: "Hang up", hungUp: "You hung up.", ended: "Call ended", talk: "Talk time", timeUp: "Time is up.",
		canceled: "You canceled the call.",
	},
	"zh": {
		busy: "您朋友的电话占线。", callerNoAnswer: "您没有接听电话。",
		cooldown: "您的号码刚刚申请过呼叫", calleeLimited: "您朋友的号码在短时间内被呼叫太多次",
		retryWords: "后（", waitLabel: "还需等待",
		hangUp: "挂断", hungUp: "您已挂断。", ended: "通话结束", talk: "通话时长", timeUp: "通话时间已到。",
		canceled: "您已取消呼叫。",
	},
}

// shots saves the page at a phone's and a desktop's size (390x844 and
// 1280x800) as <page>-<state>-<lang>-<width>.png, and goes back to the
// phone's size.
func shots(t *testing.T, ctx context.Context, page, state, lang string) {
	t.Helper()
	for _, sz := range [][2]int64{{1280, 800}, {390, 844}} {
		run(t, ctx, "viewport", chromedp.EmulateViewport(sz[0], sz[1]))
		shot(t, ctx, fmt.Sprintf("%s-%s-%s-%d", page, state, lang, sz[0]))
	}
}

// stepClasses is how the four steps are marked: done, active, failed,
// stopped or "".
func stepClasses(t *testing.T, ctx context.Context) string {
	return strings.Join(eval[[]string](t, ctx, `[...document.querySelectorAll("#progress .steps li")].map(li => li.className)`), ",")
}

// call fills both numbers on a fresh form page and presses Call.
func call(t *testing.T, ctx context.Context, url, caller, callee string) {
	t.Helper()
	run(t, ctx, "form "+caller+"→"+callee, chromedp.Navigate(url), waitVisible("#call-now"),
		chromedp.SendKeys(chromedp.CSS("#caller"), caller), chromedp.Click(chromedp.CSS("#call-now")),
		waitVisible("#callee"), chromedp.SendKeys(chromedp.CSS("#callee"), callee),
		chromedp.Click(chromedp.CSS("#call")))
}

// final waits until the page shows the request's outcome (kind "ok",
// "failed" or "canceled") and checks its text and how the steps are marked.
func final(t *testing.T, ctx context.Context, kind, outcome, steps string) {
	t.Helper()
	run(t, ctx, "outcome "+kind, waitVisible(`#progress[data-outcome="`+kind+`"] #outcome-box`))
	if got := text(t, ctx, "#outcome"); got != outcome {
		t.Errorf("%s outcome %q, want %q", kind, got, outcome)
	}
	if got := stepClasses(t, ctx); got != steps {
		t.Errorf("%s steps %q, want %q", outcome, got, steps)
	}
}

var clockRE = regexp.MustCompile(`^(\d+):(\d\d)$`)

// TestBrowserVisitorStates walks every state a visitor can meet, in both
// languages, on a service with the default quotas (the README's demo as a
// fresh service runs it): the form, a failed call, "Call again" with both
// numbers kept, the cooldown refusal of the caller from the server (which
// must stay on screen), the refusal of the friend's number, the caller not
// answering, a ringing call canceled, a connected call hung up from the
// page, and a call cut at the limit. Screenshots of each at 390x844 and
// 1280x800.
func TestBrowserVisitorStates(t *testing.T) {
	t.Parallel() // a tab and a service of its own: see newTab
	testenv.Long(t, "every visitor state at two sizes in two languages")
	for _, lang := range []string{"en", "zh"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			want := visitorLangs[lang]
			ctx := newTab(t, 390, 844)
			// 0.05: a 2-minute limit lasts 6 s and the caller's phone rings
			// 1.5 s before "no answer".
			e := webtest.New(t, webtest.Options{Scale: 0.05, Limit: 2 * time.Minute, Quotas: true,
				Extra: []string{"--limit-per-ip", "off", "--limit-per-subnet", "off", "--limit-per-prefix", "off"}})
			page := e.URL + "/?lang=" + lang

			// The form: the focus is in the number field.
			run(t, ctx, "open", chromedp.Navigate(page), waitVisible("#call-now"))
			if f := eval[string](t, ctx, `document.activeElement.id`); f != "caller" {
				t.Errorf("focus starts on %q, want the number field", f)
			}
			shots(t, ctx, "visitor", "form", lang)

			// The README's first try: the friend is busy. A failure layout:
			// the friend's step crossed, nothing after it ticked.
			call(t, ctx, page, webtest.NumCaller, webtest.NumBusy)
			final(t, ctx, "failed", want.busy, "done,done,failed,")
			if got := text(t, ctx, "#num-from") + "|" + text(t, ctx, "#num-to"); got != "138 0000 1001|138 1111 2222" {
				t.Errorf("numbers shown as %q, want the national format", got)
			}
			if said := eval[string](t, ctx, `document.getElementById("announce").textContent`); !strings.Contains(said, want.busy) || !strings.Contains(said, text(t, ctx, "#state-title")) {
				t.Errorf("announced %q", said)
			}
			shots(t, ctx, "visitor", "failed-busy", lang)

			// "Call again" keeps both numbers.
			run(t, ctx, "again", chromedp.Click(chromedp.CSS("#again")), waitVisible("#call-now"))
			if got := eval[string](t, ctx, `caller.value + "|" + callee.value`); got != "138 0000 1001|138 1111 2222" {
				t.Errorf("after Call again the numbers are %q", got)
			}

			// The README's second try, another friend a moment later: the
			// cooldown refuses the caller on the server. The message stays
			// (also when the field loses the focus), names the caller's
			// number, says when in words and counts down.
			run(t, ctx, "second try", chromedp.Click(chromedp.CSS("#call-now")), waitVisible("#callee"),
				chromedp.Evaluate[chromedp.Void](`callee.value = ""`), chromedp.SendKeys(chromedp.CSS("#callee"), webtest.NumAnswers),
				chromedp.Click(chromedp.CSS("#call")), waitVisible("#caller-error .retry-countdown"))
			if f := eval[string](t, ctx, `document.activeElement.id`); f != "caller" {
				t.Errorf("after the caller's refusal the focus is on %q", f)
			}
			run(t, ctx, "leave the field", chromedp.Evaluate[chromedp.Void](`document.getElementById("call-now").focus()`))
			msg := text(t, ctx, "#caller-error")
			for _, w := range []string{want.cooldown, want.retryWords, want.waitLabel} {
				if !strings.Contains(msg, w) {
					t.Errorf("caller refusal %q lacks %q", msg, w)
				}
			}
			if said := eval[string](t, ctx, `document.getElementById("announce").textContent`); !strings.Contains(said, want.cooldown) {
				t.Errorf("refusal announced as %q", said)
			}
			first := text(t, ctx, "#caller-error time")
			if m := clockRE.FindStringSubmatch(first); m == nil || m[1] != "0" && m[1] != "1" {
				t.Errorf("cooldown countdown %q, want at most a minute", first)
			}
			run(t, ctx, "countdown ticks", poll(`document.querySelector("#caller-error time").textContent !== `+strconv.Quote(first)))
			if eval[bool](t, ctx, `document.getElementById("caller-error").hidden`) {
				t.Error("the refusal vanished")
			}
			shots(t, ctx, "visitor", "refused-caller-cooldown", lang)
			// Changing the number is the visitor acting: the message goes.
			run(t, ctx, "change number", chromedp.SendKeys(chromedp.CSS("#caller"), "9"))
			if !eval[bool](t, ctx, `document.getElementById("caller-error").hidden`) {
				t.Error("the refusal stays after the number changed")
			}

			// The friend's number has been rung three times this hour: the
			// refusal is about the friend's number, in the dialog.
			const limited = "13811113333"
			for i := range 3 {
				e.Create(fmt.Sprintf("1380000300%d", i), limited)
			}
			call(t, ctx, page, "13800001002", limited)
			run(t, ctx, "callee refused", waitVisible("#callee-error .retry"))
			if !eval[bool](t, ctx, `document.getElementById("friend").open`) || eval[string](t, ctx, `document.activeElement.id`) != "callee" {
				t.Error("the friend's refusal must keep the dialog open with the focus on the friend's number")
			}
			msg = text(t, ctx, "#callee-error")
			if !strings.Contains(msg, want.calleeLimited) || !strings.Contains(msg, want.retryWords) {
				t.Errorf("callee refusal %q", msg)
			}
			shots(t, ctx, "visitor", "refused-callee", lang)

			// The caller does not answer: "answer your phone" crossed.
			call(t, ctx, page, "13822221001", "13800002003")
			final(t, ctx, "failed", want.callerNoAnswer, "done,failed,,")
			shots(t, ctx, "visitor", "failed-caller-no-answer", lang)

			// The friend's phone rings; the visitor cancels.
			call(t, ctx, page, "13800001005", webtest.NumNoAnswer)
			run(t, ctx, "ringing", waitVisible(`#state-title[data-state="calling_callee"]`))
			shots(t, ctx, "visitor", "ringing", lang)
			run(t, ctx, "cancel", chromedp.Click(chromedp.CSS("#cancel")))
			final(t, ctx, "canceled", want.canceled, "done,done,stopped,")
			shots(t, ctx, "visitor", "canceled", lang)

			// Connected: the countdown starts from the service's limit (6 s
			// here, not 5:00) and the call can be hung up from the page.
			call(t, ctx, page, "13800001003", "13800002004")
			run(t, ctx, "connected", waitVisible("#countdown"))
			if m := clockRE.FindStringSubmatch(text(t, ctx, "#remaining")); m == nil || m[1] != "0" || m[2] > "06" {
				t.Errorf("countdown %q, want at most the 0:06 limit", text(t, ctx, "#remaining"))
			}
			if got := text(t, ctx, "#cancel"); got != want.hangUp {
				t.Errorf("button while connected %q, want %q", got, want.hangUp)
			}
			shots(t, ctx, "visitor", "connected", lang)
			run(t, ctx, "hang up", chromedp.Click(chromedp.CSS("#cancel")))
			final(t, ctx, "ok", want.hungUp, "done,done,done,done")
			if got := text(t, ctx, "#state-title"); got != want.ended {
				t.Errorf("after hang-up the title is %q", got)
			}
			if got := text(t, ctx, "#talk"); !strings.HasPrefix(got, want.talk) {
				t.Errorf("talk time %q", got)
			}
			shots(t, ctx, "visitor", "hung-up", lang)

			// The limit ends the talk: completed, with its talk time.
			call(t, ctx, page, "13800001004", "13800002005")
			final(t, ctx, "ok", want.timeUp, "done,done,done,done")
			if got := text(t, ctx, "#talk"); !strings.HasPrefix(got, want.talk) || !strings.HasSuffix(got, "0:06") && !strings.HasSuffix(got, "0:05") {
				t.Errorf("talk time %q, want the 6 s limit", got)
			}
			shots(t, ctx, "visitor", "completed", lang)
		})
	}
}
