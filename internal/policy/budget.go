package policy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"webcallback/internal/callback"
)

// budget enforces Config.DailyMinutes. Billed seconds of finished calls come
// from the store (shared by every instance), refreshed at most every
// budgetRefresh; calls admitted here recently count in full until their CDR
// has surely arrived, so the budget errs on the safe side.
type budget struct {
	mu        sync.Mutex
	loc       *time.Location
	day       time.Time // start of the day usedSec belongs to
	usedSec   int
	refreshed time.Time
	recent    []time.Time // admissions within the reservation window, oldest first
}

const (
	budgetRefresh = 30 * time.Second
	// reservations outlive the call limit by the ring times and CDR delay.
	budgetSlack = 10 * time.Minute
	// maxRecent bounds the reservation list; beyond it the oldest
	// reservations are merged into usedSec (still counted).
	maxRecent = 100000
)

// check refuses with system_busy when today's budget is spent.
func (b *budget) check(ctx context.Context, g *Guard, now time.Time) (*Refusal, error) {
	limit := g.cfg.DailyMinutes * 60
	if limit <= 0 {
		return nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	day := startOfDay(now, b.loc)
	if !day.Equal(b.day) || now.Sub(b.refreshed) >= budgetRefresh || now.Before(b.refreshed) {
		used, err := billsecSince(ctx, g, day, now)
		if err != nil {
			return nil, err
		}
		b.day, b.usedSec, b.refreshed = day, used, now
	}
	b.expire(now, g.cfg.CallLimit)
	used := b.usedSec + len(b.recent)*int(g.cfg.CallLimit/time.Second)
	if used+int(g.cfg.CallLimit/time.Second) <= limit {
		return nil, nil
	}
	next := day.AddDate(0, 0, 1)
	return &Refusal{Code: callback.ReasonSystemBusy, Status: http.StatusServiceUnavailable,
		RetryAfter: next.Sub(now), RetryAt: next,
		Detail: fmt.Sprintf("daily budget of %d minutes spent (%d s used or reserved)", g.cfg.DailyMinutes, used)}, nil
}

func (b *budget) reserve(now time.Time, callLimit time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.recent) >= maxRecent {
		b.usedSec += int(callLimit / time.Second)
		b.recent = b.recent[1:]
	}
	b.recent = append(b.recent, now)
}

func (b *budget) expire(now time.Time, callLimit time.Duration) {
	keep := callLimit + budgetSlack
	n := 0
	for n < len(b.recent) && now.Sub(b.recent[n]) > keep {
		n++
	}
	b.recent = b.recent[n:]
}

func billsecSince(ctx context.Context, g *Guard, day, now time.Time) (int, error) {
	hours, err := g.st.StatsByHour(ctx, day, now)
	if err != nil {
		return 0, fmt.Errorf("policy: daily budget: %w", err)
	}
	sum := 0
	for _, h := range hours {
		sum += h.Billsec
	}
	return sum, nil
}

func startOfDay(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}
