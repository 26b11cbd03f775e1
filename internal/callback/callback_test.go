package callback

import (
	"strings"
	"testing"
	"time"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"56728177-f5ce-405c-80f1-718f09288e1f": true,
		"abc-DEF-123":                          true,
		"":                                     false,
		strings.Repeat("a", 65):                false,
		"a\r\nAction: Originate":               false,
		"x,y":                                  false,
		"../etc":                               false,
		"id with space":                        false,
	} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}

func TestFinalStates(t *testing.T) {
	final := map[State]bool{StateRejected: true, StateCompleted: true, StateFailed: true, StateCanceled: true}
	for _, s := range []State{StateRejected, StateQueued, StateCallingCaller, StateCallerAnswered, StateConfirming, StateCallingCallee, StateConnected, StateCompleted, StateFailed, StateCanceled} {
		if !s.Valid() || s.Final() != final[s] {
			t.Errorf("%s: valid=%v final=%v", s, s.Valid(), s.Final())
		}
	}
	if State("ringing").Valid() {
		t.Error("unknown state valid")
	}
}

func TestCloneIsDeep(t *testing.T) {
	now := time.Now()
	r := &Request{ID: "a", AnsweredAt: &now, History: []Transition{{StateQueued, now}}}
	c := r.Clone()
	*c.AnsweredAt = now.Add(time.Hour)
	c.History[0].State = StateFailed
	if !r.AnsweredAt.Equal(now) || r.History[0].State != StateQueued {
		t.Fatal("Clone shares memory with the original")
	}
}
