package callflow

import (
	"strconv"
	"strings"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// Settling a call from its CDRs.
//
// A call whose channels are gone from Asterisk while the engine did not
// see its end (the service was stopped, killed or restarting, or the AMI
// link was down) used to be failed as network_error with a talk time
// counted until the reconnect. With Asterisk's database CDR backend
// (--cdr-source table) the PBX has written the call's CDR rows into the
// cdr table itself, whether the service was there or not, and they say
// how it ended: the userfield ("Hangupcause:N;wcb:<id>", set by the
// dialplan on the way out), the Dial row's disposition (did the callee
// answer) and talksec (the dialplan's talk time).

// cdrOutcome is what a call's CDR rows say about its end.
type cdrOutcome struct {
	state   callback.State
	reason  callback.Reason
	cause   int
	prompt  callback.Prompt
	billsec int
	ended   time.Time // the last row's end (calldate + duration)
}

// outcomeFromCDRs reads the outcome of request id from its cdr rows
// (store.CallCDRs). ok is false when the rows do not tell: the dialplan
// never set the userfield (the caller never answered, or the rows are not
// written yet). limitMS is the call's talk limit.
//
// The userfield lands on the Dial row only when the caller hung up while
// Dial ran (the h extension set it: Dial never returned); otherwise on the
// row after Dial (fixtures README §9), and then the callee's leg ended
// first: callee hung up, the limit, or the callee was never reached.
func outcomeFromCDRs(id string, rows []store.CDR, limitMS int) (o cdrOutcome, ok bool) {
	var uf, dial *store.CDR
	talk := -1
	for i := range rows {
		r := &rows[i]
		if r.TalkSec != nil {
			talk = max(talk, *r.TalkSec)
		}
		if end := r.CallDate.Add(time.Duration(r.Duration) * time.Second); end.After(o.ended) {
			o.ended = end
		}
		if r.LastApp == "Dial" && dial == nil {
			dial = r
		}
		if strings.HasPrefix(r.UserField, wcbproto.UserfieldPrefix) && wcbproto.RequestIDFromUserfield(r.UserField) == id {
			uf = r
		}
	}
	if uf == nil {
		return o, false
	}
	cause, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(uf.UserField, ";", 2)[0], wcbproto.UserfieldPrefix))
	if err != nil || cause < 0 || cause > 127 {
		return o, false
	}
	o.cause = cause
	// Consent ended it (the dialplan added ";consent:<reason>" to the
	// userfield): the caller did not press 1, so the callee was never rung;
	// or the callee pressed 9 in the announcement, so its Dial row says
	// ANSWERED without a connection. Neither is talk time.
	switch callback.Reason(consentOf(uf.UserField)) {
	case callback.ReasonCallerNoConfirm:
		o.state, o.reason, o.prompt = callback.StateFailed, callback.ReasonCallerNoConfirm, callback.PromptNoConfirm
		return o, true
	case callback.ReasonCalleeOptedOut:
		o.state, o.reason = callback.StateFailed, callback.ReasonCalleeOptedOut
		_, o.prompt = wcbproto.CalleeOutcome("NOANSWER", cause)
		return o, true
	}
	connected := dial != nil && dial.Disposition == "ANSWERED" && dial.DstChannel != ""
	// The h extension set it while Dial ran: on the Dial row (the sandbox)
	// or on a row of its own whose destination is "h" (Asterisk 22,
	// fixture kit-pbx-shutdown).
	callerFirst := dial != nil && (uf == dial || uf.Dst == "h")
	if connected {
		o.state, o.billsec = callback.StateCompleted, talk
		if talk < 0 {
			o.billsec = dial.Billsec // a dialplan without talksec: Asterisk's figure
		}
		switch {
		case callerFirst:
			o.reason = callback.ReasonCallerHangup
		case limitMS > 0 && o.billsec*1000 >= limitMS-limitReachedSlack:
			o.reason, o.prompt = callback.ReasonLimitReached, callback.PromptTimeoutHangup
		default:
			o.reason, o.prompt = callback.ReasonCalleeHangup, callback.PromptPartnerHangup
		}
		return o, true
	}
	if dial == nil && cause == wcbproto.CauseInvalidFormat {
		// No callee digits left after FILTER(): the dialplan never dialled.
		o.state, o.reason, o.prompt = callback.StateFailed, callback.ReasonCalleeInvalid, callback.PromptInvalidNumber
		return o, true
	}
	if dial == nil || callerFirst {
		// Hung up in Welcome or while the callee rang: not the callee's fault.
		o.state, o.reason = callback.StateCanceled, callback.ReasonCallerHangup
		return o, true
	}
	o.state = callback.StateFailed
	o.reason, o.prompt = wcbproto.CalleeOutcome(dialStatusOf(dial.Disposition), cause)
	if o.reason == "" {
		o.reason, o.prompt = callback.ReasonNetworkError, callback.PromptSystemBusy
	}
	return o, true
}

// consentOf is the reason after UserfieldConsentPrefix in uf, or "".
func consentOf(uf string) string {
	_, after, found := strings.Cut(uf, wcbproto.UserfieldConsentPrefix)
	if !found {
		return ""
	}
	reason, _, _ := strings.Cut(after, ";")
	return reason
}

// dialStatusOf is the DIALSTATUS a Dial row's disposition stands for.
func dialStatusOf(disposition string) string {
	switch disposition {
	case "BUSY":
		return "BUSY"
	case "NO ANSWER":
		return "NOANSWER"
	case "ANSWERED":
		return "ANSWER"
	}
	return "CONGESTION" // FAILED, CONGESTION
}
