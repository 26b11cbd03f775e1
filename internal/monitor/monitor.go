package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"webcallback/ami"
	"webcallback/internal/store"
)

// Store is what the monitor needs of the database ([*store.DB] is one):
// batched, deduplicating CDR inserts, the saved position of a table
// source, and retention.
type Store interface {
	InsertCDRs(ctx context.Context, cs []*store.CDR) (inserted int, err error)
	CDRCursor(ctx context.Context, name string) (string, error)
	SetCDRCursor(ctx context.Context, name, value string) error
	Purge(ctx context.Context, before time.Time) (requests, cdrs int64, err error)
	// IngestPBXCDRs: the rows the PBX wrote into the own cdr table.
	IngestPBXCDRs(ctx context.Context, limit int) (ingested, duplicates int, pending bool, err error)
}

// Monitor feeds CDRs to the store. One Monitor runs one source.
type Monitor struct {
	st  Store
	log *slog.Logger

	// Location is the zone of the Asterisk server's clock, in which Cdr
	// StartTime and a cdr table's calldate are written. nil = UTC. Set it
	// before starting a source (the service passes --timezone).
	Location *time.Location
	// Overlap is how far back each table poll re-reads before the last
	// high-water mark: a CDR row appears at hangup but carries the call's
	// start, so rows of calls longer than Overlap that end after a poll
	// would be missed. Re-read rows are deduplicated by the store.
	// 0 = 2 hours.
	Overlap time.Duration
	// Batch caps how many CDRs go to the store in one transaction. 0 = 500.
	Batch int

	ingested, duplicates, invalid, failed, writeErrors atomic.Uint64

	wake chan struct{} // Wake: the PBX wrote rows into the own table
}

// Stats are the monitor's counters since New.
type Stats struct {
	Ingested   uint64 // new rows stored
	Duplicates uint64 // rows already stored (replays, table re-reads)
	Invalid    uint64 // Cdr events that could not be parsed
	Failed     uint64 // rows the store refused as invalid (no retry can store them)
	// WriteErrors counts failed writes to the store, each retry too.
	WriteErrors uint64
}

// New returns a monitor writing to st; logger nil = slog.Default().
func New(st Store, logger *slog.Logger) *Monitor {
	if logger == nil {
		logger = slog.Default()
	}
	return &Monitor{st: st, log: logger.With("component", "monitor"), wake: make(chan struct{}, 1)}
}

// Stats returns the counters.
func (m *Monitor) Stats() Stats {
	return Stats{Ingested: m.ingested.Load(), Duplicates: m.duplicates.Load(), Invalid: m.invalid.Load(), Failed: m.failed.Load(),
		WriteErrors: m.writeErrors.Load()}
}

func (m *Monitor) loc() *time.Location {
	if m.Location == nil {
		return time.UTC
	}
	return m.Location
}

func (m *Monitor) batch() int {
	if m.Batch <= 0 {
		return 500
	}
	return m.Batch
}

// ConsumeAMI stores every Cdr event of sub (an AMI subscription's channel)
// until ctx ends or sub is closed; other events are ignored. Events that
// are already waiting are stored together in one transaction.
//
// Closing sub is the graceful stop (drain on close): the events still
// buffered in sub are stored before ConsumeAMI returns nil, so a service
// that closes the subscription once its engine has stopped, and waits for
// ConsumeAMI, loses none of the CDRs it has received. Ending ctx is the
// hard stop: ConsumeAMI returns ctx.Err() at once, and what was buffered
// is not stored. Bound a drain by ending ctx after a grace period.
//
// This is the one path of Cdr events into the store: the engine
// (internal/callflow) ignores them.
func (m *Monitor) ConsumeAMI(ctx context.Context, sub <-chan *ami.Message) error {
	var pending []*store.CDR
	add := func(msg *ami.Message) {
		if msg == nil {
			return
		}
		switch msg.Event() {
		case "Cdr":
		case ami.EventDropped:
			// The subscription overflowed: Cdr events may be among those
			// lost. Say so; a "table" CDR source would not lose them.
			m.log.Warn("AMI events dropped; CDRs may be missing", "dropped", msg.Get("Dropped"))
			return
		default:
			return
		}
		c, err := ParseCDRIn(msg, m.loc())
		if err != nil {
			m.invalid.Add(1)
			m.log.Warn("ignoring a Cdr event", "err", err)
			return
		}
		pending = append(pending, c)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg, ok := <-sub:
			if !ok {
				return nil
			}
			add(msg)
			// Take what is already queued, without waiting, up to a batch.
		drain:
			for len(pending) < m.batch() {
				select {
				case msg, ok := <-sub:
					if !ok {
						break drain
					}
					add(msg)
				default:
					break drain
				}
			}
			if len(pending) > 0 {
				if err := m.store(ctx, pending); err != nil && ctx.Err() != nil {
					return ctx.Err()
				}
				pending = pending[:0]
			}
		}
	}
}

// store writes a batch. A store that fails is retried, with backoff, until
// it takes the batch or ctx ends: a CDR is never given up on (the service's
// store keeps what the database refuses in its spool, so a failure here is
// a spool that is full or broken, which /readyz reports). Only a row the
// store refuses as invalid (store.ErrInvalid: no uniqueid or calldate),
// which no retry can cure, is left out, counted and logged; its neighbours
// are stored row by row.
func (m *Monitor) store(ctx context.Context, cs []*store.CDR) error {
	const maxBackoff = 10 * time.Second
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		n, err := m.st.InsertCDRs(ctx, cs)
		switch {
		case err == nil:
			m.ingested.Add(uint64(n))
			m.duplicates.Add(uint64(len(cs) - n))
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, store.ErrInvalid) && len(cs) == 1:
			m.failed.Add(1)
			m.log.Error("CDR refused as invalid, left out", "uniqueid", cs[0].UniqueID, "calldate", cs[0].CallDate, "err", err)
			return nil
		case errors.Is(err, store.ErrInvalid):
			for _, c := range cs {
				if err := m.store(ctx, []*store.CDR{c}); err != nil {
					return err
				}
			}
			return nil
		}
		m.writeErrors.Add(1)
		if attempt == 1 || attempt%10 == 0 {
			m.log.Warn("storing CDRs failed; retrying until the store takes them", "rows", len(cs), "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// cursorLayout is how the table source's high-water mark is saved.
const cursorLayout = time.RFC3339

// PollTable reads the cdr table named by dsn (see store.OpenCDRTable: a
// --db style URL, "?table=name" to pick the table) every interval until
// ctx ends, and stores the rows it has not seen. The position survives
// restarts (store.CDRCursor); the first run reads the whole table, an hour
// of calldate at a time so memory stays bounded.
func (m *Monitor) PollTable(ctx context.Context, dsn string, interval time.Duration) error {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	src, err := store.OpenCDRTable(ctx, dsn, m.loc())
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	defer src.Close()
	m.log.Info("reading CDRs from a cdr table", "source", src.Name(), "interval", interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := m.PollOnce(ctx, src); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.log.Error("polling the cdr table failed; will retry", "source", src.Name(), "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// PollOnce reads what is new in src since the saved high-water mark (minus
// Overlap) and moves the mark to the time the read started.
func (m *Monitor) PollOnce(ctx context.Context, src *store.CDRTable) error {
	key := "table:" + src.Name()
	saved, err := m.st.CDRCursor(ctx, key)
	if err != nil {
		return err
	}
	started := time.Now()
	overlap := m.Overlap
	if overlap <= 0 {
		overlap = 2 * time.Hour
	}
	var from time.Time
	if saved != "" {
		hw, err := time.Parse(cursorLayout, saved)
		if err != nil {
			return fmt.Errorf("monitor: saved position %q of %s: %w", saved, src.Name(), err)
		}
		from = hw.Add(-overlap)
	} else {
		earliest, ok, err := src.Earliest(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil // empty table: nothing to remember yet
		}
		from = earliest
	}
	const window = time.Hour
	for w := from; ; w = w.Add(window) {
		last := !w.Add(window).Before(started.Add(window))
		to := w.Add(window)
		if last {
			to = time.Time{} // the open end: rows dated in the future too
		}
		if err := m.readWindow(ctx, src, w, to); err != nil {
			return err
		}
		if last {
			break
		}
	}
	return m.st.SetCDRCursor(ctx, key, started.UTC().Format(cursorLayout))
}

// readWindow stores the rows of [from, to), in batches. A window holding
// more rows than one read returns is read on from the last calldate seen
// (re-reading that second's rows, which the store deduplicates).
func (m *Monitor) readWindow(ctx context.Context, src *store.CDRTable, from, to time.Time) error {
	const page = 5000
	for {
		rows, err := src.Read(ctx, from, to, page)
		if err != nil {
			return err
		}
		for i := 0; i < len(rows); i += m.batch() {
			if err := m.store(ctx, rows[i:min(i+m.batch(), len(rows))]); err != nil {
				return err
			}
		}
		if len(rows) < page {
			return nil
		}
		next := rows[len(rows)-1].CallDate
		if !next.After(from) {
			return errors.New("monitor: more than one page of CDRs in one second; raise the page size")
		}
		from = next
	}
}

// Wake asks PollOwnTable to read now rather than at its next tick (the
// in-process sandbox PBX calls it after writing a row). Wakes coalesce.
func (m *Monitor) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// PollOwnTable ingests the rows the PBX writes into the store's own cdr
// table (--cdr-source table with no --cdr-table-db; store.IngestPBXCDRs)
// at start, every interval and on Wake, until ctx ends. The position is
// in the rows themselves (dedup NULL = not ingested), so a restart, a
// crash or a second instance neither skips nor doubles a row; rows written
// while the service was down are ingested at the next start.
func (m *Monitor) PollOwnTable(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	m.log.Info("ingesting the CDRs the PBX writes into the cdr table", "interval", interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := m.IngestOwnTable(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.log.Error("ingesting the cdr table failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-m.wake:
		}
	}
}

// IngestOwnTable ingests every row the PBX wrote that is not ingested yet.
func (m *Monitor) IngestOwnTable(ctx context.Context) error {
	for {
		n, dup, pending, err := m.st.IngestPBXCDRs(ctx, m.batch())
		if err != nil {
			return fmt.Errorf("monitor: %w", err)
		}
		m.ingested.Add(uint64(n))
		m.duplicates.Add(uint64(dup))
		if !pending {
			return nil
		}
	}
}
