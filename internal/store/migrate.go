package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrations holds one directory per backend; files are NNNN_name.sql and
// run in version order, each once, recorded in schema_migrations. A file
// is a list of statements separated by ";" at the end of a line.
//
//go:embed migrations
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(backend string) ([]migration, error) {
	dir := "migrations/" + backend
	ents, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations for %s: %w", backend, err)
	}
	var ms []migration
	for _, e := range ents {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("store: migration file %s/%s: want NNNN_name.sql", dir, name)
		}
		b, err := migrations.ReadFile(dir + "/" + name)
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// statements splits a migration file into statements, dropping comments.
func statements(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// Migrate applies the embedded migrations not yet recorded, each once:
// running it again is a no-op (migrations are forward-only and there are no
// down migrations). It refuses, changing nothing, a database that holds a
// migration this binary does not know (ErrSchemaTooNew). Two instances
// starting at once are serialised by a database lock (MySQL GET_LOCK,
// PostgreSQL advisory lock, SQLite's write lock).
func (s *DB) Migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.d.name)
	if err != nil {
		return err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	unlock, err := s.migrationLock(ctx, conn)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version int NOT NULL PRIMARY KEY,
  name varchar(200) NOT NULL,
  applied_ms bigint NOT NULL
)`); err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	done, err := s.appliedMigrations(ctx, conn)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := statusOf(s.d.name, ms, done).Err(); err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := done[m.version]; ok {
			continue
		}
		if err := s.apply(ctx, conn, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration. SQLite and PostgreSQL run DDL in a transaction,
// so a failed migration leaves nothing behind; MySQL commits each DDL
// statement implicitly, so there a failure needs a look by the operator.
func (s *DB) apply(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	for i, st := range statements(m.sql) {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("store: migration %s statement %d: %w", m.name, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)"),
		m.version, m.name, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store: migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migration %s: commit: %w", m.name, err)
	}
	return nil
}

func (s *DB) migrationLock(ctx context.Context, conn *sql.Conn) (unlock func(), err error) {
	switch s.d.name {
	case "mysql":
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('webcallback_migrate', 60)").Scan(&got); err != nil || got.Int64 != 1 {
			return nil, fmt.Errorf("store: migrate: could not take the migration lock within 60 s: %v", err)
		}
		return func() { conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK('webcallback_migrate')") }, nil
	case "postgres":
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7391002211)"); err != nil {
			return nil, fmt.Errorf("store: migrate: advisory lock: %w", err)
		}
		return func() { conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(7391002211)") }, nil
	}
	return func() {}, nil
}

// SchemaVersion returns the highest applied migration (0 = none).
func (s *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v.Int64), nil
}
