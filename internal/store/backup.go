package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrBackupUnsupported is Backup on MariaDB/MySQL or PostgreSQL: their own
// tools (mysqldump --single-transaction, pg_dump) make consistent online
// copies and restore them; docs/operations.md gives the commands.
var ErrBackupUnsupported = errors.New("store: backup is built in for SQLite only")

// BackupSupported is nil when Backup and Restore work for the database
// dsn names, else ErrBackupUnsupported naming the tool to use; it does not
// connect.
func BackupSupported(dsn string) error {
	d, _, _, err := parseDSN(dsn)
	if err != nil {
		return err
	}
	return backupTool(d.name)
}

// backupTool is ErrBackupUnsupported for a server backend, naming its tool.
func backupTool(backend string) error {
	switch backend {
	case "mysql":
		return fmt.Errorf("%w: use mysqldump --single-transaction, restore with mysql (docs/operations.md)", ErrBackupUnsupported)
	case "postgres":
		return fmt.Errorf("%w: use pg_dump, restore with pg_restore (docs/operations.md)", ErrBackupUnsupported)
	}
	return nil
}

// Backup copies a SQLite database with VACUUM INTO: one read transaction,
// so the copy is the database at one instant while writers go on (WAL).
// The copy is written to a temporary file beside path and renamed into
// place when complete, so path never holds half a backup; an existing
// path is refused, never overwritten.
func (s *DB) Backup(ctx context.Context, path string) error {
	if err := backupTool(s.d.name); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("store: backup: %s already exists", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	// VACUUM INTO wants a file that does not exist (or is empty); the
	// temporary name only reserved the place.
	os.Remove(name)
	defer os.Remove(name)
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", name); err != nil {
		return fmt.Errorf("store: backup: vacuum into %s: %w", name, err)
	}
	// Phone numbers and call records: the operator's eyes only.
	if err := os.Chmod(name, 0o600); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := syncFile(name); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	// Link, not rename: it fails when path appeared meanwhile.
	if err := os.Link(name, path); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return syncFile(filepath.Dir(path))
}

// syncFile flushes a file or directory to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// Restore puts the SQLite backup file in place of the database dsn names.
// The service must be stopped: a running one would keep writing to the
// file it opened. The backup is copied (it stays as it was), checked
// (SQLite's integrity check, and a schema this binary knows), then renamed
// over the database; the database it replaces, with its WAL, is kept beside
// it as <name>.before-restore-<time>, whose path Restore returns ("" when
// there was none). The caller runs Migrate next, as serve does at start.
func Restore(ctx context.Context, backup, dsn string) (kept string, err error) {
	if err := BackupSupported(dsn); err != nil {
		return "", err
	}
	path := sqlitePath(dsn)
	staged := path + ".restoring"
	os.Remove(staged)
	defer os.Remove(staged)
	if err := copyFile(backup, staged); err != nil {
		return "", fmt.Errorf("store: restore: %w", err)
	}
	if err := checkRestorable(ctx, staged); err != nil {
		return "", fmt.Errorf("store: restore: %s: %w", backup, err)
	}
	if _, err := os.Stat(path); err == nil {
		kept = path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(path+suffix, kept+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("store: restore: keep the current database: %w", err)
			}
		}
	}
	if err := os.Rename(staged, path); err != nil {
		return kept, fmt.Errorf("store: restore: %w", err)
	}
	return kept, syncFile(filepath.Dir(path))
}

// sqlitePath is the file of a sqlite: DSN parseDSN accepted.
func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
}

// checkRestorable opens a staged copy of a backup and checks it is a sound
// SQLite file holding a webcallback schema this binary can run on.
func checkRestorable(ctx context.Context, path string) error {
	s, err := OpenWith(ctx, "sqlite:"+path, Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	var ok string
	if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil {
		return fmt.Errorf("not a SQLite database: %w", err)
	}
	if ok != "ok" {
		return fmt.Errorf("integrity check: %s", ok)
	}
	st, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if st.Applied == 0 {
		return errors.New("not a webcallback database (no schema_migrations)")
	}
	if err := st.Err(); err != nil {
		return err
	}
	// Fold the WAL the open created back in, so the renamed file is whole.
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// copyFile copies src to a new file dst (mode 0600) and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
