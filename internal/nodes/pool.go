package nodes

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/callflow"
	"webcallback/internal/store"
)

// Node is one Asterisk node of the pool.
type Node struct {
	ID            string           // its AMI address host:port (never the secret): Request.Node
	Engine        *callflow.Engine // places and follows its calls, on its own AMI link
	Up            func() bool      // its AMI link is connected
	MaxConcurrent int              // its channel cap
	MaxCPS        float64          // its Originates per second
}

// States is what the pool needs of the database ([*store.DB]).
type States interface {
	NodeStates(ctx context.Context) (map[string]store.NodeState, error)
	SetNodeDrain(ctx context.Context, node string, draining bool, now time.Time) error
}

// Pool is the engines of the nodes as one callback.Service: Submit places
// each call on the node [Choose] picks, with the drains and (on a shared
// database) the service-wide calls per node read from the database at
// each choice; Get, Watch and Cancel go to the engine that follows the
// request. With one node it is that node's engine, plus the drain.
type Pool struct {
	nodes []*Node
	byID  map[string]*Node
	st    States
	log   *slog.Logger
	turn  atomic.Uint64 // rotates the ties of Choose

	mu   sync.Mutex
	last map[string]store.NodeState // the last states read: used while the database is out
}

// New builds the pool of nodes (at least one) over st.
func New(nodes []*Node, st States, log *slog.Logger) (*Pool, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("nodes: no node")
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Pool{nodes: nodes, byID: map[string]*Node{}, st: st, log: log.With("component", "nodes"), last: map[string]store.NodeState{}}
	for _, n := range nodes {
		if p.byID[n.ID] != nil {
			return nil, fmt.Errorf("nodes: node %s twice", n.ID)
		}
		p.byID[n.ID] = n
	}
	return p, nil
}

// Nodes lists the nodes in --ami order.
func (p *Pool) Nodes() []*Node { return p.nodes }

// Node returns the node id, or nil.
func (p *Pool) Node(id string) *Node { return p.byID[id] }

// states reads the drains and the service-wide calls per node; while the
// database does not answer, the last ones read.
func (p *Pool) states(ctx context.Context) map[string]store.NodeState {
	st, err := p.st.NodeStates(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.log.Warn("reading the nodes' drains and calls; using the last read", "err", err)
		return p.last
	}
	p.last = st
	return st
}

// Status is one node's state, for the admin API, /readyz and /metrics.
type Status struct {
	Node          string  `json:"node"`
	State         string  `json:"state"` // up, down or draining
	Up            bool    `json:"up"`
	Draining      bool    `json:"draining"`
	Live          int     `json:"live_calls"`    // calls this instance follows on it, queued included
	Calls         int     `json:"service_calls"` // calls in progress on it, service-wide (a shared database), else this instance's
	MaxConcurrent int     `json:"max_concurrent"`
	MaxCPS        float64 `json:"max_cps"`
	Originated    uint64  `json:"originated"` // Originates this instance sent to it
}

// Status reports every node, in --ami order.
func (p *Pool) Status(ctx context.Context) []Status {
	states := p.states(ctx)
	out := make([]Status, len(p.nodes))
	for i, n := range p.nodes {
		live, active, _ := n.Engine.Load()
		s := Status{Node: n.ID, Up: n.Up(), Draining: states[n.ID].Draining, Live: live, Calls: max(active, states[n.ID].Slots),
			MaxConcurrent: n.MaxConcurrent, MaxCPS: n.MaxCPS, Originated: n.Engine.Stats().Originated}
		switch {
		case s.Draining:
			s.State = "draining"
		case s.Up:
			s.State = "up"
		default:
			s.State = "down"
		}
		out[i] = s
	}
	return out
}

// Drain stops (on) or resumes (off) new calls to node, on every instance.
func (p *Pool) Drain(ctx context.Context, node string, on bool) error {
	if p.byID[node] == nil {
		return fmt.Errorf("%w: node %q", callback.ErrNotFound, node)
	}
	if err := p.st.SetNodeDrain(ctx, node, on, time.Now()); err != nil {
		return err
	}
	p.log.Warn("node drain changed", "node", node, "draining", on)
	return nil
}

// choose picks the node of the next call, nil when every node drains.
func (p *Pool) choose(ctx context.Context) *Node {
	states := p.states(ctx)
	cs := make([]Candidate, len(p.nodes))
	for i, n := range p.nodes {
		live, active, queued := n.Engine.Load()
		load := live
		if s, ok := states[n.ID]; ok && s.Slots > active {
			// Calls other instances placed on it hold slots too.
			load = s.Slots + queued
		}
		cs[i] = Candidate{Up: n.Up(), Draining: states[n.ID].Draining, Load: load, Max: n.MaxConcurrent}
	}
	i := Choose(cs, int(p.turn.Add(1)%uint64(len(cs))))
	if i < 0 {
		return nil
	}
	return p.nodes[i]
}

// Submit places r on the node Choose picks; with every node draining it
// is stored rejected/system_busy (callback.ErrSystemBusy).
func (p *Pool) Submit(ctx context.Context, r *callback.Request) error {
	n := p.choose(ctx)
	if n == nil {
		return p.nodes[0].Engine.Refuse(ctx, r)
	}
	return n.Engine.Submit(ctx, r)
}

// holder is the engine that has id in memory (following it, or its final
// state not yet written), else the first node's, which reads the store.
func (p *Pool) holder(id string) *callflow.Engine {
	for _, n := range p.nodes {
		if r, _ := n.Engine.Lookup(id); r != nil {
			return n.Engine
		}
	}
	return p.nodes[0].Engine
}

// Get returns the request from the engine that follows it, else the store.
func (p *Pool) Get(ctx context.Context, id string) (*callback.Request, error) {
	return p.holder(id).Get(ctx, id)
}

// Watch follows id on the engine that follows it.
func (p *Pool) Watch(ctx context.Context, id string) (<-chan *callback.Request, func(), error) {
	return p.holder(id).Watch(ctx, id)
}

// Cancel ends id through the engine that follows it (another instance's
// call: callflow.NotOwnerError, which the cluster layer passes on).
func (p *Pool) Cancel(ctx context.Context, id string, by callback.Reason) error {
	return p.holder(id).Cancel(ctx, id, by)
}

// Live lists the calls every node's engine follows, oldest first.
func (p *Pool) Live() []*callback.Request {
	var out []*callback.Request
	for _, n := range p.nodes {
		out = append(out, n.Engine.Live()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// WatchAll merges the transitions of every node's engine.
func (p *Pool) WatchAll() (<-chan *callback.Request, func()) {
	if len(p.nodes) == 1 {
		return p.nodes[0].Engine.WatchAll()
	}
	out := make(chan *callback.Request, 1024)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var stops []func()
	for _, n := range p.nodes {
		ch, stop := n.Engine.WatchAll()
		stops = append(stops, stop)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range ch {
				select {
				case out <- r:
				case <-done:
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(done)
			for _, s := range stops {
				s()
			}
		})
	}
}

var _ callback.Service = (*Pool)(nil)
