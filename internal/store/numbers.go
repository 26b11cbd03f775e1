package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// numberStatsSelect reads a number's totals, today's counters and override.
// The day parameter comes first, then the WHERE arguments.
const numberStatsSelect = `SELECT s.number, s.calls, s.answered, s.billsec, s.last_call_ms,
  COALESCE(d.calls, 0), COALESCE(d.answered, 0), COALESCE(d.billsec, 0), COALESCE(o.kind, '')
FROM number_stats s
LEFT JOIN number_daily d ON d.number = s.number AND d.day = ?
LEFT JOIN number_override o ON o.number = s.number `

func scanNumberStats(sc interface{ Scan(...any) error }) (NumberStats, error) {
	var n NumberStats
	var last int64
	var kind string
	if err := sc.Scan(&n.Number, &n.Calls, &n.Answered, &n.Billsec, &last, &n.TodayCalls, &n.TodayAnswered, &n.TodayBillsec, &kind); err != nil {
		return n, err
	}
	if last > 0 {
		t := fromMs(last)
		n.LastCallAt = &t
	}
	n.Blocked, n.Allowed = kind == string(OverrideBlock), kind == string(OverrideAllow)
	return n, nil
}

// NumberStats returns a number's statistics, "today" being now's day in
// Options.Location. A number never seen has zero counters (not an error).
func (s *DB) NumberStats(ctx context.Context, number string, now time.Time) (*NumberStats, error) {
	n, err := scanNumberStats(s.db.QueryRowContext(ctx, s.d.q(numberStatsSelect+"WHERE s.number = ?"), dayKey(now, s.loc), number))
	if errors.Is(err, sql.ErrNoRows) {
		n = NumberStats{Number: number}
		var kind string
		err = s.db.QueryRowContext(ctx, s.d.q("SELECT kind FROM number_override WHERE number = ?"), number).Scan(&kind)
		if err == nil || errors.Is(err, sql.ErrNoRows) {
			n.Blocked, n.Allowed, err = kind == string(OverrideBlock), kind == string(OverrideAllow), nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: number stats %s: %w", number, err)
	}
	return &n, nil
}

// ListNumberStats lists the per-number table, most recent caller first.
func (s *DB) ListNumberStats(ctx context.Context, limit, offset int) ([]NumberStats, error) {
	q := fmt.Sprintf("ORDER BY s.last_call_ms DESC, s.number LIMIT %d OFFSET %d", clampLimit(limit, 100, 100000), max(offset, 0))
	rows, err := s.db.QueryContext(ctx, s.d.q(numberStatsSelect+q), dayKey(time.Now(), s.loc))
	if err != nil {
		return nil, fmt.Errorf("store: list number stats: %w", err)
	}
	defer rows.Close()
	var out []NumberStats
	for rows.Next() {
		n, err := scanNumberStats(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list number stats: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list number stats: %w", err)
	}
	return out, nil
}

// SetOverride records a manual block or allow of o.Number, replacing any.
func (s *DB) SetOverride(ctx context.Context, o Override) error {
	if o.Kind != OverrideBlock && o.Kind != OverrideAllow {
		return fmt.Errorf("store: override kind %q: want block or allow", o.Kind)
	}
	if o.Number == "" || len(o.Number) > 80 {
		return fmt.Errorf("store: override number %q: want 1-80 characters", o.Number)
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.q("DELETE FROM number_override WHERE number = ?"), o.Number); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.d.q("INSERT INTO number_override (number, kind, note, created_by, created_ms) VALUES (?, ?, ?, ?, ?)"),
			o.Number, string(o.Kind), clip(o.Note, 255), clip(o.By, 120), ms(o.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set override %s: %w", o.Number, err)
	}
	return nil
}

// DeleteOverride removes the manual entry of number.
func (s *DB) DeleteOverride(ctx context.Context, number string) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM number_override WHERE number = ?"), number)
	if err != nil {
		return fmt.Errorf("store: delete override %s: %w", number, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delete override %s: %w", number, ErrNotFound)
	}
	return nil
}

// ListOverrides lists the manual block/allow entries.
func (s *DB) ListOverrides(ctx context.Context) ([]Override, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT number, kind, note, created_by, created_ms FROM number_override ORDER BY created_ms DESC, number")
	if err != nil {
		return nil, fmt.Errorf("store: list overrides: %w", err)
	}
	defer rows.Close()
	var out []Override
	for rows.Next() {
		var o Override
		var kind string
		var at int64
		if err := rows.Scan(&o.Number, &kind, &o.Note, &o.By, &at); err != nil {
			return nil, fmt.Errorf("store: list overrides: %w", err)
		}
		o.Kind, o.CreatedAt = OverrideKind(kind), fromMs(at)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list overrides: %w", err)
	}
	return out, nil
}

// AddAudit records one admin action (httpguard.AuditSink).
func (s *DB) AddAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if err := s.checkFile(); err != nil {
		return err
	}
	var key any // NULL: entries without a key never conflict
	if e.Key != "" {
		key = clip(e.Key, 64)
	}
	_, err := s.db.ExecContext(ctx, s.d.q(s.d.insertIgnore("audit_log",
		[]string{"at_ms", "actor", "action", "target", "detail", "entry_key"}, "entry_key")),
		ms(e.At), clip(e.Actor, 120), clip(e.Action, 60), clip(e.Target, 120), clip(e.Detail, 4000), key)
	if err != nil {
		return fmt.Errorf("store: add audit: %w", err)
	}
	return nil
}

// ListAudit lists the newest admin actions, at most limit.
func (s *DB) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT at_ms, actor, action, target, detail FROM audit_log ORDER BY at_ms DESC, id DESC LIMIT %d",
		clampLimit(limit, 100, 10000)))
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		e.At = fromMs(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return out, nil
}

// StatsByHour buckets the requests created in [from, to) by hour (UTC hour
// boundaries), every hour of the range present, at most 31 days of them.
func (s *DB) StatsByHour(ctx context.Context, from, to time.Time) ([]HourStats, error) {
	from, to = from.UTC().Truncate(time.Hour), to.UTC()
	if !to.After(from) {
		return nil, nil
	}
	if to.Sub(from) > 31*24*time.Hour {
		from = to.Add(-31 * 24 * time.Hour).Truncate(time.Hour)
	}
	b := s.d.hourBucket("created_ms")
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT `+b+`, state, reason, COUNT(*),
  SUM(CASE WHEN connected_ms IS NOT NULL THEN 1 ELSE 0 END), SUM(billsec)
FROM callback_request WHERE created_ms >= ? AND created_ms < ? GROUP BY `+b+`, state, reason`), ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("store: stats by hour: %w", err)
	}
	defer rows.Close()
	byHour := map[int64]*HourStats{}
	var out []HourStats
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		out = append(out, HourStats{Hour: h, ByReason: map[string]int{}})
	}
	for i := range out {
		byHour[out[i].Hour.UnixMilli()/3600000] = &out[i]
	}
	for rows.Next() {
		var hour, n, conn, bill int64
		var state, reason string
		if err := rows.Scan(&hour, &state, &reason, &n, &conn, &bill); err != nil {
			return nil, fmt.Errorf("store: stats by hour: %w", err)
		}
		h := byHour[hour]
		if h == nil {
			continue
		}
		h.Requests += int(n)
		h.Connected += int(conn)
		h.Billsec += int(bill)
		if state == "failed" {
			h.Failed += int(n)
		}
		if reason != "" {
			h.ByReason[reason] += int(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: stats by hour: %w", err)
	}
	return out, nil
}

// Purge deletes final requests created and CDRs started before before. The
// per-number table keeps what it counted (lifetime totals); a later
// rebuild can only count the CDRs still kept.
func (s *DB) Purge(ctx context.Context, before time.Time) (requests, cdrs int64, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		cut := ms(before)
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM callback_transition WHERE request_id IN
  (SELECT id FROM callback_request WHERE created_ms < ? AND state IN `+finalStates+`)`), cut); err != nil {
			return fmt.Errorf("transitions: %w", err)
		}
		res, err := tx.ExecContext(ctx, s.d.q("DELETE FROM callback_request WHERE created_ms < ? AND state IN "+finalStates), cut)
		if err != nil {
			return fmt.Errorf("requests: %w", err)
		}
		requests, _ = res.RowsAffected()
		if res, err = tx.ExecContext(ctx, s.d.q("DELETE FROM cdr WHERE calldate < ?"), s.calldateArg(before)); err != nil {
			return fmt.Errorf("cdrs: %w", err)
		}
		cdrs, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: purge: %w", err)
	}
	return requests, cdrs, nil
}

// SearchCDRs returns the matching rows, newest first, and their total.
func (s *DB) SearchCDRs(ctx context.Context, f CDRFilter) ([]CDR, int, error) {
	var where []string
	var args []any
	if f.Number != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.Number) + "%"
		esc := ` ESCAPE '\'`
		if s.d.name == "mysql" {
			esc = ` ESCAPE '\\'` // backslash is an escape in MySQL string literals
		}
		where = append(where, "(src LIKE ?"+esc+" OR dst LIKE ?"+esc+" OR clid LIKE ?"+esc+")")
		args = append(args, like, like, like)
	}
	if f.Disposition != "" {
		where = append(where, "disposition = ?")
		args = append(args, f.Disposition)
	}
	if f.RequestID != "" {
		where = append(where, "request_id = ?")
		args = append(args, f.RequestID)
	}
	if !f.From.IsZero() {
		where = append(where, "calldate >= ?")
		args = append(args, s.calldateArg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "calldate < ?")
		args = append(args, s.calldateArg(f.To))
	}
	w := ""
	if len(where) > 0 {
		w = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM cdr"+w), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: search cdrs: %w", err)
	}
	q := fmt.Sprintf("SELECT %s FROM cdr%s ORDER BY calldate DESC, id DESC LIMIT %d OFFSET %d",
		strings.Join(cdrCols[:20], ", ")+", talksec", w, clampLimit(f.Limit, 100, 100000), max(f.Offset, 0))
	rows, err := s.db.QueryContext(ctx, s.d.q(q), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: search cdrs: %w", err)
	}
	defer rows.Close()
	out, err := s.scanCDRs(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("store: search cdrs: %w", err)
	}
	return out, total, nil
}

// scanCDRs reads rows of cdrCols[:20] (the columns through request_id) and talksec.
func (s *DB) scanCDRs(rows *sql.Rows) ([]CDR, error) {
	var out []CDR
	for rows.Next() {
		var c CDR
		var cd any
		var talk sql.NullInt64
		if err := rows.Scan(&cd, &c.CLID, &c.Src, &c.Dst, &c.DContext, &c.Channel, &c.DstChannel, &c.LastApp, &c.LastData,
			&c.Duration, &c.Billsec, &c.Disposition, &c.AMAFlags, &c.AccountCode, &c.UniqueID, &c.UserField, &c.LinkedID,
			&c.Sequence, &c.PeerAccount, &c.RequestID, &talk); err != nil {
			return nil, err
		}
		c.TalkSec = talkOf(talk)
		t, err := s.parseCalldate(cd)
		if err != nil {
			return nil, err
		}
		c.CallDate = t
		out = append(out, c)
	}
	return out, rows.Err()
}

// CDRCursor returns the saved position of a CDR source ("" if none).
func (s *DB) CDRCursor(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.d.q("SELECT value FROM cdr_cursor WHERE name = ?"), clip(name, 200)).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: cdr cursor %s: %w", name, err)
	}
	return v, nil
}

// SetCDRCursor saves the position of a CDR source.
func (s *DB) SetCDRCursor(ctx context.Context, name, value string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.q("DELETE FROM cdr_cursor WHERE name = ?"), clip(name, 200)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.d.q("INSERT INTO cdr_cursor (name, value) VALUES (?, ?)"), clip(name, 200), clip(value, 200))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save cdr cursor %s: %w", name, err)
	}
	return nil
}
