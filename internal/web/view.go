package web

import (
	"fmt"
	"math"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/policy"
)

// requestView is the API object of a request (docs/design.md §6): the
// engine's callback.Request plus what a page needs to tell the visitor the
// truth without a phone-number library or the service's settings of its own:
// both numbers as people of the region write them, the talk limit and, once
// connected, when the call will be cut. All times are wall-clock: on the
// sandbox PBX with a time scale the countdown and talk time follow the
// scaled call the visitor actually sees.
type requestView struct {
	*callback.Request
	CallerDisplay string `json:"caller_display"` // "138 0000 1001" (national format of the region)
	CalleeDisplay string `json:"callee_display"`
	LimitSeconds  int    `json:"limit_seconds"` // the talk limit of this service
	// EndsAt is when the limit will end a connected call (null before).
	EndsAt *time.Time `json:"ends_at"`
	// TalkSeconds is the talk time in wall-clock seconds: billsec on a real
	// PBX, billsec times the time scale on the sandbox.
	TalkSeconds int `json:"talk_seconds"`
}

// view wraps req for the API and the pages.
func (s *server) view(req *callback.Request) requestView {
	v := requestView{
		Request:       req,
		CallerDisplay: policy.DisplayNumber(req.Caller, s.cfg.Region),
		CalleeDisplay: policy.DisplayNumber(req.Callee, s.cfg.Region),
		LimitSeconds:  s.limitSeconds(),
		TalkSeconds:   int(math.Round(float64(req.Billsec) * s.cfg.PBXTimeScale)),
	}
	if req.ConnectedAt != nil {
		end := req.ConnectedAt.Add(time.Duration(v.LimitSeconds) * time.Second)
		v.EndsAt = &end
	}
	return v
}

// limitSeconds is the talk limit in wall-clock seconds (at least 1).
func (s *server) limitSeconds() int {
	return max(1, int(math.Round(s.cfg.CallLimit.Seconds()*s.cfg.PBXTimeScale)))
}

// The four steps the page shows and the step each live state is at: 1
// calling you, 2 answer your phone (and press 1 when asked: confirming), 3
// calling your friend, 4 connected.
// app.js holds the same table (stepOf) for the live view.
var (
	stepKeys = []string{"step.calling_you", "step.answer", "step.friend", "step.connected"}
	stepOf   = map[callback.State]int{
		callback.StateQueued: 1, callback.StateCallingCaller: 2, callback.StateCallerAnswered: 3,
		callback.StateConfirming: 2, callback.StateCallingCallee: 3, callback.StateConnected: 4,
	}
)

// stepView is one step as the page draws it.
type stepView struct {
	N          int
	Key, Class string // Class: "done", "active", "failed", "stopped" or ""
}

// outcome is how a request's page presents it; app.js's present() computes
// the same from the API object.
type outcome struct {
	Kind      string // "" (live), "ok" (talked), "failed", "canceled"
	StateKey  string // the title's text key
	ReasonKey string // the outcome's text key, "" = none
	Steps     []stepView
}

// present decides what the page shows of v: which steps happened (ticked),
// which failed (crossed), none ticked that did not happen; a call that
// connected and was then hung up by the visitor or the operator reads as
// ended, not canceled.
func present(v requestView) outcome {
	o := outcome{StateKey: "state." + string(v.State)}
	// The step the call was at when it ended: the last live state's (not
	// the furthest: confirming comes after caller_answered, at step 2).
	reached := 0
	for _, h := range v.History {
		if n, ok := stepOf[h.State]; ok {
			reached = n
		}
	}
	talked := v.ConnectedAt != nil
	mark := func(int) string { return "" }
	switch {
	case !v.State.Final():
		cur := stepOf[v.State]
		mark = func(n int) string {
			switch {
			case n < cur:
				return "done"
			case n == cur:
				return "active"
			}
			return ""
		}
	case talked:
		o.Kind, o.StateKey = "ok", "state."+string(callback.StateCompleted)
		mark = func(int) string { return "done" }
	case v.State == callback.StateCanceled || v.State == callback.StateFailed:
		last := "failed"
		o.Kind = "failed"
		if v.State == callback.StateCanceled {
			o.Kind, last = "canceled", "stopped"
		}
		mark = func(n int) string {
			switch {
			case n < reached:
				return "done"
			case n == reached:
				return last
			}
			return ""
		}
	default: // rejected: nothing happened
		o.Kind = "failed"
	}
	for i, k := range stepKeys {
		o.Steps = append(o.Steps, stepView{N: i + 1, Key: k, Class: mark(i + 1)})
	}
	switch {
	case v.Reason == "":
	case v.State == callback.StateRejected:
		o.ReasonKey = "error." + string(v.Reason)
	case talked && v.Reason == callback.ReasonVisitor:
		o.ReasonKey = "reason.visitor_connected"
	default:
		o.ReasonKey = "reason." + string(v.Reason)
	}
	return o
}

// talkText is "Talk time: 2:31" for a call that connected and ended.
func talkText(lang string, v requestView) string {
	if v.ConnectedAt == nil || !v.State.Final() {
		return ""
	}
	return fmt.Sprintf(msg(lang, "talk_time"), clockText(v.TalkSeconds))
}

// clockText is m:ss (h:mm:ss from an hour), as the countdowns show it.
func clockText(secs int) string {
	if secs >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	}
	return fmt.Sprintf("%d:%02d", secs/60, secs%60)
}
