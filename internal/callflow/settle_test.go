package callflow

import (
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/store"
)

// TestOutcomeFromCDRs: the rows the dialplan leaves for each way a call
// ends (as the sandbox PBX and Asterisk 22 write them, fixtures README §9)
// give the outcome the live events would have given.
func TestOutcomeFromCDRs(t *testing.T) {
	const id = "4f9d2c1e-8a7b-4c3d-9e0f-123456789abc"
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	talk := func(n int) *int { return &n }
	dial := func(disp string, billsec int) store.CDR {
		return store.CDR{CallDate: t0, LastApp: "Dial", Disposition: disp, DstChannel: "PJSIP/gateway-2", Duration: billsec + 6, Billsec: billsec, UniqueID: id}
	}
	after := func(uf string, ts *int) store.CDR {
		return store.CDR{CallDate: t0.Add(30 * time.Second), LastApp: "Hangup", Disposition: "ANSWERED", Duration: 2, UniqueID: id,
			UserField: uf, TalkSec: ts}
	}
	withUF := func(r store.CDR, uf string, ts *int) store.CDR { r.UserField, r.TalkSec = uf, ts; return r }
	for _, tt := range []struct {
		name  string
		rows  []store.CDR
		want  cdrOutcome
		unset bool
	}{
		{"callee hung up", []store.CDR{dial("ANSWERED", 22), after("Hangupcause:16;wcb:"+id, talk(15))},
			cdrOutcome{state: callback.StateCompleted, reason: callback.ReasonCalleeHangup, cause: 16, prompt: callback.PromptPartnerHangup, billsec: 15}, false},
		{"limit reached", []store.CDR{dial("ANSWERED", 27), after("Hangupcause:16;wcb:"+id, talk(20))},
			cdrOutcome{state: callback.StateCompleted, reason: callback.ReasonLimitReached, cause: 16, prompt: callback.PromptTimeoutHangup, billsec: 20}, false},
		{"caller hung up in the bridge", []store.CDR{withUF(dial("ANSWERED", 12), "Hangupcause:16;wcb:"+id, talk(5))},
			cdrOutcome{state: callback.StateCompleted, reason: callback.ReasonCallerHangup, cause: 16, billsec: 5}, false},
		{"caller hung up in the bridge (Asterisk 22: an h row)", []store.CDR{dial("ANSWERED", 9),
			func() store.CDR { r := after("Hangupcause:16;wcb:"+id, talk(2)); r.Dst = "h"; return r }()},
			cdrOutcome{state: callback.StateCompleted, reason: callback.ReasonCallerHangup, cause: 16, billsec: 2}, false},
		{"callee busy", []store.CDR{dial("BUSY", 0), after("Hangupcause:17;wcb:"+id, talk(0))},
			cdrOutcome{state: callback.StateFailed, reason: callback.ReasonCalleeBusy, cause: 17, prompt: callback.PromptPartnerBusy}, false},
		{"ring timeout", []store.CDR{dial("NO ANSWER", 0), after("Hangupcause:19;wcb:"+id, talk(0))},
			cdrOutcome{state: callback.StateFailed, reason: callback.ReasonCalleeNoAnswer, cause: 19, prompt: callback.PromptPartnerAway}, false},
		{"caller hung up while the callee rang", []store.CDR{withUF(dial("NO ANSWER", 0), "Hangupcause:0;wcb:"+id, talk(0))},
			cdrOutcome{state: callback.StateCanceled, reason: callback.ReasonCallerHangup}, false},
		{"caller hung up in Welcome", []store.CDR{after("Hangupcause:16;wcb:"+id, talk(0))},
			cdrOutcome{state: callback.StateCanceled, reason: callback.ReasonCallerHangup, cause: 16}, false},
		{"no callee digits", []store.CDR{after("Hangupcause:28;wcb:"+id, talk(0))},
			cdrOutcome{state: callback.StateFailed, reason: callback.ReasonCalleeInvalid, cause: 28, prompt: callback.PromptInvalidNumber}, false},
		{"caller did not confirm", []store.CDR{after("Hangupcause:16;wcb:"+id+";consent:caller_no_confirm", nil)},
			cdrOutcome{state: callback.StateFailed, reason: callback.ReasonCallerNoConfirm, cause: 16, prompt: callback.PromptNoConfirm}, false},
		{"callee opted out", []store.CDR{dial("ANSWERED", 9), after("Hangupcause:16;wcb:"+id+";consent:callee_opted_out", talk(0))},
			cdrOutcome{state: callback.StateFailed, reason: callback.ReasonCalleeOptedOut, cause: 16, prompt: callback.PromptPartnerAway}, false},
		{"no userfield yet", []store.CDR{dial("ANSWERED", 22)}, cdrOutcome{}, true},
		{"another request's userfield", []store.CDR{dial("ANSWERED", 22), after("Hangupcause:16;wcb:other", talk(3))}, cdrOutcome{}, true},
		{"no talksec (older dialplan)", []store.CDR{dial("ANSWERED", 12), after("Hangupcause:16;wcb:"+id, nil)},
			cdrOutcome{state: callback.StateCompleted, reason: callback.ReasonCalleeHangup, cause: 16, prompt: callback.PromptPartnerHangup, billsec: 12}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := outcomeFromCDRs(id, tt.rows, 20000)
			if ok == tt.unset {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			got.ended = time.Time{}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
