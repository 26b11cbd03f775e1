package callflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
)

// A node that never comes back: while the engine's AMI link is down,
// reconcile cannot run (it needs CoreShowChannels), so a call on a PBX
// that died for good would wait for a reconnect that never comes: the
// visitor's page spins and the capacity slot stays held. Once a call's
// longest possible span (lostSpan, counted from its Originate) is over, no
// PBX can still have it: lostNodeSweeper finishes it without AMI, from the
// CDR rows the PBX wrote into the database itself if there are any (with
// --cdr-source table Asterisk writes them whatever happens to the AMI
// link), else failed / pbx_lost with the talk counted until the link was
// lost (call.finish with lostSure).

// LostSpan is how long after its Originate a call is surely over on any
// PBX: Config.LostSpan, else maxCallSpan.
func (e *Engine) LostSpan() time.Duration {
	if e.cfg.LostSpan > 0 {
		return e.cfg.LostSpan
	}
	return e.maxCallSpan()
}

// lostNodeSweeper follows the AMI link's state; while it is down it
// finishes the calls whose span is over, each at its own deadline.
func (e *Engine) lostNodeSweeper() {
	defer e.loops.Done()
	states, stop := e.client.Watch()
	defer stop()
	var downSince time.Time // zero while the link is up
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-e.bg.Done():
			return
		case sc, ok := <-states:
			if !ok {
				return // the client is closed: the engine goes too
			}
			switch {
			case sc.State == ami.Connected:
				downSince = time.Time{}
			case downSince.IsZero():
				downSince = time.Now()
			}
		case <-timer.C:
		}
		timer.Stop()
		if downSince.IsZero() {
			continue // reconcile (on the login) settles what the outage left
		}
		if next := e.finishLostCalls(e.bg, downSince, time.Now()); !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		}
	}
}

// finishLostCalls finishes the calls in progress whose span is over at now
// (the link down since downSince) and returns the next deadline of those
// left (zero: none).
func (e *Engine) finishLostCalls(ctx context.Context, downSince, now time.Time) (next time.Time) {
	span := e.LostSpan()
	e.mu.Lock()
	var due []string
	for id, c := range e.tr.calls {
		if !c.originated || c.req.State.Final() {
			continue
		}
		from := c.sentAt
		if from.IsZero() {
			from = c.req.CreatedAt
		}
		if dl := from.Add(span); dl.After(now) {
			if next.IsZero() || dl.Before(next) {
				next = dl
			}
			continue
		}
		if c.lostAt.IsZero() {
			// Adopted while the link was already down: the talk ends, at
			// the latest, when this engine found it down.
			c.lostAt = downSince
		}
		due = append(due, id)
	}
	e.mu.Unlock()
	if len(due) == 0 {
		return next
	}
	if !e.settleLost(ctx, due, now, "its PBX node is unreachable") {
		return now.Add(reconcileRetry)
	}
	return next
}

// settleLost finishes the calls ids, whose span is over and whose PBX
// cannot be asked, without AMI: from the CDR rows the PBX wrote itself
// (read outside the lock: a database read), else from the end their
// events told, else failed / pbx_lost with the talk until c.lostAt. why
// goes into the log. It reports false if the CDRs could not be read (none
// is finished then: pbx_lost could be wrong; try again).
func (e *Engine) settleLost(ctx context.Context, ids []string, now time.Time, why string) bool {
	span := e.LostSpan()
	outcomes, err := e.cdrOutcomes(ctx, ids)
	if err != nil {
		e.log.Warn("reading the CDRs of calls on a lost PBX node; retrying", "err", err)
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		c := e.tr.calls[id]
		if c == nil || c.req.State.Final() {
			continue
		}
		if o, ok := outcomes[id]; ok {
			e.log.Warn("call outlived any possible call; settled from its CDRs", "why", why,
				"id", id, "node", c.req.Node, "was", c.req.State, "now", o.state, "reason", o.reason, "billsec", o.billsec, "span", span)
			if c.finishFromCDRs(o, now) {
				e.changedLocked(c)
			}
			continue
		}
		if c.liveEnd != nil {
			// Its events told its end before the link went (a gap made it
			// wait for CDR rows that will not come now).
			e.log.Warn("call outlived any possible call and left no CDR rows; keeping the end its events told", "why", why,
				"id", id, "state", c.liveEnd.State, "reason", c.liveEnd.Reason)
			c.req, c.liveEnd = c.liveEnd, nil
			e.changedLocked(c)
			continue
		}
		// The PBX took it: the talk ends at c.lostAt (call.finish).
		c.lostSure = true
		state, reason := callback.StateFailed, callback.ReasonPBXLost
		if c.cancelBy != "" {
			state, reason = callback.StateCanceled, c.cancelBy
			c.endTalk(c.lostAt)
		}
		e.log.Warn("call outlived any possible call and left no CDR rows: the PBX took it", "why", why,
			"id", id, "node", c.req.Node, "was", c.req.State, "now", state, "reason", reason, "lost_at", c.lostAt, "span", span)
		if c.finish(state, reason, 0, c.prompt, now) {
			// No talk outlasts its limit, whatever the clocks say.
			c.req.Billsec = min(c.req.Billsec, c.limitMS/1000)
			e.changedLocked(c)
		}
	}
	return true
}

// LostCall is a request claimed from a dead instance after its longest
// span (store.ClaimLost), with the latest moment its talk can be said to
// have lasted to (internal/cluster: the dead owner's last sign of life).
type LostCall struct {
	Request *callback.Request
	TalkEnd time.Time
}

// FinishLost finishes requests claimed from a dead instance whose span is
// over, on whatever node they were placed (this engine's link is not
// used: no PBX can still have them): as settleLost does, with the talk
// counted to each one's TalkEnd. Requests that never reached a PBX end
// rejected / system_busy. It fails before Start or after Shutdown.
func (e *Engine) FinishLost(ctx context.Context, ls []LostCall) error {
	now := time.Now()
	e.mu.Lock()
	if !e.started || e.closing {
		e.mu.Unlock()
		return errors.New("callflow: finish lost calls: engine not running")
	}
	var ids []string
	for _, l := range ls {
		r := l.Request
		if _, dup := e.tr.calls[r.ID]; dup || r.State.Final() {
			continue
		}
		r.Instance = e.cfg.Instance
		c := e.newCall(r)
		c.gated = e.cfg.Gate != nil // its slot row, if any, is freed by id at its end
		e.tr.add(c)
		if neverSent(r) {
			if c.finish(callback.StateRejected, callback.ReasonSystemBusy, 0, callback.PromptNone, now) {
				e.changedLocked(c)
			}
			continue
		}
		c.originated, c.adopted, c.gap = true, true, true
		c.sentAt = sentAt(r)
		c.lostAt = l.TalkEnd
		if r.ConnectedAt != nil && c.lostAt.Before(*r.ConnectedAt) {
			c.lostAt = *r.ConnectedAt
		}
		ids = append(ids, r.ID)
	}
	e.mu.Unlock()
	const why = "its instance and its PBX node are gone"
	if len(ids) == 0 || e.settleLost(ctx, ids, now, why) {
		return nil
	}
	// They are this instance's now: keep trying until the database answers.
	go func() {
		for !e.settleLost(e.bg, ids, time.Now(), why) {
			select {
			case <-e.bg.Done():
				return
			case <-time.After(reconcileRetry):
			}
		}
	}()
	return fmt.Errorf("callflow: finish lost calls: their CDRs could not be read; retrying")
}

// cdrOutcomes reads the CDR rows of the calls ids (the ones the PBX wrote
// itself, or a monitor stored) and returns how they say each call ended,
// for the calls whose rows tell it.
func (e *Engine) cdrOutcomes(ctx context.Context, ids []string) (map[string]cdrOutcome, error) {
	out := map[string]cdrOutcome{}
	for _, id := range ids {
		rows, err := e.st.CallCDRs(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("cdrs of call %s: %w", id, err)
		}
		if o, ok := outcomeFromCDRs(id, rows, e.limitMSOf(id)); ok {
			out[id] = o
		}
	}
	return out, nil
}
