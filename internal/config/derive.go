package config

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"webcallback/internal/policy"
	"webcallback/internal/store"
)

// Logger builds the service's logger from --log-level and --log-format.
func (s *Settings) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(s.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Rules is the eligibility policy the store enforces atomically; nil with
// --limits off (development and load tests only).
func (s *Settings) Rules() *store.Rules {
	if !s.Limits {
		return nil
	}
	return &store.Rules{
		CallerConnectedPerDay: s.CallerConnectedPerDay,
		CallerAttemptsPerDay:  s.CallerAttemptsPerDay,
		CallerBillsecPerDay:   s.CallerBillsecPerDay,
		CallerBillsecLifetime: s.CallerBillsecLifetime,
		CallerCooldown:        s.CallerCooldown,
		CalleePerDay:          s.CalleePerDay,
		CallerNoConfirmPerDay: s.CallerNoConfirmPerDay,
		Location:              s.Location(),
	}
}

// OpenStore opens --db with the quota-day zone (--timezone), the one the
// eligibility rules count days in.
// A number of a CDR without a request (another system's call, or one placed
// by `webcallback call` without --server) is counted under its E.164 form,
// read as the service reads a typed number (--region,
// --international-prefix), so one number has one stats row.
func (s *Settings) OpenStore(ctx context.Context) (*store.DB, error) {
	region, intl := s.Region, s.Policy.InternationalPrefix
	return store.OpenWith(ctx, s.DB, store.Options{Location: s.Location(), Create: s.DBCreate, NormalizeNumber: func(raw string) string {
		n, err := policy.ParseNumber(raw, region, intl)
		if err != nil {
			return ""
		}
		return n.E164
	}})
}

// Spool is the directory and the bound in bytes of the spool of writes the
// database refused: --spool-dir, else "<database file>.spool" beside a
// SQLite database (in the data directory, one per database), else
// data/spool/<instance>: a spool is one process's (it holds a lock), and
// several instances may share a host and a database (docs/scale-out.md);
// an instance restarted under its name finds its own.
func (s *Settings) Spool() (dir string, maxBytes int64) {
	dir = s.SpoolDir
	if dir == "" {
		dir = filepath.Join("data", "spool")
		if inst := s.Instance; inst != "" && inst != "." && inst != ".." {
			dir = filepath.Join(dir, inst) // validInstance: no separator
		}
		if path, ok := strings.CutPrefix(s.DB, "sqlite:"); ok {
			dir = strings.TrimPrefix(path, "//") + ".spool"
		}
	}
	return dir, int64(s.SpoolMaxMB) << 20
}
