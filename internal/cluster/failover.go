package cluster

import (
	"context"
	"time"

	"webcallback/internal/callback"
)

// Leases: each instance renews its lease every LeaseRenew; one whose lease
// is LeaseTTL old is dead, and the first instance connected to a call's PBX
// node (the same --ami address) to sweep after that
// (every LeaseRenew) claims its unfinished calls in the database and
// follows them. A kill -9 is thus noticed within LeaseTTL + LeaseRenew
// (8 s), and the calls are followed from then on: the PBX's channels are
// reconciled, their events finish them (state, billsec; the CDRs are stored
// by whichever instance's CDR monitor sees them first).
const (
	LeaseTTL   = 6 * time.Second
	LeaseRenew = 2 * time.Second
)

// FailoverStore is what failover needs of the database ([*store.DB]).
type FailoverStore interface {
	RenewLease(ctx context.Context, instance, node string, expires time.Time) error
	ClaimOrphans(ctx context.Context, instance, node string, now time.Time) ([]*callback.Request, error)
	RequestOwners(ctx context.Context, ids []string) (map[string]string, error)
}

// Adopter takes over claimed calls and lets go of the calls others
// adopted ([*callflow.Engine]).
type Adopter interface {
	Adopt(rs []*callback.Request) error
	Disown(ids []string) []string
}

// EnableFailover makes this instance hold a lease and adopt the calls of
// dead instances placed on the PBX node (its AMI address host:port),
// which this instance is connected to: a is the engine of that node. Call
// it once per node the instance is connected to, before Start; only where
// several instances share the database (not on SQLite, where one instance
// runs and adopts its own calls at start). The lease records the first
// node, which adopts the calls stored without a node by older versions.
func (c *Service) EnableFailover(st FailoverStore, node string, a Adopter) {
	if c.failover == nil {
		c.failover = &failover{st: st}
	}
	c.failover.nodes = append(c.failover.nodes, nodeAdopter{node, a})
}

type failover struct {
	st    FailoverStore
	nodes []nodeAdopter
}

type nodeAdopter struct {
	node    string
	adopter Adopter
}

// runFailover renews the lease and sweeps for dead instances' calls until
// ctx ends.
func (c *Service) runFailover(ctx context.Context) {
	f := c.failover
	tick := time.NewTicker(LeaseRenew)
	defer tick.Stop()
	var renewed time.Time // the last renewal that succeeded
	for {
		now := c.now()
		err := f.st.RenewLease(ctx, c.instance, f.nodes[0].node, now.Add(LeaseTTL))
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("renewing this instance's lease", "err", err)
		case err == nil:
			if !renewed.IsZero() && now.Sub(renewed) >= LeaseTTL {
				c.log.Warn("this instance's lease ran out (a pause, the database out of reach): others may have adopted its calls",
					"since", renewed, "for", now.Sub(renewed).Round(time.Millisecond))
			}
			renewed = now
			// Every sweep, not only after a lapse this instance noticed:
			// a pause between reading the clock and the renewal's write
			// hides the lapse from the clock (the write lands late with a
			// stale expiry), yet another instance has adopted the calls
			// meanwhile. Not while the database is out of reach: the
			// failed renewal has said so already.
			c.fence(ctx)
		}
		for _, n := range f.nodes {
			c.claim(ctx, n, now)
		}
		c.claimLost(ctx, now) // lost.go: calls whose node is gone too
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// claim adopts the calls of dead instances on node n.
func (c *Service) claim(ctx context.Context, n nodeAdopter, now time.Time) {
	rs, err := c.failover.st.ClaimOrphans(ctx, c.instance, n.node, now)
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Warn("looking for calls of dead instances", "node", n.node, "err", err)
	case len(rs) > 0:
		ids := make([]string, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		if err := n.adopter.Adopt(rs); err != nil {
			c.log.Error("adopting calls of dead instances", "node", n.node, "count", len(rs), "err", err)
			return
		}
		c.log.Warn("adopted the calls of dead instances", "node", n.node, "count", len(rs), "ids", ids)
	}
}

// fence lets go of the calls this instance follows that another instance
// adopted (this one's lease had run out): only the owner follows a call and
// writes its outcome. One indexed read of the live calls' owners; nothing
// when no call is live.
func (c *Service) fence(ctx context.Context) {
	live := c.Service.Live()
	if len(live) == 0 {
		return
	}
	ids := make([]string, len(live))
	for i, r := range live {
		ids[i] = r.ID
	}
	owners, err := c.failover.st.RequestOwners(ctx, ids)
	if err != nil {
		c.log.Warn("checking who owns the calls this instance follows", "err", err)
		return
	}
	var gone []string
	for _, id := range ids {
		if o, ok := owners[id]; ok && o != c.instance && o != "" {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		var let []string
		for _, n := range c.failover.nodes {
			let = append(let, n.adopter.Disown(gone)...)
		}
		gone = let
		c.log.Warn("others adopted calls this instance followed (its lease ran out); letting them go", "count", len(gone), "ids", gone)
	}
}
