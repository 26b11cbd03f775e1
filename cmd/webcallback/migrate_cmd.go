package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"webcallback/internal/config"
	"webcallback/internal/store"
)

func init() {
	register("migrate", "apply database migrations", runMigrate)
}

func runMigrate(ctx context.Context, args []string) error {
	return migrateCommand(ctx, args, os.Stdout, os.Stderr)
}

// migrateCommand applies the embedded migrations to --db and prints the
// schema version. Safe to run while instances are serving, and from two
// places at once (the store serialises migrations with a database lock).
func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	l := config.NewLoader("migrate")
	l.FS.SetOutput(stderr)
	l.FS.Usage = func() {
		fmt.Fprintf(stderr, "usage: webcallback migrate [settings]\n\n"+
			"Applies the database migrations --db has not run yet (serve also does at start\n"+
			"unless --migrate=false) and prints the schema version.\n\n")
		l.PrintHelp(stderr)
	}
	if err := l.Parse(args); err != nil {
		return err
	}
	if l.FS.NArg() > 0 {
		return config.BadSetting(fmt.Errorf("unexpected arguments %q", l.FS.Args()))
	}
	l.S.DBCreate = true // migrate is how an operator asks for a new database
	st, err := openSettingsStore(ctx, l.S)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", config.RedactDSN(l.S.DB), err)
	}
	version := "?"
	if v, ok := st.(interface {
		SchemaVersion(context.Context) (int, error)
	}); ok {
		if n, err := v.SchemaVersion(ctx); err == nil {
			version = fmt.Sprint(n)
		}
	}
	fmt.Fprintf(stdout, "%s: schema at version %s\n", config.RedactDSN(l.S.DB), version)
	return nil
}

// openSettingsStore opens --db with the day boundaries of --timezone, the
// zone Asterisk's CDR wall clock is in.
func openSettingsStore(ctx context.Context, s *config.Settings) (store.Store, error) {
	st, err := s.OpenStore(ctx)
	if err != nil {
		err = fmt.Errorf("opening %s: %w", config.RedactDSN(s.DB), err)
		if errors.Is(err, store.ErrBadDSN) {
			err = config.BadSetting(fmt.Errorf("--db: %w", err))
		}
		return nil, err
	}
	return st, nil
}
