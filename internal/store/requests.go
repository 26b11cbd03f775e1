package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"webcallback/internal/callback"
)

// errRequestNotFound matches both ErrNotFound and callback.ErrNotFound.
var errRequestNotFound = fmt.Errorf("%w: %w", ErrNotFound, callback.ErrNotFound)

// finalStates is the SQL list of final states, for "not final" filters.
const finalStates = "('rejected', 'completed', 'failed', 'canceled')"

const requestCols = "id, caller, callee, state, reason, cause, prompt, created_ms, answered_ms, connected_ms, ended_ms, billsec, " +
	"caller_dial, callee_dial, lang, client_ip, instance, caller_channel, callee_channel, updated_ms, node"

// requestArgs are r's values in requestCols order (id first).
func requestArgs(r *callback.Request) []any {
	return []any{clip(r.ID, 64), clip(r.Caller, 32), clip(r.Callee, 32), string(r.State), clip(string(r.Reason), 40), r.Cause,
		clip(string(r.Prompt), 20), ms(r.CreatedAt), msPtr(r.AnsweredAt), msPtr(r.ConnectedAt), msPtr(r.EndedAt), r.Billsec,
		clip(r.CallerDial, 32), clip(r.CalleeDial, 32), clip(r.Lang, 8), clip(r.ClientIP, 64), clip(r.Instance, 64),
		clip(r.CallerChannel, 80), clip(r.CalleeChannel, 80), ms(r.UpdatedAt), clip(r.Node, 200)}
}

func checkRequest(r *callback.Request) error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil request", ErrInvalid)
	case r.ID == "" || len(r.ID) > 64:
		return fmt.Errorf("%w: request id %q: want 1-64 characters", ErrInvalid, r.ID)
	case r.Caller == "" || r.Callee == "" || len(r.Caller) > 32 || len(r.Callee) > 32:
		return fmt.Errorf("%w: request %s: caller and callee are required, at most 32 characters", ErrInvalid, r.ID)
	case !r.State.Valid():
		return fmt.Errorf("%w: request %s: invalid state %q", ErrInvalid, r.ID, r.State)
	}
	return nil
}

// Admit is the reservation: under a row lock per number (caller and callee,
// always taken in sorted order so two Admits cannot deadlock) it reads the
// overrides and the counters, decides, and inserts r in the same
// transaction. The lock rows live in number_lock, so the mutual exclusion
// holds across processes sharing one MySQL/PostgreSQL database; on SQLite
// every transaction holds the database write lock from BEGIN (IMMEDIATE).
func (s *DB) Admit(ctx context.Context, r *callback.Request, rules *Rules, now time.Time) (Decision, error) {
	if r != nil && r.State == "" {
		r.State = callback.StateQueued
	}
	if err := checkRequest(r); err != nil {
		return Decision{}, err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	if len(r.History) == 0 {
		r.History = []callback.Transition{{State: r.State, At: r.CreatedAt}}
	}
	var dec Decision
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		nums := []string{r.Caller, r.Callee}
		if nums[1] < nums[0] {
			nums[0], nums[1] = nums[1], nums[0]
		}
		if nums[0] == nums[1] {
			nums = nums[:1]
		}
		for _, n := range nums {
			if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("number_lock", "number")), n); err != nil {
				return fmt.Errorf("lock number: %w", err)
			}
		}
		var err error
		if dec, err = s.decide(ctx, tx, r, rules, now); err != nil || !dec.Allowed {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO callback_request ("+requestCols+", history_n) VALUES ("+placeholders(22)+")"),
			append(requestArgs(r), len(r.History))...); err != nil {
			return fmt.Errorf("insert request: %w", err)
		}
		return s.insertHistory(ctx, tx, r.ID, r.History, 0)
	})
	if err != nil {
		return Decision{}, fmt.Errorf("store: admit %s: %w", r.ID, err)
	}
	return dec, nil
}

func (s *DB) insertHistory(ctx context.Context, tx *sql.Tx, id string, h []callback.Transition, from int) error {
	for i := from; i < len(h); i++ {
		if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO callback_transition (request_id, seq, state, at_ms) VALUES (?, ?, ?, ?)"),
			id, i, clip(string(h[i].State), 20), ms(h[i].At)); err != nil {
			return fmt.Errorf("insert transition %d: %w", i, err)
		}
	}
	return nil
}

// UpdateRequest writes r's fields and the transitions of r.History beyond
// those already stored (history_n).
func (s *DB) UpdateRequest(ctx context.Context, r *callback.Request) error {
	if err := checkRequest(r); err != nil {
		return err
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var stored int
		var storedState, storedReason, owner string
		err := tx.QueryRowContext(ctx, s.d.q("SELECT history_n, state, reason, instance FROM callback_request WHERE id = ?"+s.forUpdate()), r.ID).
			Scan(&stored, &storedState, &storedReason, &owner)
		if errors.Is(err, sql.ErrNoRows) {
			return errRequestNotFound
		}
		if err != nil {
			return err
		}
		if owner != "" && r.Instance != "" && owner != r.Instance {
			// Adopted by another instance (ClaimOrphans) while the writer
			// was taken for dead: its late writes must not undo that.
			return fmt.Errorf("%w: %q, not %q", callback.ErrNotOwner, owner, r.Instance)
		}
		args := requestArgs(r)[1:]
		args = append(args, max(stored, len(r.History)), r.ID)
		if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE callback_request SET caller = ?, callee = ?, state = ?, reason = ?, cause = ?,
  prompt = ?, created_ms = ?, answered_ms = ?, connected_ms = ?, ended_ms = ?, billsec = ?, caller_dial = ?, callee_dial = ?,
  lang = ?, client_ip = ?, instance = ?, caller_channel = ?, callee_channel = ?, updated_ms = ?, node = ?, history_n = ? WHERE id = ?`), args...); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		// The callee pressed 9: on the do-not-call list in the same
		// transaction as the outcome, once (a later rewrite of the same
		// request must not undo an admin's removal).
		was := &callback.Request{State: callback.State(storedState), Reason: callback.Reason(storedReason)}
		if optedOut(r) && !optedOut(was) {
			if err := s.addDoNotCallTx(ctx, tx, DoNotCall{Number: r.Callee, RequestID: r.ID, CreatedAt: r.UpdatedAt}); err != nil {
				return err
			}
		}
		if err := s.insertHistory(ctx, tx, r.ID, r.History, stored); err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, ChannelRequest, r.ID) // watchers on other instances
	})
	if err != nil {
		return fmt.Errorf("store: update request %s: %w", r.ID, err)
	}
	return nil
}

// forUpdate is the row-lock suffix of a SELECT (none on SQLite, whose
// transactions already hold the write lock).
func (s *DB) forUpdate() string {
	if s.d.name == "sqlite" {
		return ""
	}
	return " FOR UPDATE"
}

// GetRequest reads one request and its history; ErrNotFound (wrapping
// callback.ErrNotFound) if there is none.
func (s *DB) GetRequest(ctx context.Context, id string) (*callback.Request, error) {
	rs, err := s.queryRequests(ctx, "WHERE id = ?", []any{id})
	if err != nil {
		return nil, fmt.Errorf("store: get request %s: %w", id, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("store: get request %s: %w", id, errRequestNotFound)
	}
	return rs[0], nil
}

// ListRequests lists the requests f selects, newest first.
func (s *DB) ListRequests(ctx context.Context, f RequestFilter) ([]*callback.Request, error) {
	var where []string
	var args []any
	if f.Number != "" {
		where = append(where, "(caller = ? OR callee = ?)")
		args = append(args, f.Number, f.Number)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if !f.From.IsZero() {
		where = append(where, "created_ms >= ?")
		args = append(args, ms(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "created_ms < ?")
		args = append(args, ms(f.To))
	}
	q := ""
	if len(where) > 0 {
		q = "WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY created_ms DESC, id LIMIT %d OFFSET %d", clampLimit(f.Limit, 100, 10000), max(f.Offset, 0))
	rs, err := s.queryRequests(ctx, q, args)
	if err != nil {
		return nil, fmt.Errorf("store: list requests: %w", err)
	}
	return rs, nil
}

// UnfinishedRequests lists the requests not in a final state (all
// instances when instance is "").
func (s *DB) UnfinishedRequests(ctx context.Context, instance string) ([]*callback.Request, error) {
	q, args := "WHERE state NOT IN "+finalStates, []any{}
	if instance != "" {
		q += " AND instance = ?"
		args = append(args, instance)
	}
	rs, err := s.queryRequests(ctx, q+" ORDER BY created_ms, id", args)
	if err != nil {
		return nil, fmt.Errorf("store: unfinished requests: %w", err)
	}
	return rs, nil
}

// queryRequests selects requests with a WHERE/ORDER tail, then their
// histories in one more query.
func (s *DB) queryRequests(ctx context.Context, tail string, args []any) ([]*callback.Request, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q("SELECT "+requestCols+" FROM callback_request "+tail), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*callback.Request
	byID := map[string]*callback.Request{}
	for rows.Next() {
		r := &callback.Request{}
		var state, reason, prompt string
		var created, updated int64
		var answered, connected, ended sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Caller, &r.Callee, &state, &reason, &r.Cause, &prompt, &created, &answered, &connected, &ended,
			&r.Billsec, &r.CallerDial, &r.CalleeDial, &r.Lang, &r.ClientIP, &r.Instance, &r.CallerChannel, &r.CalleeChannel, &updated, &r.Node); err != nil {
			return nil, err
		}
		r.State, r.Reason, r.Prompt = callback.State(state), callback.Reason(reason), callback.Prompt(prompt)
		r.CreatedAt, r.UpdatedAt = fromMs(created), fromMs(updated)
		r.AnsweredAt, r.ConnectedAt, r.EndedAt = fromNullMs(answered), fromNullMs(connected), fromNullMs(ended)
		out = append(out, r)
		byID[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// Histories, in chunks to keep the IN list within every backend's limits.
	for start := 0; start < len(out); start += 500 {
		chunk := out[start:min(start+500, len(out))]
		ids := make([]any, len(chunk))
		for i, r := range chunk {
			ids[i] = r.ID
		}
		hr, err := s.db.QueryContext(ctx, s.d.q("SELECT request_id, state, at_ms FROM callback_transition WHERE request_id IN ("+
			placeholders(len(ids))+") ORDER BY request_id, seq"), ids...)
		if err != nil {
			return nil, err
		}
		for hr.Next() {
			var id, state string
			var at int64
			if err := hr.Scan(&id, &state, &at); err != nil {
				hr.Close()
				return nil, err
			}
			if r := byID[id]; r != nil {
				r.History = append(r.History, callback.Transition{State: callback.State(state), At: fromMs(at)})
			}
		}
		hr.Close()
		if err := hr.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
