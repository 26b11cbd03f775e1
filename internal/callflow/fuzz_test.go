package callflow

import (
	"slices"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
)

// finalReasons is docs/design.md §6's table of the reasons each final state may
// carry (rejected is the engine's, never the state machine's).
var finalReasons = map[callback.State][]callback.Reason{
	callback.StateCompleted: {callback.ReasonLimitReached, callback.ReasonCalleeHangup, callback.ReasonCallerHangup},
	callback.StateFailed: {callback.ReasonCallerBusy, callback.ReasonCallerNoAnswer, callback.ReasonCallerUnreachable,
		callback.ReasonCalleeBusy, callback.ReasonCalleeRejected, callback.ReasonCalleeNoAnswer, callback.ReasonCalleeInvalid,
		callback.ReasonNetworkError},
	callback.StateCanceled: {callback.ReasonCallerHangup, callback.ReasonVisitor, callback.ReasonAdmin},
}

// fuzzVocabulary is every event of several real calls that belongs to the
// call, plus our dialplan's UserEvents: the fuzzer plays them in any order,
// any number of times.
func fuzzVocabulary(t testing.TB, id string) []*ami.Message {
	var vocab []*ami.Message
	probe := newReplayCall(id, 15*time.Second)
	tr := newTracker()
	tr.add(probe)
	for _, name := range []string{"timeout-direct", "callee-busy-direct", "caller-busy-direct", "caller-noanswer-direct",
		"caller-hangup-early-direct", "callee-hangup-early-direct", "caller-hangup-while-callee-rings-direct"} {
		msgs := readFixture(t, name)
		rewriteIDs(msgs, id, probe.actionID)
		for _, m := range msgs {
			if tr.lookup(m) != nil && m.Event() != "Newexten" && m.Event() != "VarSet" {
				vocab = append(vocab, m)
			}
		}
	}
	for _, kv := range [][]string{
		{"Stage", "answered"}, {"Stage", "dialing"}, {"Stage", "connected"},
		{"Stage", "dialend", "DialStatus", "ANSWER", "Cause", "16", "AnsweredMs", "19000"},
		{"Stage", "dialend", "DialStatus", "NOANSWER", "Cause", "21", "AnsweredMs", "0"},
		{"Stage", "prompt", "Prompt", "PartnerHangup"}, {"Stage", "hangup", "Cause", "16"},
	} {
		m := ami.NewMessage(append([]string{"Event", "UserEvent", "UserEvent", "WebCallback", "Id", id}, kv...)...)
		vocab = append(vocab, m)
	}
	return vocab
}

// FuzzCallEvents plays real events of this call in any order: the state
// machine never panics, never moves backwards, finishes at most once, and
// only with a state/reason pair of docs/design.md §6.
func FuzzCallEvents(f *testing.F) {
	const id = "6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c"
	vocab := fuzzVocabulary(f, id)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{255, 254, 3, 3, 3, 17, 40, 99})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, picks []byte) {
		if len(picks) > 256 {
			picks = picks[:256]
		}
		c := newReplayCall(id, 15*time.Second)
		if len(picks)%3 == 0 {
			c.cancelBy = callback.ReasonVisitor
		}
		now := c.req.CreatedAt
		for _, p := range picks {
			now = now.Add(time.Millisecond)
			before := rank(c.req.State)
			c.handle(vocab[int(p)%len(vocab)], now)
			if rank(c.req.State) < before {
				t.Fatalf("state went backwards to %s", c.req.State)
			}
		}
		c.originateGone(now)
		finals := 0
		for _, h := range c.req.History {
			if h.State.Final() {
				finals++
			}
		}
		if finals > 1 {
			t.Fatalf("finished %d times: %v", finals, c.req.History)
		}
		if !c.req.State.Final() {
			return
		}
		if c.req.EndedAt == nil || !slices.Contains(finalReasons[c.req.State], c.req.Reason) {
			t.Fatalf("final %s with reason %q (ended %v)", c.req.State, c.req.Reason, c.req.EndedAt)
		}
	})
}
