package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// NodeState is what the database knows of one PBX node (its AMI address
// host:port): an admin's drain, and the calls holding one of its capacity
// slots, on any instance (AcquireCapacity; several instances only).
type NodeState struct {
	Draining bool
	Slots    int
}

// NodeStates reads the drained nodes and the capacity slots held per node:
// the node pool reads it before each choice, so a drain set through any
// instance holds for the next call on every instance.
func (s *DB) NodeStates(ctx context.Context) (map[string]NodeState, error) {
	out := map[string]NodeState{}
	err := s.each(ctx, "SELECT node, draining FROM pbx_node WHERE draining <> 0", nil, func(rows *sql.Rows) error {
		var node string
		var d int
		if err := rows.Scan(&node, &d); err != nil {
			return err
		}
		out[node] = NodeState{Draining: true}
		return nil
	})
	if err == nil && s.MultiInstance() {
		err = s.each(ctx, "SELECT node, COUNT(*) FROM capacity_slot GROUP BY node", nil, func(rows *sql.Rows) error {
			var node string
			var n int
			if err := rows.Scan(&node, &n); err != nil {
				return err
			}
			st := out[node]
			st.Slots = n
			out[node] = st
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("store: node states: %w", err)
	}
	return out, nil
}

// SetNodeDrain drains node (no new calls; its live calls finish) or ends
// its drain.
func (s *DB) SetNodeDrain(ctx context.Context, node string, draining bool, now time.Time) error {
	d := 0
	if draining {
		d = 1
	}
	node = clip(node, 200)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("pbx_node", "node")), node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.d.q("UPDATE pbx_node SET draining = ?, changed_ms = ? WHERE node = ?"), d, ms(now), node)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: drain of node %s: %w", node, err)
	}
	return nil
}

// each runs a query and calls scan for each row.
func (s *DB) each(ctx context.Context, query string, args []any, scan func(rows *sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
