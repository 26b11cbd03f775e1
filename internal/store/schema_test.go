package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSchemaStatus: a database never migrated has every migration
// pending; after Migrate none; Migrate again applies nothing (idempotent).
func TestSchemaStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		all, err := loadMigrations(b.name)
		if err != nil {
			t.Fatal(err)
		}
		resetDB(t, s)
		st, err := s.SchemaStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Applied != 0 || len(st.Pending) != len(all) || st.Pending[0] != all[0].name || st.Err() != nil {
			t.Fatalf("fresh database: %+v; want every one of %d migrations pending", st, len(all))
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		var stamps []int64
		readStamps := func() []int64 {
			rows, err := s.db.QueryContext(ctx, "SELECT applied_ms FROM schema_migrations ORDER BY version")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []int64
			for rows.Next() {
				var v int64
				rows.Scan(&v)
				out = append(out, v)
			}
			return out
		}
		stamps = readStamps()
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		if again := readStamps(); len(again) != len(all) || again[len(again)-1] != stamps[len(stamps)-1] {
			t.Fatalf("second Migrate changed schema_migrations: %v then %v", stamps, again)
		}
		st, err = s.SchemaStatus(ctx)
		if err != nil || len(st.Pending) != 0 || st.Applied != st.Latest || len(st.Unknown) != 0 {
			t.Fatalf("after migrate: %+v, %v", st, err)
		}
	})
}

// TestFutureSchemaRefused: a database a newer binary migrated (it holds a
// migration this one lacks) is refused by Migrate, which changes nothing,
// and reported by SchemaStatus, on every backend.
func TestFutureSchemaRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		if _, err := s.db.ExecContext(ctx, s.d.q("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)"),
			9999, "9999_from_the_future.sql", time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.db.ExecContext(context.Background(), "DELETE FROM schema_migrations WHERE version = 9999") })
		err := s.Migrate(ctx)
		if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "9999_from_the_future.sql") {
			t.Fatalf("Migrate on a future schema = %v; want ErrSchemaTooNew naming the migration", err)
		}
		st, err := s.SchemaStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Applied != 9999 || len(st.Unknown) != 1 || !errors.Is(st.Err(), ErrSchemaTooNew) {
			t.Fatalf("status = %+v", st)
		}
	})
}

// TestBackupRestoreSQLite: Backup writes a consistent copy while a writer
// goes on, refuses to overwrite, and Restore puts it back in place of a
// database, keeping the replaced one.
func TestBackupRestoreSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "live.db")
	s, err := OpenWith(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := s.InsertCDRs(ctx, fixtureCall("before-"+string(rune('a'+i)), day0)); err != nil {
			t.Fatal(err)
		}
	}
	// A writer that keeps inserting while the backup runs.
	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				wrote <- n
				return
			default:
			}
			if _, err := s.InsertCDRs(ctx, fixtureCall("during-"+time.Now().Format("150405.000000000"), day0)); err == nil {
				n++
			}
		}
	}()
	out := filepath.Join(dir, "backup.db")
	err = s.Backup(ctx, out)
	close(stop)
	<-wrote
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	if err := s.Backup(ctx, out); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file = %v; want refused", err)
	}
	var inBackup int
	func() {
		b, err := OpenWith(ctx, "sqlite:"+filepath.Join(dir, "copy-of-backup.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := b.db.ExecContext(ctx, "ATTACH DATABASE ? AS bk", out); err != nil {
			t.Fatal(err)
		}
		if err := b.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM bk.cdr WHERE uniqueid LIKE 'before-%'").Scan(&inBackup); err != nil {
			t.Fatal(err)
		}
	}()
	if inBackup != 20*len(fixtureCall("x", day0)) {
		t.Fatalf("backup holds %d rows of the calls made before it; want all %d", inBackup, 20*len(fixtureCall("x", day0)))
	}

	// Restore over another database: the backup's contents replace it.
	target := "sqlite:" + filepath.Join(dir, "other.db")
	o, err := OpenWith(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.Migrate(ctx)
	o.Close()
	kept, err := Restore(ctx, out, target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(kept, "other.db.before-restore-") {
		t.Fatalf("kept = %q", kept)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the replaced database was not kept: %v", err)
	}
	r, err := OpenWith(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	if err := r.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM cdr WHERE uniqueid LIKE 'before-%'").Scan(&n); err != nil || n != inBackup {
		t.Fatalf("restored database: %d rows, %v; want %d", n, err, inBackup)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("restore consumed the backup: %v", err)
	}

	// Not a database, or not ours: refused, the target untouched.
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not sqlite at all, just text"), 0o600)
	if _, err := Restore(ctx, junk, target); err == nil {
		t.Fatal("restore of a text file succeeded")
	}
	if _, err := Restore(ctx, out, "mysql://u:p@127.0.0.1:1/db"); !errors.Is(err, ErrBackupUnsupported) {
		t.Fatalf("restore into mysql = %v; want ErrBackupUnsupported", err)
	}
}

// TestBackupServersUnsupported: the servers' backups are their own tools';
// Backup says so instead of writing anything.
func TestBackupServersUnsupported(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		if b.name == "sqlite" {
			return
		}
		out := filepath.Join(t.TempDir(), "b.db")
		if err := s.Backup(context.Background(), out); !errors.Is(err, ErrBackupUnsupported) {
			t.Fatalf("Backup = %v; want ErrBackupUnsupported", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("a file was written")
		}
	})
}
