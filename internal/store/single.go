package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrSingleInstance is returned by [DB.LockSingleInstance] when another
// process already runs the service on the same SQLite database.
var ErrSingleInstance = errors.New("store: SQLite serves one service instance; for several instances use MariaDB/MySQL (--db mysql://...) or PostgreSQL (--db postgres://...)")

// LockSingleInstance makes this process the only service instance on a
// SQLite database: it holds an exclusive lock (flock) on <file>.lock until
// release, or until the process dies, when the kernel drops it (a kill -9
// leaves no stale lock). A second process gets ErrSingleInstance, naming
// the holder's pid. SQLite has no way for instances to see each other's
// live calls, limits or leases, so a second one would double every limit
// and adopt nothing. On MariaDB/PostgreSQL it does nothing: several
// instances share those (docs/scale-out.md).
func (s *DB) LockSingleInstance() (release func(), err error) {
	if s.file == "" {
		return func() {}, nil
	}
	path := s.file + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("store: instance lock %s: %w", path, err)
	}
	if err := flockExclusive(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w (database %s is in use by process %s)", ErrSingleInstance, s.file, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("store: instance lock %s: %w", path, err)
	}
	// The holder's pid, for the refusal message of the next one.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil // closing the file drops the lock
}

// TakeOverUnfinished gives instance the unfinished requests of every other
// instance whose name does not contain keep, and returns how many. Only for
// a database one service instance holds (LockSingleInstance): no other
// service can own them, and a renamed instance (--instance, or the default
// <host>-<port> after a change of --listen) would otherwise leave the calls
// of its previous run unfinished for good. keep spares the one-shot
// `webcallback call` runs beside the service, which may still be live.
func (s *DB) TakeOverUnfinished(ctx context.Context, instance, keep string) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.q("UPDATE callback_request SET instance = ? WHERE state NOT IN "+finalStates+
		" AND instance <> ? AND instance NOT LIKE ?"), clip(instance, 64), clip(instance, 64), "%"+keep+"%")
	if err != nil {
		return 0, fmt.Errorf("store: take over unfinished requests: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
