package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
)

// cdrSQL holds the statements of the CDR path, built once per dialect so
// they can be prepared (warm) before the transaction starts.
type cdrSQL struct {
	shareLock, insertCDR, lockCall, readCall, updateCall, upTotals, upDaily, dropTotals, dropDaily, lastCall string
}

func (d dialect) cdrSQL() cdrSQL {
	share := ""
	switch d.name {
	case "mysql":
		share = " LOCK IN SHARE MODE"
	case "postgres":
		share = " FOR SHARE"
	}
	return cdrSQL{
		shareLock:  "SELECT number FROM number_lock WHERE number = '#rebuild'" + share,
		insertCDR:  d.insertIgnore("cdr", cdrCols, "dedup"),
		lockCall:   d.lockRow("cdr_call", "callkey"),
		readCall:   "SELECT number, day, first_ms, first_dedup, last_ms, answered, billsec, talksec, nrows FROM cdr_call WHERE callkey = ?",
		updateCall: "UPDATE cdr_call SET number = ?, day = ?, first_ms = ?, first_dedup = ?, last_ms = ?, answered = ?, billsec = ?, talksec = ?, nrows = ? WHERE callkey = ?",
		upTotals:   d.upsertAdd("number_stats", []string{"number"}, []string{"calls", "answered", "billsec"}, []string{"last_call_ms"}),
		upDaily:    d.upsertAdd("number_daily", []string{"number", "day"}, []string{"calls", "answered", "billsec"}, nil),
		dropTotals: "DELETE FROM number_stats WHERE number = ? AND calls <= 0",
		dropDaily:  "DELETE FROM number_daily WHERE number = ? AND day = ? AND calls <= 0",
		lastCall:   "UPDATE number_stats SET last_call_ms = (SELECT COALESCE(MAX(last_ms), 0) FROM cdr_call WHERE number = ?) WHERE number = ?",
	}
}

func (q cdrSQL) all() []string {
	return []string{q.shareLock, q.insertCDR, q.lockCall, q.readCall, q.updateCall, q.upTotals, q.upDaily, q.dropTotals, q.dropDaily, q.lastCall}
}

// InsertCDR stores c once (see dedupKey) and, for a new row, updates the
// call and the per-number tables in the same transaction.
func (s *DB) InsertCDR(ctx context.Context, c *CDR) (inserted bool, err error) {
	n, err := s.InsertCDRs(ctx, []*CDR{c})
	return n == 1, err
}

// newRow is a cdr row of a batch that was not stored before.
type newRow struct {
	key string
	r   rowContrib
}

// numberDay keys number_daily.
type numberDay struct{ number, day string }

// statDelta is a change to one number_stats or number_daily row.
type statDelta struct {
	calls, answered, billsec int
	last                     int64
	negative                 bool // a call left this row: it may now be empty
}

// InsertCDRs is InsertCDR for a batch in one transaction (bulk import,
// table polling, generated histories): all rows or none are applied;
// inserted counts the rows that were new. The batch is aggregated in
// memory first, so each call and each (number, day) is written once per
// batch, not once per row.
func (s *DB) InsertCDRs(ctx context.Context, cs []*CDR) (inserted int, err error) {
	for _, c := range cs {
		if c == nil || c.UniqueID == "" || c.CallDate.IsZero() {
			return 0, fmt.Errorf("%w: cdr: uniqueid and calldate are required", ErrInvalid)
		}
	}
	q := s.d.cdrSQL()
	if err := s.warm(ctx, q.all()...); err != nil {
		return 0, fmt.Errorf("store: insert cdr: %w", err)
	}
	clean := make([]CDR, len(cs))
	for i, c := range cs {
		clean[i] = cleanCDR(c)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		if err := s.shareRebuildLock(ctx, tx, q); err != nil {
			return err
		}
		callers, err := s.linkRequests(ctx, tx, clean)
		if err != nil {
			return err
		}
		var fresh []newRow
		for i := range clean {
			nr, ok, err := s.insertRow(ctx, tx, q, &clean[i], callers)
			if err != nil {
				return fmt.Errorf("cdr %s: %w", clean[i].UniqueID, err)
			}
			if ok {
				fresh = append(fresh, nr)
			}
		}
		inserted = len(fresh)
		return s.aggregate(ctx, tx, q, fresh)
	})
	if err != nil {
		return 0, fmt.Errorf("store: insert cdr: %w", err)
	}
	return inserted, nil
}

// shareRebuildLock takes the '#rebuild' row in shared mode: ingesters run
// side by side, a rebuild (exclusive) waits for them and they for it.
// SQLite's write lock already serialises everything.
func (s *DB) shareRebuildLock(ctx context.Context, tx *sql.Tx, q cdrSQL) error {
	if s.d.name == "sqlite" {
		return nil
	}
	var x string
	row, err := s.queryRow(ctx, tx, q.shareLock)
	if err == nil {
		err = row.Scan(&x)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("rebuild lock: %w", err)
	}
	return nil
}

// requestCandidates are the ids a row may belong to, in order of
// preference: the userfield's ";wcb:<id>", the uniqueid, the linkedid.
func requestCandidates(c *CDR) []string {
	var out []string
	for _, v := range []string{c.RequestID, c.UniqueID, c.LinkedID} {
		if v != "" && len(v) <= 64 {
			out = append(out, v)
		}
	}
	return out
}

// linkRequests looks up, for the whole batch, which candidate ids are
// stored requests, and returns their callers.
func (s *DB) linkRequests(ctx context.Context, tx *sql.Tx, cs []CDR) (map[string]string, error) {
	seen := map[string]bool{}
	var ids []any
	for i := range cs {
		for _, id := range requestCandidates(&cs[i]) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	callers := map[string]string{}
	const per = 100
	for start := 0; start < len(ids); start += per {
		chunk := ids[start:min(start+per, len(ids))]
		rows, err := tx.QueryContext(ctx, s.d.q("SELECT id, caller FROM callback_request WHERE id IN ("+placeholders(len(chunk))+")"), chunk...)
		if err != nil {
			return nil, fmt.Errorf("link requests: %w", err)
		}
		for rows.Next() {
			var id, caller string
			if err := rows.Scan(&id, &caller); err != nil {
				rows.Close()
				return nil, fmt.Errorf("link requests: %w", err)
			}
			callers[id] = caller
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("link requests: %w", err)
		}
	}
	return callers, nil
}

// identify names a row: its dedup key, the request it belongs to and that
// request's caller (both "" for a foreign row), and its call key.
func (s *DB) identify(c *CDR, callers map[string]string) (dedup, reqID, caller, key string) {
	dedup = dedupKey(c, c.CallDate.In(s.cdrLoc()).Format(calldateLayout))
	for _, id := range requestCandidates(c) {
		if v, found := callers[id]; found {
			reqID, caller = id, v
			break
		}
	}
	key = reqID
	if key == "" {
		key = c.LinkedID
	}
	if key == "" {
		key = c.UniqueID
	}
	return dedup, reqID, caller, key
}

// insertRow stores one row unless its dedup key exists; ok reports a new row.
func (s *DB) insertRow(ctx context.Context, tx *sql.Tx, q cdrSQL, c *CDR, callers map[string]string) (nr newRow, ok bool, err error) {
	dedup, reqID, caller, key := s.identify(c, callers)
	res, err := s.exec(ctx, tx, q.insertCDR,
		s.calldateArg(c.CallDate), c.CLID, c.Src, c.Dst, c.DContext, c.Channel, c.DstChannel, c.LastApp, c.LastData,
		c.Duration, c.Billsec, c.Disposition, c.AMAFlags, c.AccountCode, c.UniqueID, c.UserField, c.LinkedID, c.Sequence,
		c.PeerAccount, reqID, key, dedup, talkArg(c.TalkSec))
	if err != nil {
		return nr, false, fmt.Errorf("insert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return nr, false, err // a duplicate
	}
	return newRow{key: key, r: s.contrib(c, dedup, caller)}, true, nil
}

// aggregate merges the new rows into their calls (each call read, locked
// and written once, in key order so concurrent batches cannot deadlock)
// and moves each call's contribution in the per-number tables from its old
// to its new value.
func (s *DB) aggregate(ctx context.Context, tx *sql.Tx, q cdrSQL, fresh []newRow) error {
	if len(fresh) == 0 {
		return nil
	}
	byKey := map[string][]rowContrib{}
	for _, nr := range fresh {
		byKey[nr.key] = append(byKey[nr.key], nr.r)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	totals := map[string]*statDelta{}
	daily := map[numberDay]*statDelta{}
	moved := map[string]bool{}
	add := func(number, day string, sign, answered, billsec int, last int64) {
		if number == "" {
			return
		}
		t := totals[number]
		if t == nil {
			t = &statDelta{}
			totals[number] = t
		}
		d := daily[numberDay{number, day}]
		if d == nil {
			d = &statDelta{}
			daily[numberDay{number, day}] = d
		}
		for _, x := range []*statDelta{t, d} {
			x.calls += sign
			x.answered += sign * answered
			x.billsec += sign * billsec
			x.last = max(x.last, last)
			x.negative = x.negative || sign < 0
		}
	}
	for _, key := range keys {
		old, err := s.lockCall(ctx, tx, q, key)
		if err != nil {
			return err
		}
		cur := old
		for _, r := range byKey[key] {
			cur.add(r)
		}
		if _, err := s.exec(ctx, tx, q.updateCall,
			cur.number, cur.day, cur.firstMs, cur.firstDedup, cur.lastMs, b2i(cur.answered), cur.billsec, cur.talk, cur.nrows, key); err != nil {
			return fmt.Errorf("update call: %w", err)
		}
		if old.nrows > 0 {
			add(old.number, old.day, -1, b2i(old.answered), old.billed(), 0)
			if old.number != cur.number {
				moved[old.number] = true
			}
		}
		add(cur.number, cur.day, +1, b2i(cur.answered), cur.billed(), cur.lastMs)
	}
	return s.applyDeltas(ctx, tx, q, totals, daily, moved)
}

// lockCall makes sure the call's row exists, locks it and reads it.
func (s *DB) lockCall(ctx context.Context, tx *sql.Tx, q cdrSQL, key string) (callAgg, error) {
	a := newCallAgg(key)
	if _, err := s.exec(ctx, tx, q.lockCall, key); err != nil {
		return a, fmt.Errorf("lock call: %w", err)
	}
	var ans int
	row, err := s.queryRow(ctx, tx, q.readCall, key)
	if err == nil {
		err = row.Scan(&a.number, &a.day, &a.firstMs, &a.firstDedup, &a.lastMs, &ans, &a.billsec, &a.talk, &a.nrows)
	}
	if err != nil {
		return a, fmt.Errorf("read call: %w", err)
	}
	a.answered = ans != 0
	return a, nil
}

// applyDeltas writes the per-number changes of a batch, in key order.
func (s *DB) applyDeltas(ctx context.Context, tx *sql.Tx, q cdrSQL, totals map[string]*statDelta,
	daily map[numberDay]*statDelta, moved map[string]bool) error {
	numbers := make([]string, 0, len(totals))
	for n := range totals {
		numbers = append(numbers, n)
	}
	sort.Strings(numbers)
	days := make([]numberDay, 0, len(daily))
	for k := range daily {
		days = append(days, k)
	}
	sort.Slice(days, func(i, j int) bool {
		if days[i].number != days[j].number {
			return days[i].number < days[j].number
		}
		return days[i].day < days[j].day
	})
	for _, n := range numbers {
		d := totals[n]
		if _, err := s.exec(ctx, tx, q.upTotals, n, d.calls, d.answered, d.billsec, d.last); err != nil {
			return fmt.Errorf("update number_stats: %w", err)
		}
		// Drop rows a call left empty, so the tables equal a rebuild's.
		if d.negative {
			if _, err := s.exec(ctx, tx, q.dropTotals, n); err != nil {
				return fmt.Errorf("drop empty number_stats: %w", err)
			}
		}
	}
	for _, k := range days {
		d := daily[k]
		if _, err := s.exec(ctx, tx, q.upDaily, k.number, k.day, d.calls, d.answered, d.billsec); err != nil {
			return fmt.Errorf("update number_daily: %w", err)
		}
		if d.negative {
			if _, err := s.exec(ctx, tx, q.dropDaily, k.number, k.day); err != nil {
				return fmt.Errorf("drop empty number_daily: %w", err)
			}
		}
	}
	for _, n := range numbers {
		if !moved[n] {
			continue
		}
		// A call moved away (an earlier row of another number arrived
		// late): the number's last call is the latest of its calls now.
		if _, err := s.exec(ctx, tx, q.lastCall, n, n); err != nil {
			return fmt.Errorf("recompute last call: %w", err)
		}
	}
	return nil
}
