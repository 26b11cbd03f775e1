package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A SQLite database leaves a marker file beside it (".<name>.created") the
// first time it is opened. A start that finds the marker but not the
// database knows one existed and was lost (a removed file, an unmounted
// volume) and refuses to start empty: an empty database would silently
// reset every quota and forget every call. The operator then restores the
// file, or asks for a new one (--db-create, `webcallback migrate`).
//
// A data directory removed as a whole takes the marker with it and is a
// first start again; the running service notices the file gone
// (ProbeWrite, /readyz) and writes the marker back, so the start after it
// refuses too.

// sqliteFile is the database file of a sqlite: DSN, "" for other DSNs.
func sqliteFile(dsn string) string {
	if !strings.HasPrefix(dsn, "sqlite:") {
		return ""
	}
	return sqlitePath(dsn)
}

// markerPath is the marker file of the database at file.
func markerPath(file string) string {
	return filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".created")
}

// checkSQLiteFile refuses a missing database whose marker is there, unless
// create.
func checkSQLiteFile(file string, create bool) error {
	if _, err := os.Stat(file); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // there (or unreadable: opening it says why)
	}
	if create {
		return nil
	}
	marker := markerPath(file)
	b, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never created here: a first start
	}
	since := strings.TrimSpace(string(b))
	if since == "" {
		since = "an earlier start"
	}
	return fmt.Errorf("%w: %s was created by %s (marker %s) and is gone; restore it, or start with --db-create (or run `webcallback migrate`) to create a new, empty one",
		ErrDatabaseMissing, file, since, marker)
}

// writeMarker records that the database at file exists, once.
func writeMarker(file string) error {
	marker := markerPath(file)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(marker), 0o750); err != nil {
		return fmt.Errorf("store: database marker: %w", err)
	}
	note := "webcallback on " + time.Now().UTC().Format(time.RFC3339) + "\n"
	if err := os.WriteFile(marker, []byte(note), 0o640); err != nil {
		return fmt.Errorf("store: database marker: %w", err)
	}
	return nil
}
