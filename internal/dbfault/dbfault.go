// Package dbfault makes a database refuse the service's writes for a
// while, the way outages do in production, for the outage tests and the
// chaos soak (bench/chaos). It needs only the rights the service's own
// user has on its own database, and never touches other databases of a
// shared server:
//
//   - SQLite: another connection holds the database's write lock (a
//     locked file): writers wait, then fail (busy).
//   - MySQL/MariaDB: another connection holds LOCK TABLES ... READ on
//     every table of the database: reads go on, writes hang (the service
//     counts a write that hangs past its attempt timeout as refused).
//   - PostgreSQL: the database is made read-only for new sessions and its
//     other sessions are ended: writes fail at once ("read-only
//     transaction"), as on a replica after a failover.
package dbfault

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"
)

// Outage is a refusal in force; End lifts it.
type Outage struct {
	end func() error
}

// End lifts the outage: the database takes writes again.
func (o *Outage) End() error { return o.end() }

// RefuseWrites starts an outage of the database named by dsn (a --db URL).
func RefuseWrites(ctx context.Context, dsn string) (*Outage, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return lockSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//"))
	case strings.HasPrefix(dsn, "mysql://"):
		return lockMySQL(ctx, dsn)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return readOnlyPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("dbfault: unsupported database URL")
}

// lockSQLite holds the write lock of the database file in a transaction
// of its own connection.
func lockSQLite(ctx context.Context, path string) (*Outage, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(20000)")
	if err != nil {
		return nil, fmt.Errorf("dbfault: %w", err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err == nil {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("dbfault: lock %s: %w", path, err)
	}
	return &Outage{end: func() error {
		_, err := conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		db.Close()
		return err
	}}, nil
}

// lockMySQL holds a read lock on every base table of the database.
func lockMySQL(ctx context.Context, dsn string) (*Outage, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("dbfault: bad mysql URL")
	}
	c := mysql.NewConfig()
	c.User = u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.Net, c.Addr = "tcp", u.Host
	if !strings.Contains(u.Host, ":") {
		c.Addr = u.Host + ":3306"
	}
	c.DBName = strings.TrimPrefix(u.Path, "/")
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("dbfault: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("dbfault: %w", err)
	}
	fail := func(err error) (*Outage, error) {
		conn.Close()
		db.Close()
		return nil, fmt.Errorf("dbfault: lock tables: %w", err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'")
	if err != nil {
		return fail(err)
	}
	var locks []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return fail(err)
		}
		locks = append(locks, "`"+t+"` READ")
	}
	rows.Close()
	if len(locks) == 0 {
		return fail(fmt.Errorf("no tables in %s", c.DBName))
	}
	if _, err := conn.ExecContext(ctx, "LOCK TABLES "+strings.Join(locks, ", ")); err != nil {
		return fail(err)
	}
	return &Outage{end: func() error {
		_, err := conn.ExecContext(context.Background(), "UNLOCK TABLES")
		conn.Close()
		db.Close()
		return err
	}}, nil
}

// readOnlyPostgres makes the database read-only for new sessions and ends
// its other sessions, so every session of the service is a new, read-only
// one. The user must own the database (as the service's user does).
func readOnlyPostgres(ctx context.Context, dsn string) (*Outage, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("dbfault: %w", err)
	}
	db.SetMaxOpenConns(1)
	set := func(ctx context.Context, on bool) error {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		var name string
		if err := conn.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
			return err
		}
		// This session may itself have started read-only.
		if _, err := conn.ExecContext(ctx, "SET default_transaction_read_only = off"); err != nil {
			return err
		}
		q := "ALTER DATABASE " + quoteIdent(name) + " RESET default_transaction_read_only"
		if on {
			q = "ALTER DATABASE " + quoteIdent(name) + " SET default_transaction_read_only = on"
		}
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
		// Sessions keep the read-only default they started with: end them
		// both ways, so the service's next sessions take the new default.
		_, err = conn.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		return err
	}
	if err := set(ctx, true); err != nil {
		db.Close()
		return nil, fmt.Errorf("dbfault: make postgres read-only: %w", err)
	}
	return &Outage{end: func() error {
		defer db.Close()
		if err := set(context.Background(), false); err != nil {
			return fmt.Errorf("dbfault: end postgres read-only: %w", err)
		}
		return nil
	}}, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
