package monitor

import (
	"context"
	"time"
)

// Retain deletes requests and CDRs older than keep (the --retention
// setting) now and then every interval, until ctx ends. keep <= 0 keeps
// everything and returns at once. The per-number table keeps what it
// counted: lifetime caps stay in force after the rows are gone.
func (m *Monitor) Retain(ctx context.Context, keep, interval time.Duration) error {
	if keep <= 0 {
		return nil
	}
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		before := time.Now().Add(-keep)
		if r, c, err := m.st.Purge(ctx, before); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.log.Error("retention purge failed; will retry", "err", err)
		} else if r > 0 || c > 0 {
			m.log.Info("retention purge", "before", before.UTC(), "requests", r, "cdrs", c)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
