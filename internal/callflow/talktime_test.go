package callflow

import (
	"strconv"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/sandbox"
	"webcallback/internal/wcbproto"
)

// TestTalkTimeFromPBX places calls through the sandbox PBX at the test's
// small time scale with a 14 s limit. The callee of 1385555xx10 hangs up
// 10 s after answering: 4.5 s of Welcome and ringing before it put
// ANSWEREDTIME_MS at 14.5 s, over limit - 1 s, so the old rule told the
// caller "time is up". The dialplan's own talk time (TalkMs) says
// PartnerHangup, and the engine's Billsec is exactly the PBX's 10 s,
// however the wall clock jittered at 200 times real speed.
func TestTalkTimeFromPBX(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, e2eConfig(func(c *Config) { c.Limit, c.Warning = 14*time.Second, 5*time.Second }), sandbox.Config{})
	tests := []struct {
		name    string
		callee  string
		want    outcome
		billsec int
	}{
		{"callee hangs up 10 s in", "13855552010", outcome{callback.StateCompleted, callback.ReasonCalleeHangup, 16, callback.PromptPartnerHangup}, 10},
		{"limit", "13800002002", outcome{callback.StateCompleted, callback.ReasonLimitReached, 16, callback.PromptTimeoutHangup}, 14},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		ids[i] = r.place("13800001001", tt.callee)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			final, seen := r.wait(ids[i])
			if got := (outcome{final.State, final.Reason, final.Cause, final.Prompt}); got != tt.want {
				t.Errorf("outcome %+v, want %+v (states %v)", got, tt.want, seen)
			}
			if final.Billsec != tt.billsec {
				t.Errorf("billsec %d, want %d", final.Billsec, tt.billsec)
			}
			if st := r.stored(ids[i]); st.Billsec != tt.billsec {
				t.Errorf("stored billsec %d, want %d", st.Billsec, tt.billsec)
			}
		})
	}
}

// TestTalkTimeFromDialEnd feeds the machine the events of a bridged call
// directly: the dialend UserEvent's TalkMs decides Billsec and, when no
// prompt event came, the reason; without TalkMs (an older dialplan) the
// engine's own clock, scaled, does.
func TestTalkTimeFromDialEnd(t *testing.T) {
	const id = "5d1f0c2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
	tests := []struct {
		name       string
		talkMS     string // "" = no TalkMs header
		wallTalk   time.Duration
		prompt     callback.Prompt // "" = no prompt event
		wantReason callback.Reason
		wantBill   int
	}{
		{"TalkMs over the wall clock", "10000", 30 * time.Millisecond, callback.PromptPartnerHangup, callback.ReasonCalleeHangup, 10},
		{"TalkMs rounds", "14499", 0, callback.PromptTimeoutHangup, callback.ReasonLimitReached, 14},
		{"TalkMs decides without a prompt event: under", "12999", 0, "", callback.ReasonCalleeHangup, 13},
		{"TalkMs decides without a prompt event: at limit - 1 s", "13000", 0, "", callback.ReasonLimitReached, 13},
		{"TalkMs 0", "0", 0, callback.PromptPartnerHangup, callback.ReasonCalleeHangup, 0},
		{"negative TalkMs: the engine's clock", "-5", 30 * time.Millisecond, callback.PromptPartnerHangup, callback.ReasonCalleeHangup, 6},
		{"garbage TalkMs: the engine's clock", "12a", 30 * time.Millisecond, callback.PromptPartnerHangup, callback.ReasonCalleeHangup, 6},
		{"absurd TalkMs: the engine's clock", "99999999999999999", 30 * time.Millisecond, callback.PromptPartnerHangup, callback.ReasonCalleeHangup, 6},
		{"no TalkMs: the engine's clock at scale 0.005", "", 50 * time.Millisecond, "", callback.ReasonCalleeHangup, 10},
		{"no TalkMs: the engine's clock reaches the limit", "", 70 * time.Millisecond, "", callback.ReasonLimitReached, 14},
	}
	ue := func(stage string, kv ...string) *ami.Message {
		m := ami.NewMessage("Event", "UserEvent", "UserEvent", wcbproto.UserEvent, "Uniqueid", id,
			wcbproto.HeaderID, id, wcbproto.HeaderStage, stage)
		for i := 0; i+1 < len(kv); i += 2 {
			m.Add(kv[i], kv[i+1])
		}
		return m
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			c := &call{req: &callback.Request{ID: id, State: callback.StateCallingCaller}, limitMS: 14000, scale: testScale}
			c.handle(ue(wcbproto.StageAnswered), start)
			c.handle(ue(wcbproto.StageDialing), start)
			c.handle(ue(wcbproto.StageConnected), start)
			end := start.Add(tt.wallTalk)
			kv := []string{wcbproto.HeaderDialStatus, "ANSWER", wcbproto.HeaderCause, "16", wcbproto.HeaderAnsweredMS, "99999"}
			if tt.talkMS != "" {
				kv = append(kv, wcbproto.HeaderTalkMS, tt.talkMS)
			}
			c.handle(ue(wcbproto.StageDialEnd, kv...), end)
			if tt.prompt != "" {
				c.handle(ue(wcbproto.StagePrompt, wcbproto.HeaderPrompt, string(tt.prompt)), end)
			}
			if !c.handle(ue(wcbproto.StageHangup, wcbproto.HeaderCause, "16"), end.Add(time.Millisecond)) {
				t.Fatal("hangup did not finish the call")
			}
			if r := c.req; r.State != callback.StateCompleted || r.Reason != tt.wantReason || r.Billsec != tt.wantBill {
				t.Errorf("%s/%s billsec %d, want %s/%s billsec %s", r.State, r.Reason, r.Billsec,
					callback.StateCompleted, tt.wantReason, strconv.Itoa(tt.wantBill))
			}
		})
	}
}
