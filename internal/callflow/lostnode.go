package callflow

import (
	"context"
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

// lostSpan is how long after its Originate a call is surely over on any
// PBX: Config.LostSpan, else maxCallSpan.
func (e *Engine) lostSpan() time.Duration {
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
	span := e.lostSpan()
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
		due = append(due, id)
	}
	e.mu.Unlock()
	if len(due) == 0 {
		return next
	}
	// The rows the PBX wrote itself (outside the lock: a database read).
	outcomes := map[string]cdrOutcome{}
	for _, id := range due {
		rows, err := e.st.CallCDRs(ctx, id)
		if err != nil {
			// Without the rows, pbx_lost could be wrong: try again soon.
			e.log.Warn("reading the CDRs of a call on a lost PBX node; retrying", "id", id, "err", err)
			return now.Add(reconcileRetry)
		}
		if o, ok := outcomeFromCDRs(id, rows, e.limitMSOf(id)); ok {
			outcomes[id] = o
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range due {
		c := e.tr.calls[id]
		if c == nil || c.req.State.Final() {
			continue
		}
		if o, ok := outcomes[id]; ok {
			e.log.Warn("call outlived any possible call while its PBX node is unreachable; settled from its CDRs",
				"id", id, "node", e.cfg.Node, "was", c.req.State, "now", o.state, "reason", o.reason, "billsec", o.billsec,
				"down_since", downSince, "span", span)
			if c.finishFromCDRs(o, now) {
				e.changedLocked(c)
			}
			continue
		}
		if c.liveEnd != nil {
			// Its events told its end before the link went (a gap made it
			// wait for CDR rows that will not come now).
			e.log.Warn("call on an unreachable PBX node left no CDR rows; keeping the end its events told", "id", id,
				"state", c.liveEnd.State, "reason", c.liveEnd.Reason)
			c.req, c.liveEnd = c.liveEnd, nil
			e.changedLocked(c)
			continue
		}
		// The PBX took it: the talk ends when this engine lost the link
		// (markPBXLost), or, for a call adopted while the link was
		// already down, when the engine found the link down.
		if c.lostAt.IsZero() {
			c.lostAt = downSince
		}
		c.lostSure = true
		state, reason := callback.StateFailed, callback.ReasonPBXLost
		if c.cancelBy != "" {
			state, reason = callback.StateCanceled, c.cancelBy
			c.endTalk(c.lostAt)
		}
		e.log.Warn("call outlived any possible call while its PBX node is unreachable; no CDR rows: the PBX took it",
			"id", id, "node", e.cfg.Node, "was", c.req.State, "now", state, "reason", reason,
			"lost_at", c.lostAt, "down_since", downSince, "span", span)
		if c.finish(state, reason, 0, c.prompt, now) {
			// No talk outlasts its limit, whatever the clocks say.
			c.req.Billsec = min(c.req.Billsec, c.limitMS/1000)
			e.changedLocked(c)
		}
	}
	return next
}
