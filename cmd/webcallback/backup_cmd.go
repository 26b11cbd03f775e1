package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"webcallback/internal/config"
	"webcallback/internal/store"
)

func init() {
	register("backup", "write a consistent copy of the SQLite database while the service runs", runBackup)
	register("restore", "put a backup in place of the SQLite database (service stopped)", runRestore)
}

func runBackup(ctx context.Context, args []string) error {
	return backupCommand(ctx, args, os.Stdout, os.Stderr)
}

func runRestore(ctx context.Context, args []string) error {
	return restoreCommand(ctx, args, os.Stdout, os.Stderr)
}

// backupCommand copies --db (SQLite) to --out while the service may run:
// requests, CDRs, the per-number table and overrides at one instant.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var out *string
	l, err := parseCommand("backup", args, stderr, "usage: webcallback backup --out FILE [settings]\n\n"+
		"Writes a consistent copy of the SQLite database --db to FILE (mode 0600) while\n"+
		"the service runs (SQLite's VACUUM INTO: one read transaction, writers go on).\n"+
		"MariaDB/MySQL and PostgreSQL are backed up with their own tools (mysqldump\n"+
		"--single-transaction, pg_dump): see docs/operations.md.\n\n", func(fs *flag.FlagSet) {
		out = fs.String("out", "", "the backup file to write (must not exist)")
	})
	if err != nil {
		return err
	}
	if *out == "" {
		return config.BadSetting(errors.New("--out: the backup file to write is required"))
	}
	if err := store.BackupSupported(l.S.DB); err != nil {
		if errors.Is(err, store.ErrBadDSN) {
			return config.BadSetting(fmt.Errorf("--db: %w", err))
		}
		return fmt.Errorf("%s: %w", config.RedactDSN(l.S.DB), err)
	}
	st, err := openSettingsStore(ctx, l.S)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, *out); err != nil {
		return fmt.Errorf("backing up %s: %w", config.RedactDSN(l.S.DB), err)
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: backed up to %s (%d bytes)\n", config.RedactDSN(l.S.DB), *out, fi.Size())
	return nil
}

// restoreCommand puts the backup --from in place of --db (SQLite), keeps
// the database it replaces, and migrates the result (with --migrate) so a
// backup of an older version is ready for this one.
func restoreCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var from *string
	l, err := parseCommand("restore", args, stderr, "usage: webcallback restore --from FILE [settings]\n\n"+
		"Stop the service first. Checks FILE (a webcallback backup, intact, of a schema\n"+
		"this binary knows), moves the current SQLite database --db aside to\n"+
		"<db>.before-restore-<time>, puts the backup in its place and applies the\n"+
		"migrations (unless --migrate=false). Run it as the service's user.\n\n", func(fs *flag.FlagSet) {
		from = fs.String("from", "", "the backup file to restore (made by webcallback backup)")
	})
	if err != nil {
		return err
	}
	if *from == "" {
		return config.BadSetting(errors.New("--from: the backup file to restore is required"))
	}
	db := config.RedactDSN(l.S.DB)
	kept, err := store.Restore(ctx, *from, l.S.DB)
	if err != nil {
		if errors.Is(err, store.ErrBadDSN) {
			return config.BadSetting(fmt.Errorf("--db: %w", err))
		}
		return fmt.Errorf("restoring %s: %w", db, err)
	}
	if kept != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept as %s\n", kept)
	}
	if l.S.Migrate {
		st, err := openSettingsStore(ctx, l.S)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrating the restored %s: %w", db, err)
		}
	}
	fmt.Fprintf(stdout, "%s: restored from %s\n", db, *from)
	return nil
}
