package cluster

import (
	"context"
	"time"

	"webcallback/internal/callflow"
	"webcallback/internal/store"
)

// Calls whose instance and PBX node both died: ClaimOrphans hands a dead
// instance's calls only to an instance connected to their node, so with
// the node gone too nobody would ever finish them (the visitor's page
// spins, the capacity slot stays held). Once a call has not changed for
// longer than the longest possible call plus LeaseTTL (its Originate is
// stored before it is sent), no PBX can still have it, whatever node: any
// instance claims it (store.ClaimLost, the same row locks: once)
// and its engine finishes it without AMI (callflow.Engine.FinishLost):
// from the CDR rows the PBX wrote into the database if there are any, else
// failed / pbx_lost, the talk counted to the dead owner's last sign of
// life (lostTalkEnd).

// lostStore is the store's part of it ([*store.DB]).
type lostStore interface {
	ClaimLost(ctx context.Context, instance string, stillBefore, now time.Time) ([]store.LostClaim, error)
}

// lostFinisher is the engine's part of it ([*callflow.Engine]).
type lostFinisher interface {
	LostSpan() time.Duration
	FinishLost(ctx context.Context, ls []callflow.LostCall) error
}

// claimLost finishes the calls of dead instances older than any call,
// through this instance's first engine.
func (c *Service) claimLost(ctx context.Context, now time.Time) {
	ls, ok := c.failover.st.(lostStore)
	fin, ok2 := c.failover.nodes[0].adopter.(lostFinisher)
	if !ok || !ok2 {
		return
	}
	cs, err := ls.ClaimLost(ctx, c.instance, now.Add(-fin.LostSpan()-LeaseTTL), now)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("looking for lost calls of dead instances", "err", err)
		}
		return
	}
	if len(cs) == 0 {
		return
	}
	calls := make([]callflow.LostCall, len(cs))
	ids := make([]string, len(cs))
	for i, cl := range cs {
		calls[i] = callflow.LostCall{Request: cl.Request, TalkEnd: lostTalkEnd(cl)}
		ids[i] = cl.Request.ID
	}
	c.log.Warn("finishing calls older than any call whose instance is dead (their PBX node too, or none claimed them)",
		"count", len(cs), "ids", ids)
	if err := fin.FinishLost(ctx, calls); err != nil {
		c.log.Error("finishing lost calls of dead instances", "count", len(cs), "err", err)
	}
}

// lostTalkEnd is the latest moment a lost call can be said to have talked
// to: its dead owner's last sign of life, the later of its last lease
// renewal (the lease ran out LeaseTTL after it) and its last stored update
// of the call. Until then the owner followed the call and stored no end;
// after it nothing is known. (If the node died before its instance, the
// talk ended earlier than this; the instance, had it lived on, would have
// said so: callflow's lost-node sweep.)
func lostTalkEnd(cl store.LostClaim) time.Time {
	end := cl.LeaseExpired.Add(-LeaseTTL)
	if u := cl.Request.UpdatedAt; u.After(end) {
		end = u
	}
	return end
}
