package httpguard

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// DefaultRefusalInterval is how often Refusals.Run writes its counts.
const DefaultRefusalInterval = time.Minute

// Refusals counts refused requests and connections by kind (an API error
// code such as "rate_limited", or RefusedConnsPerIP) and writes them as one
// log line per interval, not one per refusal: a flood of 40,000 requests
// must not become 40,000 log lines. Each refusal also goes to Hook (the
// /metrics counter). A nil *Refusals counts nothing. Kinds must come from a
// fixed set (they become metric labels).
type Refusals struct {
	log  *slog.Logger
	hook func(kind string)

	mu     sync.Mutex
	counts map[string]int64
	sample map[string]string // the first detail of each kind this interval
	since  time.Time
	now    func() time.Time
}

// NewRefusals returns a counter logging to logger (nil = slog.Default) and
// calling hook (nil = none) per refusal.
func NewRefusals(logger *slog.Logger, hook func(kind string)) *Refusals {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Refusals{log: logger.With("component", "refusals"), hook: hook,
		counts: map[string]int64{}, sample: map[string]string{}, now: time.Now}
	r.since = r.now()
	return r
}

// SetHook sets the per-refusal hook (for a metrics registry built after
// the counter). Call it before the counter is shared.
func (r *Refusals) SetHook(hook func(kind string)) {
	if r != nil {
		r.hook = hook
	}
}

// Add counts one refusal of kind.
func (r *Refusals) Add(kind string) { r.AddDetail(kind, "") }

// AddDetail counts one refusal of kind; the first detail of each kind in an
// interval goes into the log line as an example.
func (r *Refusals) AddDetail(kind, detail string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.counts[kind]++
	if _, ok := r.sample[kind]; !ok && detail != "" {
		r.sample[kind] = detail
	}
	r.mu.Unlock()
	if r.hook != nil {
		r.hook(kind)
	}
}

// Flush writes the counts since the last flush as one log line (none when
// nothing was refused) and starts a new interval. It returns the number of
// refusals written.
func (r *Refusals) Flush() int64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	counts, sample, since := r.counts, r.sample, r.since
	r.counts, r.sample, r.since = map[string]int64{}, map[string]string{}, r.now()
	r.mu.Unlock()
	var total int64
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		kinds = append(kinds, k)
		total += n
	}
	if total == 0 {
		return 0
	}
	sort.Strings(kinds)
	attrs := []any{"total", total, "interval", r.now().Sub(since).Round(time.Second).String()}
	for _, k := range kinds {
		attrs = append(attrs, k, counts[k])
		if d := sample[k]; d != "" {
			attrs = append(attrs, k+"_example", d)
		}
	}
	r.log.Info("requests refused", attrs...)
	return total
}

// Run flushes every interval (DefaultRefusalInterval when <= 0) until ctx
// is done, then once more.
func (r *Refusals) Run(ctx context.Context, interval time.Duration) {
	if r == nil {
		return
	}
	if interval <= 0 {
		interval = DefaultRefusalInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush()
			return
		case <-t.C:
			r.Flush()
		}
	}
}
