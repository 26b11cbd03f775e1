package callflow

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/testenv"
)

// readFixture parses a fixture's received stream into messages.
func readFixture(t testing.TB, name string) []*ami.Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.FixturesDir(t), name+".ami"))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	r := ami.NewReader(bytes.NewReader(b))
	if _, err := r.ReadBanner(); err != nil {
		t.Fatalf("%s: banner: %v", name, err)
	}
	var msgs []*ami.Message
	for {
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return msgs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msgs = append(msgs, m)
	}
}

// rewriteIDs makes a fixture look like a call the engine placed: the caller
// leg's Uniqueid (the fixtures' Originates had no ChannelId) becomes the
// request id everywhere, and the Originate's ActionID becomes ours.
func rewriteIDs(msgs []*ami.Message, id, actionID string) {
	var callerUID string
	for _, m := range msgs {
		if m.Event() == "DialBegin" && m.Get("Uniqueid") == "" {
			callerUID = m.Get("DestUniqueid")
			break
		}
	}
	for _, m := range msgs {
		for i, h := range m.Headers {
			switch {
			case callerUID != "" && h.Value == callerUID:
				m.Headers[i].Value = id
			case h.Key == "ActionID" && h.Value == "orig-1":
				m.Headers[i].Value = actionID
			}
		}
	}
}

type outcome struct {
	state  callback.State
	reason callback.Reason
	cause  int
	prompt callback.Prompt
}

// replayCases are the outcomes the real calls had (fixtures README), in the
// terms of docs/design.md §1 and §6.
var replayCases = []struct {
	fixture string
	want    outcome
	history []callback.State // states passed through, final included
}{
	{"timeout-direct", outcome{callback.StateCompleted, callback.ReasonLimitReached, 16, callback.PromptTimeoutHangup}, fullHistory(callback.StateCompleted)},
	{"coreshowchannels-during-call-direct", outcome{callback.StateCompleted, callback.ReasonLimitReached, 16, callback.PromptTimeoutHangup}, fullHistory(callback.StateCompleted)},
	{"callee-hangup-early-direct", outcome{callback.StateCompleted, callback.ReasonCalleeHangup, 16, callback.PromptPartnerHangup}, fullHistory(callback.StateCompleted)},
	{"caller-hangup-early-direct", outcome{callback.StateCompleted, callback.ReasonCallerHangup, 16, callback.PromptNone}, fullHistory(callback.StateCompleted)},
	{"caller-busy-direct", outcome{callback.StateFailed, callback.ReasonCallerBusy, 17, callback.PromptNone}, []callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateFailed}},
	{"caller-noanswer-direct", outcome{callback.StateFailed, callback.ReasonCallerNoAnswer, 19, callback.PromptNone}, []callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateFailed}},
	{"caller-503-direct", outcome{callback.StateFailed, callback.ReasonCallerUnreachable, 34, callback.PromptNone}, []callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateFailed}},
	{"callee-busy-direct", outcome{callback.StateFailed, callback.ReasonCalleeBusy, 17, callback.PromptPartnerBusy}, calleeFailHistory},
	{"callee-noanswer-direct", outcome{callback.StateFailed, callback.ReasonCalleeNoAnswer, 19, callback.PromptPartnerAway}, calleeFailHistory},
	{"callee-480-direct", outcome{callback.StateFailed, callback.ReasonCalleeNoAnswer, 19, callback.PromptPartnerAway}, calleeFailHistory},
	{"callee-404-direct", outcome{callback.StateFailed, callback.ReasonCalleeInvalid, 1, callback.PromptInvalidNumber}, calleeFailHistory},
	{"callee-603-direct", outcome{callback.StateFailed, callback.ReasonCalleeRejected, 21, callback.PromptPartnerBusy}, calleeFailHistory},
	{"callee-503-direct", outcome{callback.StateFailed, callback.ReasonNetworkError, 34, callback.PromptSystemBusy}, calleeFailHistory},
	{"caller-hangup-while-callee-rings-direct", outcome{callback.StateCanceled, callback.ReasonCallerHangup, 0, callback.PromptNone},
		[]callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateCallerAnswered, callback.StateCallingCallee, callback.StateCanceled}},
}

var calleeFailHistory = []callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateCallerAnswered, callback.StateCallingCallee, callback.StateFailed}

func fullHistory(final callback.State) []callback.State {
	return []callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateCallerAnswered,
		callback.StateCallingCallee, callback.StateConnected, final}
}

// newReplayCall is a call as the engine holds it right after its Originate
// was accepted.
func newReplayCall(id string, limit time.Duration) *call {
	t0 := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	r := &callback.Request{ID: id, State: callback.StateQueued, CreatedAt: t0,
		History: []callback.Transition{{State: callback.StateQueued, At: t0}}}
	c := &call{req: r, actionID: originateActionID(id), limitMS: int(limit / time.Millisecond), originated: true}
	c.advance(callback.StateCallingCaller, t0)
	return c
}

// replay feeds msgs, 10 ms apart, through correlation to c (the only live
// call) and returns the time of the last one.
func replay(c *call, msgs []*ami.Message) time.Time {
	tr := newTracker()
	tr.add(c)
	now := c.req.CreatedAt
	for _, m := range msgs {
		now = now.Add(10 * time.Millisecond)
		if got := tr.lookup(m); got != nil {
			got.handle(m, now)
		}
	}
	return now
}

func TestReplayFixtures(t *testing.T) {
	for _, tc := range replayCases {
		t.Run(tc.fixture, func(t *testing.T) {
			const id = "6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c"
			msgs := readFixture(t, tc.fixture)
			c := newReplayCall(id, 15*time.Second) // the fixtures ran with LIMIT_MS=15000
			rewriteIDs(msgs, id, c.actionID)
			replay(c, msgs)
			checkOutcome(t, c.req, tc.want, tc.history)
		})
	}
}

func checkOutcome(t *testing.T, r *callback.Request, want outcome, history []callback.State) {
	t.Helper()
	got := outcome{r.State, r.Reason, r.Cause, r.Prompt}
	if got != want {
		t.Errorf("outcome = %+v, want %+v", got, want)
	}
	var states []callback.State
	for _, h := range r.History {
		states = append(states, h.State)
	}
	if history != nil && !slices.Equal(states, history) {
		t.Errorf("history = %v, want %v", states, history)
	}
	if r.EndedAt == nil {
		t.Errorf("EndedAt not set")
	}
}

// TestReplayOriginateResponseAnywhere moves each fixture's OriginateResponse
// to every position of the stream: real Asterisk sends it before or after
// the caller leg's DialEnd, and on failure first or last (fixtures README
// §5). The outcome must not depend on where it lands.
func TestReplayOriginateResponseAnywhere(t *testing.T) {
	for _, tc := range replayCases {
		t.Run(tc.fixture, func(t *testing.T) {
			const id = "0c5d1e2f-3a4b-4c6d-9e8f-a0b1c2d3e4f5"
			orig := readFixture(t, tc.fixture)
			at := -1
			for i, m := range orig {
				if m.Event() == "OriginateResponse" {
					at = i
				}
			}
			if at < 0 {
				t.Fatal("no OriginateResponse in fixture")
			}
			resp := orig[at]
			rest := append(append([]*ami.Message(nil), orig[:at]...), orig[at+1:]...)
			for pos := 0; pos <= len(rest); pos += 1 + len(rest)/60 {
				msgs := append(append(append([]*ami.Message(nil), rest[:pos]...), resp), rest[pos:]...)
				c := newReplayCall(id, 15*time.Second)
				msgs = cloneAll(msgs)
				rewriteIDs(msgs, id, c.actionID)
				now := replay(c, msgs)
				c.originateGone(now.Add(time.Second))
				got := outcome{c.req.State, c.req.Reason, c.req.Cause, c.req.Prompt}
				if got != tc.want {
					t.Fatalf("OriginateResponse at %d of %d: outcome %+v, want %+v", pos, len(rest), got, tc.want)
				}
			}
		})
	}
}

func cloneAll(msgs []*ami.Message) []*ami.Message {
	out := make([]*ami.Message, len(msgs))
	for i, m := range msgs {
		out[i] = &ami.Message{Headers: append([]ami.Header(nil), m.Headers...)}
	}
	return out
}

// TestNeverSent: a stored queued request is placed again by a restart only
// when the last step of its history is queued: never sent, or put back
// because the link could not send it; a stale queued state after a
// calling_caller step may have been sent.
func TestNeverSent(t *testing.T) {
	h := func(states ...callback.State) *callback.Request {
		r := &callback.Request{State: callback.StateQueued}
		for _, s := range states {
			r.History = append(r.History, callback.Transition{State: s})
		}
		return r
	}
	q, cc := callback.StateQueued, callback.StateCallingCaller
	for _, tc := range []struct {
		r    *callback.Request
		want bool
	}{
		{h(q), true},
		{h(q, cc, q), true},
		{h(q, cc), false},
		{h(q, cc, q, cc), false},
	} {
		if got := neverSent(tc.r); got != tc.want {
			t.Errorf("neverSent(%v) = %v, want %v", tc.r.History, got, tc.want)
		}
	}
	// A request that never rang is rejected, never pbx_lost, whatever
	// the PBX did meanwhile.
	c := newReplayCall("id-1", time.Minute)
	c.lostSure = true
	c.finish(callback.StateRejected, callback.ReasonSystemBusy, 0, callback.PromptNone, time.Now())
	if c.req.State != callback.StateRejected || c.req.Reason != callback.ReasonSystemBusy {
		t.Errorf("finished %s/%s, want rejected/system_busy", c.req.State, c.req.Reason)
	}
}

// TestStopCaused: after a Shutdown, CDR rows are read as the stop's only
// when a stop can have made them (the caller's side, at the stop).
func TestStopCaused(t *testing.T) {
	stop := time.Date(2026, 12, 1, 10, 21, 47, 500e6, time.UTC)
	for _, tc := range []struct {
		reason callback.Reason
		ended  time.Time
		want   bool
	}{
		{callback.ReasonCallerHangup, stop.Truncate(time.Second), true}, // fixture kit-pbx-shutdown
		{callback.ReasonCallerHangup, stop.Add(-5 * time.Second), false},
		{callback.ReasonCalleeNoAnswer, stop.Add(-time.Second), false}, // ended on its own just before
		{callback.ReasonCalleeHangup, stop, false},
		{callback.ReasonCallerNoAnswer, stop, true},
	} {
		if got := stopCaused(cdrOutcome{reason: tc.reason, ended: tc.ended}, stop); got != tc.want {
			t.Errorf("stopCaused(%s, ended %s before the stop) = %v, want %v", tc.reason, stop.Sub(tc.ended), got, tc.want)
		}
	}
}
