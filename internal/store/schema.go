package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrSchemaTooNew reports a database that a newer webcallback has migrated:
// it holds migrations this binary does not know. Running on it could write
// rows the newer schema does not expect, so every command that opens the
// database refuses it (migrations are forward-only: there is no way down).
var ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")

// SchemaStatus compares the migrations a database has applied with the ones
// embedded in this binary.
type SchemaStatus struct {
	Backend string
	Applied int      // highest applied version (0 = none)
	Latest  int      // highest version this binary knows
	Pending []string // migrations this binary would apply, in order
	Unknown []string // applied migrations this binary does not know
}

// Err is ErrSchemaTooNew, naming the unknown migrations, or nil.
func (st SchemaStatus) Err() error {
	if len(st.Unknown) == 0 {
		return nil
	}
	return fmt.Errorf("%w: it has migration(s) %s, this binary knows up to %04d: "+
		"run the webcallback version that migrated it, or restore a backup taken before the upgrade",
		ErrSchemaTooNew, strings.Join(st.Unknown, ", "), st.Latest)
}

// SchemaStatus reads schema_migrations without changing anything (a
// database never migrated has every migration pending).
func (s *DB) SchemaStatus(ctx context.Context) (SchemaStatus, error) {
	ms, err := loadMigrations(s.d.name)
	if err != nil {
		return SchemaStatus{}, err
	}
	applied, err := s.appliedMigrations(ctx, s.db)
	if err != nil {
		return SchemaStatus{Backend: s.d.name}, err
	}
	return statusOf(s.d.name, ms, applied), nil
}

// statusOf compares the migrations ms of a binary with the ones a
// database has applied (version → file name).
func statusOf(backend string, ms []migration, applied map[int]string) SchemaStatus {
	st := SchemaStatus{Backend: backend}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
		st.Latest = max(st.Latest, m.version)
		if _, done := applied[m.version]; !done {
			st.Pending = append(st.Pending, m.name)
		}
	}
	var unknown []int
	for v := range applied {
		st.Applied = max(st.Applied, v)
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	sort.Ints(unknown)
	for _, v := range unknown {
		st.Unknown = append(st.Unknown, applied[v])
	}
	return st
}

// sqlQueryer is a *sql.DB or a *sql.Conn (the migration lock's).
type sqlQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// appliedMigrations maps each applied version to its file name; empty when
// schema_migrations does not exist yet.
func (s *DB) appliedMigrations(ctx context.Context, q sqlQueryer) (map[int]string, error) {
	exists, err := s.tableExists(ctx, q, "schema_migrations")
	if err != nil || !exists {
		return map[int]string{}, err
	}
	rows, err := q.QueryContext(ctx, "SELECT version, name FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]string{}
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, fmt.Errorf("store: read schema_migrations: %w", err)
		}
		applied[v] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	return applied, nil
}

// tableExists asks the backend's catalogue (in the current database or
// search path) whether table exists.
func (s *DB) tableExists(ctx context.Context, q sqlQueryer, table string) (bool, error) {
	var query string
	switch s.d.name {
	case "sqlite":
		query = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case "mysql":
		query = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	default:
		query = "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = ANY (current_schemas(false)) AND tablename = ?"
	}
	rows, err := q.QueryContext(ctx, s.d.q(query), table)
	if err != nil {
		return false, fmt.Errorf("store: look up table %s: %w", table, err)
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, fmt.Errorf("store: look up table %s: %w", table, err)
		}
	}
	return n > 0, rows.Err()
}
