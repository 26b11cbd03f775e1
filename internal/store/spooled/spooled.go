// Package spooled keeps the service's writes through database outages. It
// wraps a *store.DB (its methods are the wrapper's, so the wrapper meets
// every consumer's Store interface): a write the database refuses (down, locked,
// read-only, revoked, out of disk) is appended to an on-disk spool
// (internal/spool: fsynced, bounded) and the caller goes on as if it were
// stored; a replayer writes the spool to the database, in order, once the
// database takes writes again. While records wait, new writes queue behind
// them, so the database sees every write in the order the service made it.
//
// Exactly once: every spooled write is idempotent in the store (a request
// update rewrites the row and adds only the transitions beyond the stored
// count; a CDR is deduplicated by uniqueid and sequence; an audit entry
// carries a key; the CDR cursor is an upsert), so a record written but not
// yet popped when the process died is written again harmlessly.
//
// Spooled: UpdateRequest (state and transitions), InsertCDR(s), AddAudit,
// SetCDRCursor. Not spooled, by design: Admit (its quota check needs the
// database: a new request is refused with system_busy while the database
// refuses writes, the visitor is told and nothing is lost), overrides
// (an operator at the admin page sees the error and retries), migrations,
// rebuilds and purges; nor the scale-out decisions (leases, hang-up
// requests, capacity slots, shared rate limits, the daily budget), which
// app hands the *store.DB itself. A write the fence refuses
// (callback.ErrNotOwner) is returned, or dropped on replay, never kept.
// Reads go to the database and do not see records still in the spool.
package spooled

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/spool"
	"webcallback/internal/store"
)

// Defaults of Config.
const (
	DefaultAttemptTimeout = 5 * time.Second
	DefaultRejectAfter    = 5
)

// Config tunes a Store.
type Config struct {
	// Dir holds the spool (spool/) and the records the database rejected
	// for good (rejected/).
	Dir string
	// MaxBytes bounds the spool; beyond it writes fail with spool.ErrFull.
	MaxBytes int64
	// AttemptTimeout bounds one direct write: a database that hangs (a
	// held lock) counts as refusing after this long. 0 = 5 s.
	AttemptTimeout time.Duration
	// RejectAfter is how many times the first record may fail while the
	// database takes other writes (ProbeWrite succeeds) before it is moved
	// aside to rejected/, so one bad record cannot hold up the rest. 0 = 5.
	RejectAfter int
	Logger      *slog.Logger
}

// Stats are the counters since Open.
type Stats struct {
	Spooled  uint64 // writes the database refused, kept in the spool
	Replayed uint64 // spooled writes stored by the replayer
	Rejected uint64 // spooled writes the database refused for good (in rejected/)
	Fenced   uint64 // spooled request updates dropped: another instance owns the request now
	DBErrors uint64 // writes the database refused or timed out, direct attempts and replays
	Waiting  int    // spooled writes not yet in the database
}

// Store is a store.DB whose writes survive database outages.
type Store struct {
	*store.DB
	cfg      Config
	log      *slog.Logger
	sp       *spool.Spool
	rejected *spool.Spool

	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}

	spooled, replayed, rejectedN, fenced, dbErrors atomic.Uint64
	// popMu makes taking the first record off the spool and counting it
	// (replayed, rejected or fenced) one step for Flush and Stats: who
	// sees the spool empty sees every record counted.
	popMu sync.Mutex

	probeMu   sync.Mutex
	lastError atomic.Pointer[string] // why the replayer is stuck
}

// Open wraps st, opening the spool in cfg.Dir, and starts the replayer,
// which at once replays what a previous run left in the spool. Close stops
// it and closes st.
func Open(st *store.DB, cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("spooled: no spool directory")
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.RejectAfter <= 0 {
		cfg.RejectAfter = DefaultRejectAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sp, err := spool.Open(filepath.Join(cfg.Dir, "spool"), cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	rej, err := spool.Open(filepath.Join(cfg.Dir, "rejected"), 0)
	if err != nil {
		sp.Close()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Store{DB: st, cfg: cfg, log: cfg.Logger.With("component", "spool"), sp: sp, rejected: rej,
		kick: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	if n := sp.Len(); n > 0 {
		s.log.Warn("replaying writes a previous run spooled while the database refused them", "records", n, "dir", sp.Dir())
	}
	if n := rej.Len(); n > 0 {
		s.log.Error("the database rejected spooled writes for good; they are kept for a look", "records", n, "dir", rej.Dir())
	}
	go s.replay(ctx)
	return s, nil
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	s.popMu.Lock()
	defer s.popMu.Unlock()
	return Stats{Spooled: s.spooled.Load(), Replayed: s.replayed.Load(), Rejected: s.rejectedN.Load(),
		Fenced: s.fenced.Load(), DBErrors: s.dbErrors.Load(), Waiting: s.sp.Len()}
}

// Waiting is the number of spooled writes not yet in the database.
func (s *Store) Waiting() int { return s.sp.Len() }

// Close stops the replayer and closes the wrapped store; the records
// waiting stay on disk for the next start.
func (s *Store) Close() error {
	s.stop()
	<-s.done
	return errors.Join(s.sp.Close(), s.rejected.Close(), s.DB.Close())
}

// record is one spooled write. gob, not JSON: it carries every exported
// field, including those the API's JSON hides (callback.Request's dial
// strings, channels, instance).
type record struct {
	Op       string
	Request  *callback.Request
	CDRs     []*store.CDR
	Audit    *store.AuditEntry
	Cursor   [2]string
	QueuedAt time.Time
}

const (
	opRequest = "request"
	opCDRs    = "cdrs"
	opAudit   = "audit"
	opCursor  = "cursor"
)

func (r *record) String() string {
	switch r.Op {
	case opRequest:
		return fmt.Sprintf("request %s (%s)", r.Request.ID, r.Request.State)
	case opCDRs:
		return fmt.Sprintf("%d CDRs", len(r.CDRs))
	case opAudit:
		return fmt.Sprintf("audit %s %s", r.Audit.Action, r.Audit.Target)
	}
	return r.Op + " " + r.Cursor[0]
}

// apply writes r to st.
func apply(ctx context.Context, st *store.DB, r *record) error {
	switch r.Op {
	case opRequest:
		return st.UpdateRequest(ctx, r.Request)
	case opCDRs:
		_, err := st.InsertCDRs(ctx, r.CDRs)
		return err
	case opAudit:
		return st.AddAudit(ctx, *r.Audit)
	case opCursor:
		return st.SetCDRCursor(ctx, r.Cursor[0], r.Cursor[1])
	}
	return fmt.Errorf("spooled: unknown record %q", r.Op)
}

// permanent reports whether the database refused a write for good:
// writing it again cannot cure it (the row is not there, the value is
// invalid), or it must not be written at all (callback.ErrNotOwner: the
// fence of a request another instance adopted; its writes win).
func permanent(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) || errors.Is(err, callback.ErrNotOwner)
}

// write runs direct (the write on the database) when nothing waits in the
// spool, else (or when the database refuses it) appends r to the spool.
// Permanent refusals (see permanent) are returned as they are, never
// spooled.
func (s *Store) write(ctx context.Context, r *record, direct func(context.Context) error) error {
	if s.sp.Len() == 0 {
		// The caller's cancellation does not abort a write it asked for;
		// the attempt has a bound of its own.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.AttemptTimeout)
		err := direct(actx)
		cancel()
		if err == nil || permanent(err) {
			return err
		}
		s.dbErrors.Add(1)
		s.log.Warn("the database refused a write; keeping it in the spool until it takes writes again", "write", r.String(), "err", err)
	}
	// Encoded now: the caller may change what r points to once we return.
	r.QueuedAt = time.Now()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(r); err != nil {
		return fmt.Errorf("spooled: encode %s: %w", r, err)
	}
	if err := s.sp.Append(buf.Bytes()); err != nil {
		s.log.Error("the database refuses writes and the spool cannot take this one", "write", r.String(), "err", err)
		return fmt.Errorf("the database refuses writes and the spool in %s cannot keep this one: %w", s.sp.Dir(), err)
	}
	s.spooled.Add(1)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// UpdateRequest is store.DB's, kept through outages.
func (s *Store) UpdateRequest(ctx context.Context, r *callback.Request) error {
	if r == nil {
		return s.DB.UpdateRequest(ctx, r) // the store's own error
	}
	return s.write(ctx, &record{Op: opRequest, Request: r}, func(ctx context.Context) error {
		return s.DB.UpdateRequest(ctx, r)
	})
}

// InsertCDR is store.DB's, kept through outages; inserted is false
// when the row went to the spool.
func (s *Store) InsertCDR(ctx context.Context, c *store.CDR) (bool, error) {
	n, err := s.InsertCDRs(ctx, []*store.CDR{c})
	return n == 1, err
}

// InsertCDRs is store.DB's, kept through outages; inserted is 0 when
// the batch went to the spool (the replayer stores it later).
func (s *Store) InsertCDRs(ctx context.Context, cs []*store.CDR) (inserted int, err error) {
	err = s.write(ctx, &record{Op: opCDRs, CDRs: cs}, func(ctx context.Context) (err error) {
		inserted, err = s.DB.InsertCDRs(ctx, cs)
		return err
	})
	return inserted, err
}

// AddAudit is store.DB's, kept through outages. The entry gets a key
// (if it has none) before the first attempt, so an attempt that timed out
// but committed and its replay are one entry.
func (s *Store) AddAudit(ctx context.Context, e store.AuditEntry) error {
	if e.Key == "" {
		e.Key = newKey()
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	return s.write(ctx, &record{Op: opAudit, Audit: &e}, func(ctx context.Context) error {
		return s.DB.AddAudit(ctx, e)
	})
}

// SetCDRCursor is store.DB's, kept through outages, in order with the
// CDRs it follows.
func (s *Store) SetCDRCursor(ctx context.Context, name, value string) error {
	return s.write(ctx, &record{Op: opCursor, Cursor: [2]string{name, value}}, func(ctx context.Context) error {
		return s.DB.SetCDRCursor(ctx, name, value)
	})
}

func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
