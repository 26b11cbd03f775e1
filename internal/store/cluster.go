package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"webcallback/internal/callback"
)

// What several service instances sharing one database use to see each
// other (docs/scale-out.md): versions of requests (a watcher on another
// instance polls them), hang-up requests for the owning instance, instance
// leases, and on PostgreSQL notifications (LISTEN/NOTIFY) that wake the
// pollers as soon as a transaction commits.

// Notification channels ([DB.Listen]).
const (
	ChannelRequest = "wcb_request" // payload: the id of a request just updated
	ChannelHangup  = "wcb_hangup"  // payload: the instance asked to hang up a call
)

// Notifies reports whether the database delivers notifications
// ([DB.Listen]): PostgreSQL does; on the others, poll.
func (s *DB) Notifies() bool { return s.d.name == "postgres" }

// notifyTx sends a notification when tx commits (PostgreSQL; a no-op on the
// others).
func (s *DB) notifyTx(ctx context.Context, tx *sql.Tx, channel, payload string) error {
	if !s.Notifies() {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// ErrNoNotify is Listen's answer on a database without notifications.
var ErrNoNotify = errors.New("store: this database has no notifications; poll")

// Listen delivers the notifications of channels to fn, on a connection of
// its own, until ctx ends or the connection fails (the error says which;
// the caller listens again and re-reads what it may have missed).
func (s *DB) Listen(ctx context.Context, fn func(channel, payload string), channels ...string) error {
	if !s.Notifies() {
		return ErrNoNotify
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: listen: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		for _, ch := range channels {
			if _, err := pc.Exec(ctx, "LISTEN "+pgIdent(ch)); err != nil {
				return err
			}
		}
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				// The connection may be mid-wait: never reuse it.
				_ = pc.Close(context.Background())
				return err
			}
			fn(n.Channel, n.Payload)
		}
	})
	return fmt.Errorf("store: listen: %w", err)
}

// pgIdent quotes a channel name (ours are constants; quoting is cheap).
func pgIdent(s string) string { return `"` + s + `"` }

// RequestVersion identifies one stored state of a request: it changes with
// every UpdateRequest.
type RequestVersion struct {
	UpdatedMS int64
	HistoryN  int
}

// VersionOf is the version r was read at (GetRequest's result).
func VersionOf(r *callback.Request) RequestVersion {
	return RequestVersion{UpdatedMS: ms(r.UpdatedAt), HistoryN: len(r.History)}
}

// RequestVersions reads the versions of the requests ids (missing ones are
// absent): one indexed query, the poll of a watcher on another instance.
func (s *DB) RequestVersions(ctx context.Context, ids []string) (map[string]RequestVersion, error) {
	out := make(map[string]RequestVersion, len(ids))
	err := s.eachByID(ctx, "updated_ms, history_n", ids, func(rows *sql.Rows) error {
		var id string
		var v RequestVersion
		if err := rows.Scan(&id, &v.UpdatedMS, &v.HistoryN); err != nil {
			return err
		}
		out[id] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: request versions: %w", err)
	}
	return out, nil
}

// eachByID selects id and cols of the requests ids, in chunks within every
// backend's limits, and calls scan for each row (scan reads id first).
func (s *DB) eachByID(ctx context.Context, cols string, ids []string, scan func(rows *sql.Rows) error) error {
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, s.d.q("SELECT id, "+cols+" FROM callback_request WHERE id IN ("+placeholders(len(args))+")"), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Hangup is a hang-up asked of the instance that owns a call.
type Hangup struct {
	RequestID string
	By        callback.Reason // visitor or admin
	At        time.Time
}

// RequestHangup records that id's call is to be hung up by its owner (an
// admin's request outranks a visitor's) and wakes the owner (PostgreSQL).
func (s *DB) RequestHangup(ctx context.Context, h Hangup) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, s.d.q("SELECT instance FROM callback_request WHERE id = ?"), h.RequestID).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return errRequestNotFound
		}
		if err != nil {
			return err
		}
		var by string
		err = tx.QueryRowContext(ctx, s.d.q("SELECT by_reason FROM callback_hangup WHERE request_id = ?"+s.forUpdate()), h.RequestID).Scan(&by)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, s.d.q("INSERT INTO callback_hangup (request_id, by_reason, at_ms) VALUES (?, ?, ?)"),
				h.RequestID, clip(string(h.By), 20), ms(h.At))
		case err == nil && by != string(callback.ReasonAdmin):
			_, err = tx.ExecContext(ctx, s.d.q("UPDATE callback_hangup SET by_reason = ?, at_ms = ? WHERE request_id = ?"),
				clip(string(h.By), 20), ms(h.At), h.RequestID)
		}
		if err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, ChannelHangup, owner)
	})
	if err != nil {
		return fmt.Errorf("store: request hangup of %s: %w", h.RequestID, err)
	}
	return nil
}

// TakeHangups returns and deletes the hang-ups asked of instance's calls.
// Rows of requests already final are deleted too.
func (s *DB) TakeHangups(ctx context.Context, instance string) ([]Hangup, error) {
	var out []Hangup
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, s.d.q(`SELECT h.request_id, h.by_reason, h.at_ms FROM callback_hangup h
  JOIN callback_request r ON r.id = h.request_id WHERE r.instance = ?`), instance)
		if err != nil {
			return err
		}
		for rows.Next() {
			var h Hangup
			var by string
			var at int64
			if err := rows.Scan(&h.RequestID, &by, &at); err != nil {
				rows.Close()
				return err
			}
			h.By, h.At = callback.Reason(by), fromMs(at)
			out = append(out, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, h := range out {
			if _, err := tx.ExecContext(ctx, s.d.q("DELETE FROM callback_hangup WHERE request_id = ?"), h.RequestID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: take hangups of %s: %w", instance, err)
	}
	return out, nil
}

// RenewLease records that instance, connected to the PBX node, is alive
// until expires.
func (s *DB) RenewLease(ctx context.Context, instance, node string, expires time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("instance_lease", "instance")), clip(instance, 64)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.d.q("UPDATE instance_lease SET expires_ms = ?, node = ? WHERE instance = ?"), ms(expires), clip(node, 200), clip(instance, 64))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: renew lease of %s: %w", instance, err)
	}
	return nil
}

// ClaimOrphans reassigns to instance the unfinished requests placed on the
// PBX node (callback_request.node; for requests of versions before it, the
// dead instance's lease node) of instances whose lease expired before now
// (dead: killed, or cut off from the database), and returns them: only an
// instance connected to the call's node sees its channels and events; an
// instance on several nodes claims once per node. Row locks make each request claimed by one
// instance only, however many sweep at once. Requests without an instance
// yet (admitted, not yet handed to an engine) are left alone.
func (s *DB) ClaimOrphans(ctx context.Context, instance, node string, now time.Time) ([]*callback.Request, error) {
	cs, err := s.claimDead(ctx, instance, now, "(r.node = ? OR (r.node = '' AND l.node = ?))", clip(node, 200), clip(node, 200))
	if err != nil {
		return nil, fmt.Errorf("store: claim requests of dead instances: %w", err)
	}
	rs := make([]*callback.Request, len(cs))
	for i, c := range cs {
		rs[i] = c.Request
	}
	return rs, nil
}

// claimDead reassigns to instance, under row locks, the unfinished
// requests of instances whose lease expired before now that also match
// cond (on r = callback_request, l = instance_lease; args are its
// parameters), and returns them with their dead owner's lease expiry.
func (s *DB) claimDead(ctx context.Context, instance string, now time.Time, cond string, args ...any) ([]LostClaim, error) {
	var ids []any
	expired := map[string]time.Time{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ids = ids[:0]
		clear(expired)
		rows, err := tx.QueryContext(ctx, s.d.q(`SELECT r.id, l.expires_ms FROM callback_request r
  JOIN instance_lease l ON l.instance = r.instance
  WHERE r.state NOT IN `+finalStates+` AND r.instance <> ? AND l.expires_ms < ?
  AND `+cond+s.forUpdateOf("r")), append([]any{clip(instance, 64), ms(now)}, args...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var exp int64
			if err := rows.Scan(&id, &exp); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			expired[id] = fromMs(exp)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, s.d.q("UPDATE callback_request SET instance = ? WHERE id IN ("+placeholders(len(ids))+")"),
			append([]any{clip(instance, 64)}, ids...)...)
		return err
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	rs, err := s.queryRequests(ctx, "WHERE id IN ("+placeholders(len(ids))+")", ids)
	if err != nil {
		return nil, err
	}
	out := make([]LostClaim, len(rs))
	for i, r := range rs {
		out[i] = LostClaim{Request: r, LeaseExpired: expired[r.ID]}
	}
	return out, nil
}

// forUpdateOf locks the rows of one table of a join (PostgreSQL refuses a
// plain FOR UPDATE across an outer join; MySQL locks what it reads).
func (s *DB) forUpdateOf(table string) string {
	switch s.d.name {
	case "postgres":
		return " FOR UPDATE OF " + table
	case "mysql":
		return " FOR UPDATE"
	}
	return ""
}

// RequestOwners reads the owning instance of each of ids (missing ones are
// absent).
func (s *DB) RequestOwners(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	err := s.eachByID(ctx, "instance", ids, func(rows *sql.Rows) error {
		var id, inst string
		if err := rows.Scan(&id, &inst); err != nil {
			return err
		}
		out[id] = inst
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: request owners: %w", err)
	}
	return out, nil
}

// LostClaim is a request claimed from a dead instance, with the time its
// owner's lease ran out (one lease TTL after the owner's last renewal).
type LostClaim struct {
	Request      *callback.Request
	LeaseExpired time.Time
}

// ClaimLost reassigns to instance, whatever PBX node it is connected to,
// the unfinished requests last updated before stillBefore whose owner's
// lease expired before now, and returns them. The caller passes now - the
// longest call span - the lease TTL: a call's Originate is stored
// (calling_caller) before it is sent and every later change after, so a
// request not updated since then was sent longer ago than any call lasts,
// and can be alive on no PBX; when its node is gone too, no instance
// connected to it will ever claim it (ClaimOrphans). The caller finishes
// them without AMI. The same row locks as ClaimOrphans: each is claimed by
// one instance, once (its new owner's lease is alive).
func (s *DB) ClaimLost(ctx context.Context, instance string, stillBefore, now time.Time) ([]LostClaim, error) {
	cs, err := s.claimDead(ctx, instance, now, "r.updated_ms < ?", ms(stillBefore))
	if err != nil {
		return nil, fmt.Errorf("store: claim lost calls of dead instances: %w", err)
	}
	return cs, nil
}
