package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// inTx runs fn in a transaction and commits it, retrying the whole
// transaction a few times on a deadlock or serialisation failure. MySQL and
// PostgreSQL run at READ COMMITTED so that checks made after taking a row
// lock see what the previous lock holder committed (MySQL's default
// REPEATABLE READ could read an older snapshot).
func (s *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	var opts *sql.TxOptions
	if s.d.name != "sqlite" {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	const attempts = 8
	for i := 1; ; i++ {
		err := s.tryTx(ctx, opts, fn)
		if err == nil || i == attempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i*i) * 5 * time.Millisecond):
		}
	}
}

func (s *DB) tryTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// stmtCache holds prepared statements by query text: the CDR path runs
// the same few statements for every row, and re-preparing them each time
// costs more than running them (measured on SQLite).
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// stmt returns query (with ? placeholders) prepared, bound to tx. A query
// not in the cache is prepared on tx's own connection, never through the
// pool: a transaction that waited for a pool connection while holding
// SQLite's write lock would deadlock with the transactions queued behind
// that lock, each holding a pool connection. warm fills the cache outside
// any transaction.
func (s *DB) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	st, ok := s.stmts.m[query]
	s.stmts.mu.Unlock()
	if !ok {
		return tx.PrepareContext(ctx, s.d.q(query))
	}
	return tx.StmtContext(ctx, st), nil
}

// warm prepares the queries not yet cached through the pool. Call it
// before starting a transaction, never inside one (see stmt).
func (s *DB) warm(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		s.stmts.mu.Lock()
		_, ok := s.stmts.m[q]
		s.stmts.mu.Unlock()
		if ok {
			continue
		}
		st, err := s.db.PrepareContext(ctx, s.d.q(q))
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		s.stmts.mu.Lock()
		_, dup := s.stmts.m[q]
		if !dup {
			if s.stmts.m == nil {
				s.stmts.m = map[string]*sql.Stmt{}
			}
			s.stmts.m[q] = st
		}
		s.stmts.mu.Unlock()
		if dup {
			// Closed outside the cache's lock: Close waits for the lock of
			// every connection the statement was prepared on, and one of
			// them may sit in BEGIN waiting for SQLite's write lock, held by
			// a transaction that waits for the cache (a deadlock seen in CI).
			st.Close()
		}
	}
	return nil
}

// exec runs a cached statement in tx.
func (s *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs a cached single-row query in tx.
func (s *DB) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Row, error) {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

// ms is t in Unix milliseconds, the form every timestamp but cdr.calldate
// is stored in: exact, zone-free and comparable the same way on all three
// backends.
func ms(t time.Time) int64 { return t.UnixMilli() }

func msPtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMs(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMs(v.Int64)
	return &t
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// clip makes s valid UTF-8 without NUL bytes and cuts it to at most n
// characters (runes), the width of its column, so hostile or odd input
// behaves the same on every backend instead of being an error on one
// (MySQL strict mode, PostgreSQL's encoding checks) and kept on another.
func clip(s string, n int) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// clampLimit bounds list sizes: bounded memory whatever the caller asks.
func clampLimit(limit, def, max int) int {
	if limit <= 0 {
		return def
	}
	if limit > max {
		return max
	}
	return limit
}
