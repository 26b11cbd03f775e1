package wcbproto

import (
	"testing"

	"webcallback/internal/callback"
)

// The rows are the fixtures' real PJSIP outcomes (README §8) and docs/design.md §1.
func TestCalleeOutcome(t *testing.T) {
	for _, c := range []struct {
		status string
		cause  int
		reason callback.Reason
		prompt callback.Prompt
	}{
		{"BUSY", 17, callback.ReasonCalleeBusy, callback.PromptPartnerBusy},            // 486
		{"NOANSWER", 21, callback.ReasonCalleeRejected, callback.PromptPartnerBusy},    // 603
		{"NOANSWER", 19, callback.ReasonCalleeNoAnswer, callback.PromptPartnerAway},    // 480
		{"NOANSWER", 16, callback.ReasonCalleeNoAnswer, callback.PromptPartnerAway},    // ring timeout
		{"NOANSWER", 1, callback.ReasonCalleeInvalid, callback.PromptInvalidNumber},    // 404
		{"CONGESTION", 28, callback.ReasonCalleeInvalid, callback.PromptInvalidNumber}, // 484
		{"CONGESTION", 34, callback.ReasonNetworkError, callback.PromptSystemBusy},     // 503
		{"CHANUNAVAIL", 38, callback.ReasonNetworkError, callback.PromptSystemBusy},
		{"CONGESTION", 0, callback.ReasonNetworkError, callback.PromptSystemBusy},
		{"NOANSWER", 42, callback.ReasonNetworkError, callback.PromptSystemBusy},
		{"ANSWER", 16, "", ""},
		{"CANCEL", 0, "", ""},
	} {
		r, p := CalleeOutcome(c.status, c.cause)
		if r != c.reason || p != c.prompt {
			t.Errorf("CalleeOutcome(%s, %d) = %s, %s; want %s, %s", c.status, c.cause, r, p, c.reason, c.prompt)
		}
	}
}

func TestCallerOutcome(t *testing.T) {
	for _, c := range []struct {
		status string
		cause  int
		reason int
		want   callback.Reason
	}{
		{"BUSY", 17, 0, callback.ReasonCallerBusy},              // caller-busy-direct
		{"", 19, 3, callback.ReasonCallerNoAnswer},              // caller-noanswer-direct
		{"CONGESTION", 34, 0, callback.ReasonCallerUnreachable}, // caller-503-direct
		{"NOANSWER", 1, 0, callback.ReasonCallerUnreachable},    // 404 reads NOANSWER with PJSIP
		{"NOANSWER", 21, 0, callback.ReasonCallerBusy},          // 603 declined
		{"NOANSWER", 19, 0, callback.ReasonCallerNoAnswer},      // 480
		{"NOANSWER", 0, 0, callback.ReasonCallerNoAnswer},
		{"", 0, 3, callback.ReasonCallerNoAnswer},
		{"CHANUNAVAIL", 0, 0, callback.ReasonCallerUnreachable},
	} {
		if got := CallerOutcome(c.status, c.cause, c.reason); got != c.want {
			t.Errorf("CallerOutcome(%q, %d, %d) = %s, want %s", c.status, c.cause, c.reason, got, c.want)
		}
	}
}
