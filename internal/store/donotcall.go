package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"webcallback/internal/callback"
)

// DoNotCall is one entry of the do-not-call list: a number whose owner, as
// the callee, pressed 9 in the announcement (--callee-announce). Admit
// refuses every request to it (RuleCalleeOptedOut) until an admin removes
// it.
type DoNotCall struct {
	Number    string    `json:"number"`     // E.164
	RequestID string    `json:"request_id"` // the call in which the callee opted out
	CreatedAt time.Time `json:"created_at"`
}

// optedOut reports whether r is the outcome that puts its callee on the
// do-not-call list.
func optedOut(r *callback.Request) bool {
	return r.State == callback.StateFailed && r.Reason == callback.ReasonCalleeOptedOut
}

// addDoNotCallTx puts number on the list inside tx (kept as it is if
// already there).
func (s *DB) addDoNotCallTx(ctx context.Context, tx *sql.Tx, e DoNotCall) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM do_not_call WHERE number = ?"), e.Number).Scan(&n); err != nil {
		return fmt.Errorf("read do-not-call: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO do_not_call (number, request_id, created_ms) VALUES (?, ?, ?)"),
		e.Number, clip(e.RequestID, 64), ms(e.CreatedAt)); err != nil {
		return fmt.Errorf("add do-not-call: %w", err)
	}
	return nil
}

// onDoNotCallTx reports whether number is on the list.
func (s *DB) onDoNotCallTx(ctx context.Context, tx *sql.Tx, number string) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM do_not_call WHERE number = ?"), number).Scan(&n); err != nil {
		return false, fmt.Errorf("read do-not-call: %w", err)
	}
	return n > 0, nil
}

func (s *DB) ListDoNotCall(ctx context.Context, limit, offset int) ([]DoNotCall, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT number, request_id, created_ms FROM do_not_call ORDER BY created_ms DESC, number LIMIT %d OFFSET %d",
		clampLimit(limit, 100, 100000), max(offset, 0)))
	if err != nil {
		return nil, fmt.Errorf("store: list do-not-call: %w", err)
	}
	defer rows.Close()
	var out []DoNotCall
	for rows.Next() {
		var e DoNotCall
		var at int64
		if err := rows.Scan(&e.Number, &e.RequestID, &at); err != nil {
			return nil, fmt.Errorf("store: list do-not-call: %w", err)
		}
		e.CreatedAt = fromMs(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list do-not-call: %w", err)
	}
	return out, nil
}

func (s *DB) DeleteDoNotCall(ctx context.Context, number string) error {
	res, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM do_not_call WHERE number = ?"), number)
	if err != nil {
		return fmt.Errorf("store: delete do-not-call %s: %w", number, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delete do-not-call %s: %w", number, ErrNotFound)
	}
	return nil
}
