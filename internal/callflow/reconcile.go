package callflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
)

// kickReconcile asks the reconciler to compare the calls in progress with
// the channels Asterisk has. Kicks coalesce.
func (e *Engine) kickReconcile() {
	select {
	case e.recon <- struct{}{}:
	default:
	}
}

// reconcileRetry is the pause before reconciling again after a failed
// CoreShowChannels or for calls too young to judge.
const reconcileRetry = time.Second

// reconciler runs reconcile on a kick (AMI logged in, events dropped,
// Originate outcome unknown, adopted requests) and periodically for calls
// that outlived any possible call.
func (e *Engine) reconciler() {
	defer e.loops.Done()
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-e.bg.Done():
			return
		case <-e.recon:
		case <-tick.C:
			if !e.anyOverdue(time.Now()) {
				continue
			}
		}
		again, err := e.reconcile(e.bg)
		switch {
		case errors.Is(err, ami.ErrNotConnected):
			// The next login's AMIConnected event kicks us again, but that
			// event can arrive a moment before the session takes actions:
			// try again shortly too (cheap: Do fails at once while down).
			e.log.Debug("reconciliation waits for AMI", "err", err)
			time.AfterFunc(reconcileRetry, e.kickReconcile)
		case err != nil:
			e.log.Warn("reconciling calls in progress; retrying", "err", err)
			time.AfterFunc(reconcileRetry, e.kickReconcile)
		case again:
			time.AfterFunc(reconcileRetry, e.kickReconcile)
		}
	}
}

// maxCallSpan is the longest a call can last: caller rings, Welcome and
// prompts, callee rings, talk, plus slack.
func (e *Engine) maxCallSpan() time.Duration {
	return e.cfg.CallerRing + e.cfg.CalleeRing + e.cfg.Limit + 2*time.Minute
}

func (e *Engine) anyOverdue(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.tr.calls {
		if c.originated && !c.sentAt.IsZero() && now.Sub(c.sentAt) > e.maxCallSpan() {
			return true
		}
	}
	return false
}

// reconcile lists Asterisk's channels (CoreShowChannels) and finishes every
// call the engine believes in progress whose channels are all gone: their
// end happened while events were lost. Calls still up are left to their
// events; adopted calls still queued in the store move to calling_caller.
// again reports calls too young to judge (their channel may not exist yet).
func (e *Engine) reconcile(ctx context.Context) (again bool, err error) {
	now := time.Now()
	e.mu.Lock()
	var ids []string
	for id, c := range e.tr.calls {
		if !c.originated {
			continue
		}
		if c.held != nil {
			again = true // its end is held for a Shutdown (holdEndLocked): its own timer settles it
			continue
		}
		if !c.sentAt.IsZero() && now.Sub(c.sentAt) < reconcileMinAge {
			again = true
			continue
		}
		ids = append(ids, id)
	}
	e.mu.Unlock()
	if len(ids) == 0 {
		return again, nil
	}
	resp, err := e.client.Do(ctx, ami.NewMessage("Action", "CoreShowChannels"))
	if err != nil {
		return again, fmt.Errorf("CoreShowChannels: %w", err)
	}
	// request id → its caller channel's name; "" when only another leg of
	// the call (Linkedid = request id) is left.
	present := map[string]string{}
	for _, it := range resp.Items {
		if uid := it.Get("Uniqueid"); uid != "" {
			present[uid] = it.Get("Channel")
		}
	}
	for _, it := range resp.Items {
		if lid := it.Get("Linkedid"); lid != "" {
			if _, ok := present[lid]; !ok {
				present[lid] = ""
			}
		}
	}
	at := time.Now()
	e.mu.Lock()
	var gone []string
	for _, id := range ids {
		c := e.tr.calls[id]
		if c == nil || c.req.State.Final() {
			continue
		}
		if name, ok := present[id]; ok {
			if c.liveEnd != nil {
				again = true // its end came (a gap before it): wait for its last channel to go
				continue
			}
			c.channel = true
			c.goneSince, c.lostAt, c.lostSure, c.lostMaybe = time.Time{}, time.Time{}, false, false // it survived the outage
			if name != "" && c.req.CallerChannel == "" {
				c.req.CallerChannel = name
			}
			c.uncertain = false
			if c.advance(callback.StateCallingCaller, at) {
				e.changedLocked(c)
			}
			if c.cancelBy != "" && !c.hangupSent {
				e.hangupLocked(c)
			}
			continue
		}
		gone = append(gone, id)
	}
	e.mu.Unlock()
	// The calls gone from Asterisk: their CDR rows, which the PBX writes
	// itself (--cdr-source table), say how they ended.
	outcomes, err := e.cdrOutcomes(ctx, gone)
	if err != nil {
		return again, err
	}
	refused := e.writesRefused()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range gone {
		c := e.tr.calls[id]
		if c == nil || c.req.State.Final() {
			continue
		}
		if o, ok := outcomes[id]; ok {
			e.log.Info("call ended while its events were lost; settled from its CDRs", "id", id,
				"was", c.req.State, "now", o.state, "reason", o.reason, "billsec", o.billsec, "adopted", c.adopted)
			if c.finishFromCDRs(o, at) {
				e.changedLocked(c)
			}
			continue
		}
		if c.goneSince.IsZero() || refused {
			// While the database refuses writes the PBX's rows cannot land
			// either: the grace counts from when it takes them again.
			c.goneSince = at
		}
		if !e.judged && c.req.State != callback.StateQueued {
			again = true // did the PBX restart? FullyBooted tells
			continue
		}
		// A PBX that vanished (not a Shutdown) writes no rows for the
		// calls it took: nothing to wait for.
		vanished := (c.lostSure || c.lostMaybe) && !c.pbxStopped
		if at.Sub(c.goneSince) < e.cfg.CDRGrace && c.req.State != callback.StateQueued && !vanished {
			again = true // the PBX may not have written the rows yet
			continue
		}
		if c.liveEnd != nil {
			// No CDR rows: the end its events told is the best there is.
			e.log.Warn("call ended after lost events and left no CDR rows; keeping the end its events told", "id", id,
				"state", c.liveEnd.State, "reason", c.liveEnd.Reason)
			c.req, c.liveEnd = c.liveEnd, nil
			if c.lostSure && c.stopSuspect {
				c.req = pbxLostEnd(c.req) // hung up by a PBX that then stopped
			}
			e.changedLocked(c)
			continue
		}
		state, reason := callback.StateFailed, callback.ReasonNetworkError
		if c.lostSure || !c.lostAt.IsZero() && e.cfg.CDRGrace > 0 {
			// Gone without a CDR row since a link loss after which the PBX
			// was found restarted, surely or maybe (judgePBXLoss): the PBX
			// took it. With the table source (CDRGrace) a PBX that kept
			// running would have written its rows; with AMI Cdr events
			// only a sure restart says so.
			c.lostSure = true
			reason = callback.ReasonPBXLost // finish counts the talk to lostAt
		}
		if c.req.State == callback.StateQueued {
			// Never reached the PBX (or vanished without a trace before
			// ringing): nothing was dialled, so the visitor may try again.
			state, reason = callback.StateRejected, callback.ReasonSystemBusy
		}
		if c.cancelBy != "" {
			state, reason = callback.StateCanceled, c.cancelBy
		}
		e.log.Warn("call gone from Asterisk while its events were lost", "id", id,
			"was", c.req.State, "now", state, "reason", reason, "adopted", c.adopted)
		if c.finish(state, reason, 0, c.prompt, at) {
			e.changedLocked(c)
		}
	}
	return again, nil
}

// writesRefused reports whether the store holds writes the database
// refused (a spooled store, internal/store/spooled): the CDR rows the PBX
// writes into the same database wait too.
func (e *Engine) writesRefused() bool {
	w, ok := e.st.(interface{ Waiting() int })
	return ok && w.Waiting() > 0
}

// limitMSOf is the talk limit of call id (the engine's when unknown).
func (e *Engine) limitMSOf(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.tr.calls[id]; c != nil && c.limitMS > 0 {
		return c.limitMS
	}
	return int(e.cfg.Limit / time.Millisecond)
}
