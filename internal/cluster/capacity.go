package cluster

import (
	"context"
	"time"
)

// CapacityStore is what the service-wide capacity needs of the database
// ([*store.DB]).
type CapacityStore interface {
	AcquireCapacity(ctx context.Context, node, id string, maxConc int, interval time.Duration, now time.Time) (time.Duration, error)
	ReleaseCapacity(ctx context.Context, id string) error
}

// Capacity is the engine's Gate (callflow.Config.Gate) on a shared
// database: --max-concurrent calls in progress and --max-cps Originates per
// second on one PBX node for the whole service, whatever instance places
// them.
type Capacity struct {
	Store         CapacityStore
	Node          string // the PBX node (its AMI address): the caps are its
	MaxConcurrent int
	MaxPerSecond  float64 // <= 0: no rate cap
}

// Acquire takes a service-wide slot for id, or says how long to wait.
func (c Capacity) Acquire(ctx context.Context, id string, now time.Time) (time.Duration, error) {
	var interval time.Duration
	if c.MaxPerSecond > 0 {
		interval = time.Duration(float64(time.Second) / c.MaxPerSecond)
	}
	return c.Store.AcquireCapacity(ctx, c.Node, id, c.MaxConcurrent, interval, now)
}

// Release frees id's slot.
func (c Capacity) Release(ctx context.Context, id string) error {
	return c.Store.ReleaseCapacity(ctx, id)
}
