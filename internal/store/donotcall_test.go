package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"webcallback/internal/callback"
)

// end finishes r with reason, as the engine's writer does.
func end(t *testing.T, s *DB, r *callback.Request, st callback.State, reason callback.Reason) {
	t.Helper()
	r.Reason = reason
	finish(t, s, r, st, false)
}

// TestDoNotCall: a request ending failed/callee_opted_out puts its callee
// on the list in the same write; Admit then refuses every request to it,
// whatever the rules or an admin's allow; the admin's removal lifts it and
// a rewrite of the old request does not bring it back.
func TestDoNotCall(t *testing.T) {
	const a, b, c = "+8613800001001", "+8613899992002", "+8613800003003"
	forEachBackend(t, func(t *testing.T, bk backend, s *DB) {
		ctx := context.Background()
		emptyDB(t, s, bk)
		r := newReq("optout-1", a, b, day0)
		if d, err := s.Admit(ctx, r, nil, day0); err != nil || !d.Allowed {
			t.Fatalf("admit: %+v %v", d, err)
		}
		end(t, s, r, callback.StateFailed, callback.ReasonCalleeOptedOut)
		list, err := s.ListDoNotCall(ctx, 10, 0)
		if err != nil || len(list) != 1 || list[0].Number != b || list[0].RequestID != r.ID || list[0].CreatedAt.IsZero() {
			t.Fatalf("list %+v %v", list, err)
		}
		if err := s.SetOverride(ctx, Override{Number: b, Kind: OverrideAllow}); err != nil {
			t.Fatal(err)
		}
		def := DefaultRules()
		for i, rules := range []*Rules{nil, &def} {
			d, err := s.Admit(ctx, newReq("to-optout-"+string(rune('a'+i)), c, b, day0.Add(time.Hour)), rules, day0.Add(time.Hour))
			if err != nil || d.Allowed || d.Rule != RuleCalleeOptedOut || !d.RetryAt.IsZero() {
				t.Errorf("rules %v: %+v %v, want refused %s", rules, d, err, RuleCalleeOptedOut)
			}
		}
		// The opted-out number may still call others.
		if d, err := s.Admit(ctx, newReq("from-optout", b, c, day0), nil, day0); err != nil || !d.Allowed {
			t.Errorf("as a caller: %+v %v", d, err)
		}
		if err := s.DeleteDoNotCall(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDoNotCall(ctx, b); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
		r.History = append(r.History, callback.Transition{State: callback.StateFailed, At: day0.Add(time.Minute)})
		if err := s.UpdateRequest(ctx, r); err != nil { // a late rewrite of the same outcome
			t.Fatal(err)
		}
		if list, _ := s.ListDoNotCall(ctx, 10, 0); len(list) != 0 {
			t.Errorf("rewrite re-added %+v", list)
		}
		if d, err := s.Admit(ctx, newReq("after-removal", c, b, day0.Add(2*time.Hour)), nil, day0.Add(2*time.Hour)); err != nil || !d.Allowed {
			t.Errorf("after removal: %+v %v", d, err)
		}
	})
}

// TestCallerNoConfirmPerDay: two unconfirmed calls of a caller number
// today refuse it until the next day; other outcomes do not count.
func TestCallerNoConfirmPerDay(t *testing.T) {
	const a = "+8613888881001"
	rules := &Rules{CallerNoConfirmPerDay: 2}
	nextDay := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	forEachBackend(t, func(t *testing.T, bk backend, s *DB) {
		ctx := context.Background()
		emptyDB(t, s, bk)
		for i, reason := range []callback.Reason{callback.ReasonCallerNoConfirm, callback.ReasonCalleeBusy, callback.ReasonCallerNoConfirm} {
			at := day0.Add(time.Duration(i) * time.Minute)
			r := newReq("nc-"+string(rune('a'+i)), a, "+861380000300"+string(rune('0'+i)), at)
			if d, err := s.Admit(ctx, r, rules, at); err != nil || !d.Allowed {
				t.Fatalf("request %d: %+v %v", i, d, err)
			}
			end(t, s, r, callback.StateFailed, reason)
		}
		at := day0.Add(time.Hour)
		d, err := s.Admit(ctx, newReq("nc-refused", a, "+8613800003009", at), rules, at)
		if err != nil || d.Allowed || d.Rule != RuleCallerNoConfirmPerDay || !d.RetryAt.Equal(nextDay) {
			t.Errorf("third unconfirmed: %+v %v, want %s until %v", d, err, RuleCallerNoConfirmPerDay, nextDay)
		}
		if d, err := s.Admit(ctx, newReq("nc-tomorrow", a, "+8613800003009", nextDay), rules, nextDay); err != nil || !d.Allowed {
			t.Errorf("next day: %+v %v", d, err)
		}
	})
}
