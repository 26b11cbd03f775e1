package wcbproto

import "webcallback/internal/callback"

// Q.850 causes the tables below name.
const (
	CauseUnallocated     = 1
	CauseNoRoute         = 3
	CauseNormalClearing  = 16
	CauseUserBusy        = 17
	CauseNoUserResponse  = 18
	CauseNoAnswer        = 19
	CauseCallRejected    = 21
	CauseInvalidFormat   = 28
	CauseNormalUnspec    = 31
	CauseCongestion      = 34 // SIP 503 with PJSIP
	CauseNetworkOutOrder = 38
	CauseTempFailure     = 41
	CauseSwitchCongest   = 42
)

// CalleeOutcome maps how the callee's Dial ended (${DIALSTATUS} and the
// caller channel's ${HANGUPCAUSE} right after Dial) to the failed request's
// reason and the prompt the caller hears. It is docs/design.md §1's table, extended
// to every Q.850 class, and it is the single source: the dialplan's
// [webcallback-cause] context is rendered from it and the sandbox PBX plays
// what it says. dialStatus ANSWER and CANCEL are not failures of the callee
// and give ("", "").
//
// The fixtures show why DIALSTATUS alone is not enough with PJSIP: 404 and
// 603 both come back as NOANSWER, told apart only by the cause (1, 21).
func CalleeOutcome(dialStatus string, cause int) (callback.Reason, callback.Prompt) {
	switch dialStatus {
	case "ANSWER", "CANCEL", "":
		return "", ""
	}
	switch cause {
	case CauseUserBusy:
		return callback.ReasonCalleeBusy, callback.PromptPartnerBusy
	case CauseCallRejected:
		return callback.ReasonCalleeRejected, callback.PromptPartnerBusy
	case CauseNoUserResponse, CauseNoAnswer:
		return callback.ReasonCalleeNoAnswer, callback.PromptPartnerAway
	case CauseUnallocated, CauseNoRoute, CauseInvalidFormat:
		return callback.ReasonCalleeInvalid, callback.PromptInvalidNumber
	}
	switch dialStatus {
	case "BUSY":
		return callback.ReasonCalleeBusy, callback.PromptPartnerBusy
	case "NOANSWER":
		// Ring timeout: the callee leg ends with cause 0 and the caller's
		// HANGUPCAUSE reads 16 (fixture callee-noanswer-direct).
		if cause == 0 || cause == CauseNormalClearing || cause == CauseNormalUnspec {
			return callback.ReasonCalleeNoAnswer, callback.PromptPartnerAway
		}
	}
	// CONGESTION, CHANUNAVAIL, or any network/system cause (34, 38, 41, 42, 47, 102, ...).
	return callback.ReasonNetworkError, callback.PromptSystemBusy
}

// CallerOutcome maps how the caller's own leg failed (the originate leg's
// DialEnd DialStatus and its Hangup Cause; OriginateResponse Reason 3 means
// the Originate timeout ran out) to the failed request's reason.
//
// A specific cause decides before DIALSTATUS: with PJSIP a 404 or a 603
// comes back as NOANSWER (fixtures README §8), and only the cause (1, 21)
// tells them from a phone that rang out.
func CallerOutcome(dialStatus string, cause int, originateReason int) callback.Reason {
	switch cause {
	case CauseUserBusy, CauseCallRejected:
		return callback.ReasonCallerBusy
	case CauseNoUserResponse, CauseNoAnswer:
		return callback.ReasonCallerNoAnswer
	case 0, CauseNormalClearing, CauseNormalUnspec:
		// Not specific: DIALSTATUS and the Originate's Reason decide.
	default:
		return callback.ReasonCallerUnreachable
	}
	switch {
	case dialStatus == "BUSY":
		return callback.ReasonCallerBusy
	case dialStatus == "NOANSWER" || originateReason == 3:
		return callback.ReasonCallerNoAnswer
	}
	return callback.ReasonCallerUnreachable
}
