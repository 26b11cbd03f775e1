package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// budgetLock is the number_lock row serialising the budget reservations of
// every instance.
const budgetLock = "#budget"

// ReserveBudget reserves perSec of today's talk budget for a request being
// admitted, for every instance sharing the database: under one lock it
// drops the reservations older than keep, and refuses when usedSec (the
// day's billed seconds) plus perSec for each live reservation and for this
// one would exceed limitSec. It returns the reservation id ("" when
// refused) and the seconds used or reserved before this one.
func (s *DB) ReserveBudget(ctx context.Context, usedSec, perSec, limitSec int, keep time.Duration, now time.Time) (id string, used int, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		id = ""
		if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("number_lock", "number")), budgetLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.q("DELETE FROM budget_reservation WHERE at_ms < ?"), ms(now.Add(-keep))); err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM budget_reservation").Scan(&n); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		used = usedSec + n*perSec
		if used+perSec > limitSec {
			return nil
		}
		rid, err := newReservationID()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO budget_reservation (id, at_ms) VALUES (?, ?)"), rid, ms(now)); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		id = rid
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("store: reserve budget: %w", err)
	}
	return id, used, nil
}

// ReleaseBudget gives a reservation back (the request was not admitted).
func (s *DB) ReleaseBudget(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM budget_reservation WHERE id = ?"), id); err != nil {
		return fmt.Errorf("store: release budget %s: %w", id, err)
	}
	return nil
}

// newReservationID is a random reservation id.
func newReservationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reservation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
