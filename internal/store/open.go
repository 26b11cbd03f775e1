package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Options tune a store beyond its DSN.
type Options struct {
	// Location is the zone of the per-number day buckets. It should be the
	// same as Rules.Location (--timezone). nil = UTC. (cdr.calldate is
	// always a UTC wall clock: see DB.cdrLoc.)
	Location *time.Location
	// NormalizeNumber, when set, gives the E.164 form of the number a CDR
	// without a request is counted under (the digits of its src or clid;
	// "" = not a valid number: the digits are kept). The service passes
	// the policy's parser, so one number has one stats row whether its
	// calls came with a request or not.
	NormalizeNumber func(raw string) string
	// MaxOpenConns caps the pool (0 = the backend's default: 4 for SQLite,
	// 20 for the servers).
	MaxOpenConns int
	// Create lets a SQLite database be created where one existed before
	// (its marker file is there, the database file is not): --db-create
	// and `webcallback migrate`. Without it such a start fails with
	// ErrDatabaseMissing rather than start empty (every quota reset).
	Create bool
}

// ErrDatabaseMissing is a SQLite database that existed (its marker says so)
// but is no longer at its path.
var ErrDatabaseMissing = errors.New("store: the database file is missing")

// Open opens the database named by dsn (docs/design.md §6: sqlite:<path>,
// mysql://user:pass@host:3306/db, postgres://...) with default Options.
// It does not migrate: call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with Options: it opens and pings the database behind dsn.
func OpenWith(ctx context.Context, dsn string, o Options) (*DB, error) {
	d, driver, conn, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	file := sqliteFile(dsn)
	if file != "" {
		if err := checkSQLiteFile(file, o.Create); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open(driver, conn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", d.name, err)
	}
	switch {
	case o.MaxOpenConns > 0:
		db.SetMaxOpenConns(o.MaxOpenConns)
	case d.name == "sqlite":
		// One writer at a time anyway (BEGIN IMMEDIATE); a few readers in WAL.
		db.SetMaxOpenConns(4)
	default:
		db.SetMaxOpenConns(20)
	}
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", d.name, err)
	}
	if file != "" {
		if err := writeMarker(file); err != nil {
			db.Close()
			return nil, err
		}
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	return &DB{db: db, d: d, loc: loc, normalize: o.NormalizeNumber, file: file}, nil
}

// ErrBadDSN reports a --db value that names no supported database.
var ErrBadDSN = errors.New("store: bad database URL")

// parseDSN turns a --db URL into the dialect, the database/sql driver name
// and the driver's own connection string.
func parseDSN(dsn string) (d dialect, driver, conn string, err error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := sqlitePath(dsn)
		if path == "" || strings.ContainsAny(path, "?#\x00") {
			return d, "", "", fmt.Errorf("%w: sqlite:<path> needs a plain file path, got %q", ErrBadDSN, dsn)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return d, "", "", fmt.Errorf("store: create directory for %s: %w", path, err)
		}
		// WAL: readers never block the writer. _txlock=immediate: every
		// transaction takes the write lock at BEGIN, which makes Admit's
		// check-then-insert atomic and avoids SQLITE_BUSY upgrade deadlocks.
		conn = "file:" + (&url.URL{Path: path}).EscapedPath() +
			"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(20000)&_pragma=synchronous(NORMAL)" +
			"&_pragma=foreign_keys(1)&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)&_txlock=immediate"
		return dialect{name: "sqlite"}, "sqlite", conn, nil
	case strings.HasPrefix(dsn, "mysql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return d, "", "", fmt.Errorf("%w: %v", ErrBadDSN, redactErr(err))
		}
		c := mysql.NewConfig()
		c.User = u.User.Username()
		c.Passwd, _ = u.User.Password()
		c.DBName = strings.TrimPrefix(u.Path, "/")
		if c.DBName == "" || strings.Contains(c.DBName, "/") {
			return d, "", "", fmt.Errorf("%w: mysql://user:pass@host:3306/db needs a database name", ErrBadDSN)
		}
		q := u.Query()
		if sock := q.Get("socket"); sock != "" {
			c.Net, c.Addr = "unix", sock
		} else {
			c.Net = "tcp"
			host, port := u.Hostname(), u.Port()
			if host == "" {
				host = "127.0.0.1"
			}
			if port == "" {
				port = "3306"
			}
			c.Addr = net.JoinHostPort(host, port)
		}
		if tls := q.Get("tls"); tls != "" {
			c.TLSConfig = tls // "true", "skip-verify", "preferred"
		}
		c.ParseTime = false // we parse DATETIME ourselves, in Options.Location
		c.Collation = "utf8mb4_general_ci"
		c.Timeout = 10 * time.Second
		c.Params = map[string]string{
			// The original's zero-date default needs these off on MySQL 8.
			"sql_mode": "'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'",
			// Session time zone irrelevant: we only store wall clocks and ms.
		}
		return dialect{name: "mysql"}, "mysql", c.FormatDSN(), nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			return d, "", "", fmt.Errorf("%w: %v", ErrBadDSN, redactErr(err))
		}
		return dialect{name: "postgres"}, "pgx", dsn, nil
	}
	return d, "", "", fmt.Errorf("%w: want sqlite:<path>, mysql://user:pass@host:3306/db or postgres://user:pass@host:5432/db", ErrBadDSN)
}

// redactErr keeps a URL parse error from echoing a password.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return errors.New("unparsable URL")
}

// DB is the store: one implementation on database/sql for all three
// backends; d holds what differs between them. It is safe for concurrent
// use. Consumers declare the small interface of the methods they call
// (callflow.Store, policy.Store, monitor.Store, web.Store, pbxcdr.Store)
// rather than depending on all of them.
type DB struct {
	db  *sql.DB
	d   dialect
	loc *time.Location // the day buckets' zone (Options.Location)
	// calldateLoc is the zone of cdr.calldate; nil = UTC (see cdrLoc).
	calldateLoc *time.Location
	normalize   func(string) string // Options.NormalizeNumber
	stmts       stmtCache
	file        string // the SQLite database file; "" for the servers
}

// Ping checks the database answers (/readyz).
func (s *DB) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.d.name, err)
	}
	return nil
}

// ProbeWrite updates the probe row (migration 0015) in a transaction. On
// SQLite it first checks that the database file is still at its path: a
// removed file keeps working through the open handle, and everything
// written to it after is gone at the next start.
func (s *DB) ProbeWrite(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.q("UPDATE write_probe SET at_ms = ? WHERE id = 1"), ms(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: %s refuses writes: %w", s.d.name, err)
	}
	return nil
}

// checkFile fails when the SQLite database file is no longer at its path:
// a write would go to the removed file and be lost at the next start.
func (s *DB) checkFile() error {
	if s.file == "" {
		return nil
	}
	_, err := os.Stat(s.file)
	if err == nil {
		return nil
	}
	// The next start must refuse to begin empty: leave the marker.
	if merr := writeMarker(s.file); merr != nil {
		err = errors.Join(err, merr)
	}
	return fmt.Errorf("%w: %s: %v", ErrDatabaseMissing, s.file, err)
}

// Close releases the prepared statements and the connection pool.
func (s *DB) Close() error {
	s.stmts.mu.Lock()
	for _, st := range s.stmts.m {
		st.Close()
	}
	s.stmts.m = nil
	s.stmts.mu.Unlock()
	return s.db.Close()
}

// Backend names the database kind: "sqlite", "mysql" or "postgres".
func (s *DB) Backend() string { return s.d.name }
