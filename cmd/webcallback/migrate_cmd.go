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
	register("migrate", "apply database migrations", runMigrate)
}

func runMigrate(ctx context.Context, args []string) error {
	return migrateCommand(ctx, args, os.Stdout, os.Stderr)
}

// migrateCommand applies the embedded migrations to --db and prints the
// schema version. Safe to run while instances are serving, and from two
// places at once (the store serialises migrations with a database lock).
func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var check *bool
	l, err := parseCommand("migrate", args, stderr, "usage: webcallback migrate [--check] [settings]\n\n"+
		"Applies the database migrations --db has not run yet (serve also does at start\n"+
		"unless --migrate=false) and prints the schema version. Migrations only go\n"+
		"forward; running it again applies nothing. A database a newer webcallback has\n"+
		"migrated is refused (exit 1).\n\n", func(fs *flag.FlagSet) {
		check = fs.Bool("check", false, "only report: exit 0 when the schema is up to date, 3 when migrations are pending (listed), 1 when the database is from a newer webcallback")
	})
	if err != nil {
		return err
	}
	// migrate is how an operator asks for a new database (not --check,
	// which only looks).
	l.S.DBCreate = l.S.DBCreate || !*check
	st, err := openSettingsStore(ctx, l.S)
	if err != nil {
		return err
	}
	defer st.Close()
	if *check {
		return checkMigrations(ctx, st, config.RedactDSN(l.S.DB), stdout)
	}
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", config.RedactDSN(l.S.DB), err)
	}
	version := "?"
	if n, err := st.SchemaVersion(ctx); err == nil {
		version = fmt.Sprint(n)
	}
	fmt.Fprintf(stdout, "%s: schema at version %s\n", config.RedactDSN(l.S.DB), version)
	return nil
}

// errPending is migrate --check's answer when migrations are pending.
var errPending = exitError{code: 3, err: errors.New("migrations pending: run webcallback migrate (or start serve with --migrate)")}

// checkMigrations prints the schema status of st (named db) and returns
// nil when it is up to date, errPending, or the newer-schema refusal.
func checkMigrations(ctx context.Context, st *store.DB, db string, stdout io.Writer) error {
	status, err := st.SchemaStatus(ctx)
	if err != nil {
		return fmt.Errorf("checking %s: %w", db, err)
	}
	if err := status.Err(); err != nil {
		return fmt.Errorf("%s: %w", db, err)
	}
	fmt.Fprintf(stdout, "%s: schema at version %d, this binary's latest %d\n", db, status.Applied, status.Latest)
	if len(status.Pending) == 0 {
		fmt.Fprintf(stdout, "up to date\n")
		return nil
	}
	for _, m := range status.Pending {
		fmt.Fprintf(stdout, "pending %s\n", m)
	}
	return errPending
}

// parseCommand parses the settings of a command that takes no arguments:
// own adds the command's own flags, usage heads its --help.
func parseCommand(name string, args []string, stderr io.Writer, usage string, own func(*flag.FlagSet)) (*config.Loader, error) {
	l := config.NewLoader(name)
	l.FS.SetOutput(stderr)
	own(l.FS)
	l.FS.Usage = func() {
		fmt.Fprint(stderr, usage)
		l.PrintHelp(stderr)
	}
	if err := l.Parse(args); err != nil {
		return nil, err
	}
	if l.FS.NArg() > 0 {
		return nil, config.BadSetting(fmt.Errorf("unexpected arguments %q", l.FS.Args()))
	}
	return l, nil
}

// openSettingsStore opens --db with the day boundaries of --timezone, the
// zone Asterisk's CDR wall clock is in.
func openSettingsStore(ctx context.Context, s *config.Settings) (*store.DB, error) {
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
