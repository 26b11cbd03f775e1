package spooled

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"webcallback/internal/callback"
)

// replay writes the spool to the database, first record first, until ctx
// ends: at once, whenever a write is spooled, and every second while
// records wait (the database may be back).
func (s *Store) replay(ctx context.Context) {
	defer close(s.done)
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	failures := 0 // of the first record, in a row
	for {
		err := s.replayOne(ctx, &failures)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			backoff = 100 * time.Millisecond
			if s.sp.Len() > 0 {
				continue
			}
			s.lastError.Store(nil)
			select { // wait for work
			case <-ctx.Done():
				return
			case <-s.kick:
			}
			continue
		}
		msg := err.Error()
		s.lastError.Store(&msg)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// replayOne writes the first spooled record, if any, and pops it.
func (s *Store) replayOne(ctx context.Context, failures *int) error {
	b, ok, err := s.sp.Peek()
	if err != nil || !ok {
		return err
	}
	var r record
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&r); err != nil {
		// Cannot be written ever: keep it aside rather than block the rest.
		return s.reject(b, "undecodable", err, failures)
	}
	// No caller waits on a replay: give a big batch on a slow database
	// the time it needs, so it is not taken for refused.
	actx, cancel := context.WithTimeout(ctx, max(12*s.cfg.AttemptTimeout, time.Minute))
	err = apply(actx, s.DB, &r)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, callback.ErrNotOwner) {
			// Another instance adopted the request while this write
			// waited: its writes win, this one is history.
			return s.drop(&r, err, failures)
		}
		s.dbErrors.Add(1)
		if permanent(err) {
			return s.reject(b, r.String(), err, failures) // no retry can cure it
		}
		*failures++
		if *failures < s.cfg.RejectAfter {
			return fmt.Errorf("replay %s: %w", &r, err)
		}
		// Refused again and again: is it the database or this record?
		pctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
		perr := s.DB.ProbeWrite(pctx)
		cancel()
		if perr != nil {
			return fmt.Errorf("replay %s: %w", &r, err) // the database: wait
		}
		return s.reject(b, r.String(), err, failures)
	}
	if err := s.pop(&s.replayed); err != nil {
		return err // written; written again (idempotently) after the retry
	}
	*failures = 0
	if s.sp.Len() == 0 {
		s.log.Info("the spool is empty: every write the database refused is stored now", "replayed", s.replayed.Load())
	}
	return nil
}

// pop takes the first record off the spool and counts it in n, as one
// step for Flush and Stats (popMu).
func (s *Store) pop(n *atomic.Uint64) error {
	s.popMu.Lock()
	defer s.popMu.Unlock()
	if err := s.sp.Pop(); err != nil {
		return err
	}
	n.Add(1)
	return nil
}

// waitingCounted is the number of spooled records, read when every record
// taken off is counted too.
func (s *Store) waitingCounted() int {
	s.popMu.Lock()
	defer s.popMu.Unlock()
	return s.sp.Len()
}

// drop pops the first record, which the fence refused.
func (s *Store) drop(r *record, cause error, failures *int) error {
	if err := s.pop(&s.fenced); err != nil {
		return err
	}
	*failures = 0
	s.log.Warn("dropped a spooled write: another instance owns the request now", "write", r.String(), "err", cause)
	return nil
}

// reject moves the first record, which the database keeps refusing while
// it takes other writes, to rejected/ and pops it.
func (s *Store) reject(b []byte, what string, cause error, failures *int) error {
	if err := s.rejected.Append(b); err != nil {
		return fmt.Errorf("keep a rejected write aside: %w", err)
	}
	if err := s.pop(&s.rejectedN); err != nil {
		return err
	}
	*failures = 0
	s.log.Error("the database takes writes but keeps refusing this spooled one; moved aside for a look",
		"write", what, "dir", s.rejected.Dir(), "err", cause)
	return nil
}

// Ready reports whether the database takes writes now and nothing waits
// in the spool: the service's /readyz. Spooled records mean the database
// refused writes a moment ago and has not taken them all back yet. Each
// call writes the probe row (one tiny transaction); concurrent calls take
// turns, so a burst of probes is not a burst of writes at once.
func (s *Store) Ready(ctx context.Context) error {
	if n := s.sp.Len(); n > 0 {
		why := "the database refuses writes"
		if p := s.lastError.Load(); p != nil {
			why = *p
		}
		full := ""
		if s.cfg.MaxBytes > 0 && s.sp.Bytes()*10 >= s.cfg.MaxBytes*9 {
			full = fmt.Sprintf(" (spool %d of %d bytes: nearly full)", s.sp.Bytes(), s.cfg.MaxBytes)
		}
		return fmt.Errorf("%d writes wait in the spool%s: %s", n, full, why)
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	return s.DB.ProbeWrite(pctx)
}

// Flush waits until every spooled write is in the database, or ctx ends:
// a graceful stop gives the replayer a moment this way.
func (s *Store) Flush(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.waitingCounted() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d writes still wait in the spool: %w", s.sp.Len(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
