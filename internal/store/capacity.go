package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The number_lock row that serialises the capacity checks of every
// instance for one node is "#capacity:<node>"; the rate_limit row holding
// the earliest time of the node's next Originate (--max-cps), in window_ms,
// is "#originate:<node>".

// AcquireCapacity asks for one of the maxConc call slots of the PBX node
// (whatever instance places the call) for id and for its turn under the
// node's call rate (one Originate every
// interval; 0 = no rate cap). It returns 0 when granted (the slot is held
// until ReleaseCapacity), else how long to wait before asking again.
// Slots of requests already final (an instance died before releasing them)
// are swept first.
func (s *DB) AcquireCapacity(ctx context.Context, node, id string, maxConc int, interval time.Duration, now time.Time) (wait time.Duration, err error) {
	node = clip(node, 180)
	capacityLock, originateKey := "#capacity:"+node, "#originate:"+node
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		wait = 0
		if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("number_lock", "number")), capacityLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM capacity_slot WHERE node = ? AND EXISTS (SELECT 1 FROM callback_request r
  WHERE r.id = capacity_slot.request_id AND r.state IN `+finalStates+`)`), node); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		var held, mine int
		if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*), COALESCE(SUM(CASE WHEN request_id = ? THEN 1 ELSE 0 END), 0) FROM capacity_slot WHERE node = ?"), id, node).Scan(&held, &mine); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		if mine > 0 {
			return nil // already granted (a retried transaction)
		}
		if maxConc > 0 && held >= maxConc {
			wait = capacityRetry
			return nil
		}
		if interval > 0 {
			if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("rate_limit", "k")), originateKey); err != nil {
				return fmt.Errorf("lock rate: %w", err)
			}
			var nextMS int64
			if err := tx.QueryRowContext(ctx, s.d.q("SELECT window_ms FROM rate_limit WHERE k = ?"), originateKey).Scan(&nextMS); err != nil {
				return fmt.Errorf("read rate: %w", err)
			}
			next := fromMsZero(nextMS)
			if now.Before(next) {
				wait = next.Sub(now)
				return nil
			}
			// Strict spacing, as one instance's: an idle spell earns no burst.
			next = now.Add(interval)
			if _, err := tx.ExecContext(ctx, s.d.q("UPDATE rate_limit SET window_ms = ?, keep_ms = ? WHERE k = ?"), ms(next), ms(next.Add(time.Hour)), originateKey); err != nil {
				return fmt.Errorf("write rate: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, s.d.q("INSERT INTO capacity_slot (request_id, node, taken_ms) VALUES (?, ?, ?)"), clip(id, 64), node, ms(now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: acquire capacity for %s: %w", id, err)
	}
	return wait, nil
}

// capacityRetry is the wait AcquireCapacity asks for when every slot is
// held: slots free as calls end, on any instance.
const capacityRetry = 250 * time.Millisecond

// ReleaseCapacity frees id's call slot (no-op when it holds none).
func (s *DB) ReleaseCapacity(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM capacity_slot WHERE request_id = ?"), id); err != nil {
		return fmt.Errorf("store: release capacity of %s: %w", id, err)
	}
	return nil
}
