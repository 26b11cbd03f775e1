package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"webcallback/internal/wcbproto"
)

// CDR rows the PBX writes itself.
//
// With --cdr-source table and no --cdr-table-db, Asterisk's database CDR
// backend (cdr_adaptive_odbc, cdr_pgsql; the sandbox PBX's --cdr-db) inserts
// each CDR straight into webcallback's own cdr table, like the original
// system's cdr_mysql did. It fills the columns it knows: the classic ones,
// linkedid, sequence, peeraccount, and talksec from the dialplan's CDR
// variable. Our own columns keep their defaults: request_id '', callkey ''
// and dedup NULL.
//
// dedup NULL is the ingestion cursor, kept in the row itself: a row is
// ingested (linked to its request, counted in cdr_call and the per-number
// tables) in the same transaction that sets its dedup key, so it is
// counted exactly once whatever crashes in between, and two instances
// polling the same table never both count it (the row lock and the
// "dedup IS NULL" re-check). An id high-water mark could not promise that:
// AUTO_INCREMENT ids are handed out at insert but become visible at commit,
// so a row with a lower id can appear after a higher one was read.

// pbxCols are the columns Asterisk's database backend writes, in order.
var pbxCols = append(append([]string{}, cdrCols[:19]...), "talksec")

// WritePBXCDR inserts c into the cdr table as Asterisk's database CDR
// backend does: the PBX's columns only, nothing aggregated. IngestPBXCDRs
// takes it from there. The sandbox PBX's --cdr-db writes through it.
func (s *DB) WritePBXCDR(ctx context.Context, c *CDR) error {
	if c == nil || c.UniqueID == "" || c.CallDate.IsZero() {
		return errors.New("store: write pbx cdr: uniqueid and calldate are required")
	}
	n := cleanCDR(c)
	q := "INSERT INTO cdr (" + strings.Join(pbxCols, ", ") + ") VALUES (" + placeholders(len(pbxCols)) + ")"
	_, err := s.db.ExecContext(ctx, s.d.q(q),
		s.calldateArg(n.CallDate), n.CLID, n.Src, n.Dst, n.DContext, n.Channel, n.DstChannel, n.LastApp, n.LastData,
		n.Duration, n.Billsec, n.Disposition, n.AMAFlags, n.AccountCode, n.UniqueID, n.UserField, n.LinkedID, n.Sequence,
		n.PeerAccount, talkArg(n.TalkSec))
	if err != nil {
		return fmt.Errorf("store: write pbx cdr %s: %w", c.UniqueID, err)
	}
	return nil
}

// pbxRow is a cdr row the PBX wrote, not ingested yet.
type pbxRow struct {
	id int64
	c  CDR
}

// IngestPBXCDRs ingests up to limit rows of the cdr table that the PBX
// wrote itself (dedup NULL), lowest id first, in one transaction: each is
// linked to its request and counted like an InsertCDRs row. A row whose
// dedup key another row already has (the same CDR stored twice, e.g. once
// from an AMI Cdr event before the source was switched to table) is the
// same record: it is deleted, so the table keeps one row per CDR. pending
// reports that rows may be left (the batch was full).
func (s *DB) IngestPBXCDRs(ctx context.Context, limit int) (ingested, duplicates int, pending bool, err error) {
	limit = clampLimit(limit, 500, 10000)
	q := s.d.cdrSQL()
	if err := s.warm(ctx, q.all()...); err != nil {
		return 0, 0, false, fmt.Errorf("store: ingest pbx cdrs: %w", err)
	}
	lock := ""
	if s.d.name != "sqlite" {
		lock = " FOR UPDATE" // a second instance waits, then sees dedup set
	}
	sel := fmt.Sprintf("SELECT id, %s FROM cdr WHERE dedup IS NULL ORDER BY id LIMIT %d%s", strings.Join(pbxCols, ", "), limit, lock)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		ingested, duplicates, pending = 0, 0, false
		if err := s.shareRebuildLock(ctx, tx, q); err != nil {
			return err
		}
		rows, err := s.readPBXRows(ctx, tx, sel)
		if err != nil {
			return err
		}
		pending = len(rows) == limit
		cs := make([]CDR, len(rows))
		for i := range rows {
			cs[i] = rows[i].c
		}
		callers, err := s.linkRequests(ctx, tx, cs)
		if err != nil {
			return err
		}
		seen, err := s.storedDedups(ctx, tx, cs)
		if err != nil {
			return err
		}
		var fresh []newRow
		for i := range rows {
			nr, ok, err := s.claimPBXRow(ctx, tx, rows[i].id, &cs[i], callers, seen)
			if err != nil {
				return fmt.Errorf("cdr %s: %w", cs[i].UniqueID, err)
			}
			if ok {
				fresh = append(fresh, nr)
			} else {
				duplicates++
			}
		}
		ingested = len(fresh)
		return s.aggregate(ctx, tx, q, fresh)
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("store: ingest pbx cdrs: %w", err)
	}
	return ingested, duplicates, pending, nil
}

// readPBXRows runs sel (id, then pbxCols) and reads the rows.
func (s *DB) readPBXRows(ctx context.Context, tx *sql.Tx, sel string) ([]pbxRow, error) {
	rs, err := tx.QueryContext(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("read pbx rows: %w", err)
	}
	defer rs.Close()
	var out []pbxRow
	for rs.Next() {
		var r pbxRow
		c := &r.c
		var cd any
		var talk sql.NullInt64
		var text [14]nullString
		var nums [4]nullInt
		if err := rs.Scan(&r.id, &cd, &text[0], &text[1], &text[2], &text[3], &text[4], &text[5], &text[6], &text[7],
			&nums[0], &nums[1], &text[8], &nums[2], &text[9], &text[10], &text[11], &text[12], &nums[3], &text[13], &talk); err != nil {
			return nil, fmt.Errorf("read pbx rows: %w", err)
		}
		for i, p := range []*string{&c.CLID, &c.Src, &c.Dst, &c.DContext, &c.Channel, &c.DstChannel, &c.LastApp, &c.LastData,
			&c.Disposition, &c.AccountCode, &c.UniqueID, &c.UserField, &c.LinkedID, &c.PeerAccount} {
			*p = string(text[i])
		}
		for i, p := range []*int{&c.Duration, &c.Billsec, &c.AMAFlags, &c.Sequence} {
			*p = int(nums[i])
		}
		c.TalkSec = talkOf(talk)
		c.RequestID = wcbproto.RequestIDFromUserfield(c.UserField)
		if c.CallDate, err = s.parseCalldate(cd); err != nil {
			return nil, fmt.Errorf("read pbx row %d: %w", r.id, err)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// storedDedups returns which of the rows' dedup keys some stored row has
// already (one query per 100 rows, not one per row).
func (s *DB) storedDedups(ctx context.Context, tx *sql.Tx, cs []CDR) (map[string]bool, error) {
	keys := make([]any, len(cs))
	for i := range cs {
		keys[i] = dedupKey(&cs[i], cs[i].CallDate.In(s.cdrLoc()).Format(calldateLayout))
	}
	seen := map[string]bool{}
	const per = 100
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		rows, err := tx.QueryContext(ctx, s.d.q("SELECT dedup FROM cdr WHERE dedup IN ("+placeholders(len(chunk))+")"), chunk...)
		if err != nil {
			return nil, fmt.Errorf("look up dedup keys: %w", err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up dedup keys: %w", err)
			}
			seen[d] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up dedup keys: %w", err)
		}
	}
	return seen, nil
}

// claimPBXRow gives row id its request, call key and dedup key, or deletes
// it when it duplicates a stored CDR or one earlier in the batch (seen,
// which it extends; ok false).
func (s *DB) claimPBXRow(ctx context.Context, tx *sql.Tx, id int64, c *CDR, callers map[string]string, seen map[string]bool) (nr newRow, ok bool, err error) {
	dedup, reqID, caller, key := s.identify(c, callers)
	if seen[dedup] {
		if _, err := s.exec(ctx, tx, "DELETE FROM cdr WHERE id = ?", id); err != nil {
			return nr, false, fmt.Errorf("drop duplicate: %w", err)
		}
		return nr, false, nil
	}
	seen[dedup] = true
	if _, err := s.exec(ctx, tx, "UPDATE cdr SET request_id = ?, callkey = ?, dedup = ? WHERE id = ?", reqID, key, dedup, id); err != nil {
		return nr, false, fmt.Errorf("claim: %w", err)
	}
	return newRow{key: key, r: s.contrib(c, dedup, caller)}, true, nil
}

// CallCDRs returns the cdr rows of request id, whether the monitor has
// ingested them or not, oldest first.
func (s *DB) CallCDRs(ctx context.Context, id string) ([]CDR, error) {
	if id == "" {
		return nil, nil
	}
	q := "SELECT " + strings.Join(cdrCols[:20], ", ") + ", talksec FROM cdr WHERE uniqueid = ? OR request_id = ? ORDER BY calldate, id LIMIT 100"
	rows, err := s.db.QueryContext(ctx, s.d.q(q), id, id)
	if err != nil {
		return nil, fmt.Errorf("store: cdrs of call %s: %w", id, err)
	}
	defer rows.Close()
	out, err := s.scanCDRs(rows)
	if err != nil {
		return nil, fmt.Errorf("store: cdrs of call %s: %w", id, err)
	}
	for i := range out {
		if out[i].RequestID == "" {
			out[i].RequestID = wcbproto.RequestIDFromUserfield(out[i].UserField)
		}
	}
	return out, nil
}
