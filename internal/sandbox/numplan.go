package sandbox

import (
	"strings"
	"time"

	"webcallback/internal/wcbproto"
)

// farEnd is how the simulated PSTN behind the trunk treats one dialled
// number: docs/design.md §4, with the timings measured in the fixtures' .log files
// (180 Ringing at once, 200 OK after 1 s, failures 0.5 s after the 180).
type farEnd struct {
	// Answer: the far end sends 200 OK after RingFor.
	Answer bool
	// RingFor is the time from 180 Ringing to the final answer or failure.
	RingFor time.Duration
	// NeverAnswers: 180 and then nothing, until the caller gives up.
	NeverAnswers bool
	// Cause and SIP are the Q.850 cause and SIP status of a failure.
	Cause, SIP int
	// HangupAfter > 0: the far end sends BYE this long after answering.
	HangupAfter time.Duration
}

// Timings measured on Asterisk 22 (fixtures *.log).
const (
	ringBeforeAnswer = 1000 * time.Millisecond // 180 → 200 OK
	ringBeforeFail   = 500 * time.Millisecond  // 180 → 4xx/5xx
	// noAnswerGiveUp is how long the far end lets a number of the
	// never-answering class ring when nobody cancels (no Dial timeout):
	// like a real carrier, it then sends 480 (cause 19).
	noAnswerGiveUp = 60 * time.Second
	hangupAfter00  = 4 * time.Second // 1385555xx00
)

// plan returns the far end's behaviour for a dialled number. The plan keys on
// the national digits: a leading +86, 0086 or 86 (before a mobile 1xx
// number) is stripped first.
func plan(number string) farEnd {
	d := nationalDigits(number)
	answer := farEnd{Answer: true, RingFor: ringBeforeAnswer}
	fail := func(cause, sip int) farEnd {
		return farEnd{RingFor: ringBeforeFail, Cause: cause, SIP: sip}
	}
	if len(d) < 7 {
		return answer
	}
	switch d[:7] {
	case "1381111":
		return fail(wcbproto.CauseUserBusy, 486)
	case "1382222":
		return farEnd{NeverAnswers: true, RingFor: noAnswerGiveUp, Cause: wcbproto.CauseNoAnswer, SIP: 480}
	case "1383333":
		return fail(wcbproto.CauseCongestion, 503)
	case "1384444":
		return fail(wcbproto.CauseNoAnswer, 480)
	case "1385555":
		after := hangupAfter00
		if len(d) >= 11 {
			if nn := int(d[9]-'0')*10 + int(d[10]-'0'); nn > 0 {
				after = time.Duration(nn) * time.Second
			}
		}
		answer.HangupAfter = after
		return answer
	case "1386666":
		return fail(wcbproto.CauseUnallocated, 404)
	case "1387777":
		return fail(wcbproto.CauseCallRejected, 603)
	}
	return answer
}

// nationalDigits keeps the digits of s and strips a Chinese country prefix.
func nationalDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(d, "0086"):
		d = d[4:]
	case strings.HasPrefix(d, "86") && len(d) == 13 && d[2] == '1':
		d = d[2:]
	}
	return d
}

// dialStatus is the DIALSTATUS chan_pjsip + app_dial report for a failure
// cause, as observed: 486→BUSY, 503→CONGESTION, and 480, 404 and 603 all
// NOANSWER (fixtures README §8).
func dialStatus(cause int) string {
	switch cause {
	case wcbproto.CauseUserBusy:
		return "BUSY"
	case wcbproto.CauseCongestion, wcbproto.CauseNetworkOutOrder, wcbproto.CauseTempFailure, wcbproto.CauseSwitchCongest:
		return "CONGESTION"
	}
	return "NOANSWER"
}

// disposition is the CDR disposition for a DIALSTATUS (cdr.conf
// unanswered=yes, congestion=yes).
func disposition(status string) string {
	switch status {
	case "ANSWER":
		return "ANSWERED"
	case "BUSY":
		return "BUSY"
	case "CONGESTION":
		return "CONGESTION"
	case "FAILED", "CHANUNAVAIL":
		return "FAILED"
	}
	return "NO ANSWER"
}

// causeText is Asterisk's Cause-txt for the causes the sandbox produces.
func causeText(cause int) string {
	switch cause {
	case 0:
		return "Unknown"
	case 1:
		return "Unallocated (unassigned) number"
	case 3:
		return "No route to destination"
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 18:
		return "No user responding"
	case 19:
		return "User alerting, no answer"
	case 21:
		return "Call Rejected"
	case 28:
		return "Invalid number format (addr incomplete)"
	case 31:
		return "Normal, unspecified"
	case 34:
		return "Circuit/channel congestion"
	case 38:
		return "Network out of order"
	case 41:
		return "Temporary failure"
	case 42:
		return "Switching equipment congestion"
	}
	return "Unknown"
}
