// Package nodes spreads calls over several Asterisk nodes (--ami with a
// comma-separated list, docs/scale-out.md): [Choose] is the choice of a
// node for one call, [Pool] the engines of the nodes (one
// [callflow.Engine] per node, each with its own AMI link) seen as one
// callback.Service by the cluster layer and the web.
package nodes

// Candidate is one node as the choice sees it.
type Candidate struct {
	Up       bool // its AMI link is connected
	Draining bool // an admin drained it: no new calls
	Load     int  // calls in progress or waiting on it (service-wide on a shared database)
	Max      int  // its channel cap (--max-concurrent or its URL's max_concurrent); <= 0: none
}

// room reports whether c can take one more call now.
func (c Candidate) room() bool { return c.Max <= 0 || c.Load < c.Max }

// Choose returns the index of the node the next call goes to, or -1 when
// none may take it (every node draining). In order:
//   - the least busy (lowest Load) node that is up, not draining and under
//     its cap;
//   - else, every such node being at its cap, the up and not draining one
//     least over it: the call waits in that node's queue (--queue-wait), as
//     with one node, and is rejected system_busy if no slot frees;
//   - else, no node being up, the least busy node not draining: its queue
//     holds the call until its link is back or the wait ends, as one node's
//     does today.
//
// Ties go to the first node at or after start (the caller rotates it), so
// idle nodes share the calls evenly.
func Choose(cs []Candidate, start int) int {
	n := len(cs)
	if n == 0 {
		return -1
	}
	start = ((start % n) + n) % n
	pick := func(ok func(Candidate) bool, key func(Candidate) int) int {
		best := -1
		for k := range n {
			i := (start + k) % n
			if ok(cs[i]) && (best < 0 || key(cs[i]) < key(cs[best])) {
				best = i
			}
		}
		return best
	}
	load := func(c Candidate) int { return c.Load }
	over := func(c Candidate) int { return c.Load - c.Max }
	if i := pick(func(c Candidate) bool { return c.Up && !c.Draining && c.room() }, load); i >= 0 {
		return i
	}
	if i := pick(func(c Candidate) bool { return c.Up && !c.Draining }, over); i >= 0 {
		return i
	}
	return pick(func(c Candidate) bool { return !c.Draining }, load)
}
