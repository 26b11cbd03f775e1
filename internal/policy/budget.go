package policy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"webcallback/internal/callback"
)

// budget enforces Config.DailyMinutes. Billed seconds of finished calls come
// from the store (shared by every instance), refreshed at most every
// budgetRefresh; calls admitted here recently count in full until their CDR
// has surely arrived, so the budget errs on the safe side.
type budget struct {
	mu         sync.Mutex
	loc        *time.Location
	day        time.Time // start of the day usedSec belongs to
	usedSec    int
	refreshed  time.Time
	refreshing bool        // one request queries the store; the others use the last figure
	recent     []time.Time // reservations within the reservation window, oldest first
}

const (
	budgetRefresh = 30 * time.Second
	// reservations outlive the call limit by the ring times and CDR delay.
	budgetSlack = 10 * time.Minute
	// maxRecent bounds the reservation list; beyond it the oldest
	// reservations are merged into usedSec (still counted).
	maxRecent = 100000
)

// take reserves one call's worth of today's budget, or refuses with
// system_busy when it is spent. release gives the reservation back when
// the request is not admitted after all. Reserving at the check means
// concurrent requests cannot all pass it and overrun the budget together.
func (b *budget) take(ctx context.Context, g *Guard, now time.Time) (release func(), ref *Refusal, err error) {
	limit := g.cfg.DailyMinutes * 60
	if limit <= 0 {
		return func() {}, nil, nil
	}
	if err := b.refresh(ctx, g, now); err != nil {
		return nil, nil, err
	}
	per := int(g.cfg.CallLimit / time.Second)
	if sb := g.cfg.SharedBudget; sb != nil {
		return b.takeShared(ctx, g, sb, limit, per, now)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now, g.cfg.CallLimit)
	used := b.usedSec + len(b.recent)*per
	if used+per > limit {
		return nil, b.spent(g, now, used), nil
	}
	if len(b.recent) >= maxRecent {
		b.usedSec += per
		b.recent = b.recent[1:]
	}
	b.recent = append(b.recent, now)
	return func() { b.release(now) }, nil, nil
}

// SharedBudget keeps the reservations of every instance sharing it (the
// database of a scaled-out service, [*store.DB]): one budget for the whole
// service.
type SharedBudget interface {
	ReserveBudget(ctx context.Context, usedSec, perSec, limitSec int, keep time.Duration, now time.Time) (id string, used int, err error)
	ReleaseBudget(ctx context.Context, id string) error
}

// takeShared is take with the reservations in sb.
func (b *budget) takeShared(ctx context.Context, g *Guard, sb SharedBudget, limit, per int, now time.Time) (func(), *Refusal, error) {
	b.mu.Lock()
	used := b.usedSec
	b.mu.Unlock()
	id, used, err := sb.ReserveBudget(ctx, used, per, limit, g.cfg.CallLimit+budgetSlack, now)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: daily budget: %w", err)
	}
	if id == "" {
		return nil, b.spent(g, now, used), nil
	}
	return func() {
		if err := sb.ReleaseBudget(context.WithoutCancel(ctx), id); err != nil {
			g.log.Warn("giving back a budget reservation", "err", err)
		}
	}, nil, nil
}

// spent is the refusal once the budget is spent.
func (b *budget) spent(g *Guard, now time.Time, used int) *Refusal {
	next := startOfDay(now, b.loc).AddDate(0, 0, 1)
	return &Refusal{Code: callback.ReasonSystemBusy,
		RetryAfter: next.Sub(now), RetryAt: next,
		Detail: fmt.Sprintf("daily budget of %d minutes spent (%d s used or reserved)", g.cfg.DailyMinutes, used)}
}

// refresh reads today's billed seconds from the store when the figure is
// stale. The store is queried without the lock held, by one request at a
// time (others use the last figure), so a slow database does not queue
// every admission behind it.
func (b *budget) refresh(ctx context.Context, g *Guard, now time.Time) error {
	day := startOfDay(now, b.loc)
	b.mu.Lock()
	stale := !day.Equal(b.day) || now.Sub(b.refreshed) >= budgetRefresh || now.Before(b.refreshed)
	if !stale || (b.refreshing && !b.day.IsZero()) {
		b.mu.Unlock()
		return nil
	}
	b.refreshing = true
	b.mu.Unlock()
	used, err := billsecSince(ctx, g, day, now)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshing = false
	if err != nil {
		return err
	}
	b.day, b.usedSec, b.refreshed = day, used, now
	return nil
}

// release drops the reservation made at t.
func (b *budget) release(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.recent) - 1; i >= 0; i-- {
		if b.recent[i].Equal(t) {
			b.recent = append(b.recent[:i], b.recent[i+1:]...)
			return
		}
	}
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
