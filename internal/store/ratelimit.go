package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"webcallback/internal/policy/ratelimit"
)

// MultiInstance reports whether several service instances may share this
// database (MariaDB/MySQL, PostgreSQL; not SQLite, see LockSingleInstance):
// then their limits count here, not in each one's memory.
func (s *DB) MultiInstance() bool { return s.file == "" }

// rateLimitSweepEvery: one UpdateRateLimit in so many also deletes the rows
// whose keep time is over, so the table holds only live keys.
const rateLimitSweepEvery = 1024

var rateLimitCalls atomic.Uint64

// UpdateRateLimit runs fn on the shared rate-limit state of key under its
// row lock (ratelimit.Backend): several instances count one allowance.
func (s *DB) UpdateRateLimit(ctx context.Context, key string, fn func(*ratelimit.State) time.Time) error {
	key = clip(key, 200)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("rate_limit", "k")), key); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		var st ratelimit.State
		var window, lastStrike, blocked int64
		if err := tx.QueryRowContext(ctx, s.d.q("SELECT window_ms, cur, prev, strikes, last_strike_ms, blocked_until_ms FROM rate_limit WHERE k = ?"), key).
			Scan(&window, &st.Cur, &st.Prev, &st.Strikes, &lastStrike, &blocked); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		st.WindowStart, st.LastStrike, st.BlockedUntil = fromMsZero(window), fromMsZero(lastStrike), fromMsZero(blocked)
		keep := fn(&st)
		if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE rate_limit SET window_ms = ?, cur = ?, prev = ?, strikes = ?,
  last_strike_ms = ?, blocked_until_ms = ?, keep_ms = ? WHERE k = ?`),
			msZero(st.WindowStart), st.Cur, st.Prev, st.Strikes, msZero(st.LastStrike), msZero(st.BlockedUntil), msZero(keep), key); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: rate limit %s: %w", key, err)
	}
	if rateLimitCalls.Add(1)%rateLimitSweepEvery == 0 {
		if _, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM rate_limit WHERE keep_ms < ?"), ms(time.Now())); err != nil {
			return fmt.Errorf("store: sweep rate limits: %w", err)
		}
	}
	return nil
}

// msZero and fromMsZero map the zero time to 0 and back.
func msZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ms(t)
}

func fromMsZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMs(v)
}
