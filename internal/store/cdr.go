package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// How CDR rows become per-number statistics.
//
// Since Asterisk 12 one call leaves several cdr rows (fixtures README §9:
// the Dial row, then a Hangup/Playback row carrying the userfield). The
// rows of one call share a call key: the callback request id when the row
// belongs to a known request (its userfield ";wcb:<id>", or its
// uniqueid/linkedid, which for our calls is the Originate ChannelId), else
// its linkedid, else its uniqueid.
//
// Per call (table cdr_call):
//   - number: the request's caller (E.164) for our calls; for foreign rows
//     the digits of src, else of the clid's <number>. Taken from the call's
//     earliest row (by calldate, then by dedup key), so the result does not
//     depend on the order rows arrive in;
//   - day: the calldate day (wall clock in Options.Location) of that row;
//   - answered: some row is ANSWERED and has a dstchannel (the Dial row
//     of a bridged call; a caller-only row like "AppDial2 BUSY" or the
//     trailing "Hangup ANSWERED" row never is);
//   - billsec: the sum of billsec over those answered rows (one per call in
//     our dialplan; note Asterisk's caller-row billsec includes Welcome and
//     the callee's ringing);
//   - last: the latest calldate of any of its rows.
//
// Per number (number_stats): calls = its calls, answered = its answered
// calls, billsec = the sum of their billsec, last_call = the latest "last";
// per number and day (number_daily) the same for the calls of that day.
// Rows without any number are stored but not aggregated.
//
// InsertCDR applies each new row as a delta (the call's contribution before
// and after the row), RebuildNumberStats recomputes everything with the
// same merge; both therefore give identical tables.

// cdrCols are the cdr columns we write, in order.
var cdrCols = []string{"calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata",
	"duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid", "userfield", "linkedid", "sequence",
	"peeraccount", "request_id", "callkey", "dedup"}

const calldateLayout = "2006-01-02 15:04:05"

// cleanCDR fits every field to its column (see clip) and bounds the numbers.
func cleanCDR(c *CDR) CDR {
	n := *c
	for _, f := range []struct {
		p *string
		w int
	}{{&n.CLID, 80}, {&n.Src, 80}, {&n.Dst, 80}, {&n.DContext, 80}, {&n.Channel, 80}, {&n.DstChannel, 80},
		{&n.LastApp, 80}, {&n.LastData, 80}, {&n.Disposition, 45}, {&n.AccountCode, 20}, {&n.UniqueID, 150},
		{&n.UserField, 255}, {&n.LinkedID, 150}, {&n.PeerAccount, 80}, {&n.RequestID, 64}} {
		*f.p = clip(*f.p, f.w)
	}
	for _, p := range []*int{&n.Duration, &n.Billsec, &n.AMAFlags, &n.Sequence} {
		*p = min(max(*p, 0), 1<<31-1)
	}
	return n
}

// dedupKey identifies a CDR for idempotent ingestion: uniqueid and
// sequence when the source has a sequence (Asterisk 12+ tables, or a
// cdr_manager mapping), else uniqueid, channel, dstchannel and calldate.
// Sequence 0 counts as absent: Asterisk's counter starts there only for the
// very first CDR after a restart.
func dedupKey(c *CDR, calldate string) string {
	h := sha256.New()
	if c.Sequence > 0 {
		fmt.Fprintf(h, "s\x00%s\x00%d", c.UniqueID, c.Sequence)
	} else {
		fmt.Fprintf(h, "c\x00%s\x00%s\x00%s\x00%s", c.UniqueID, c.Channel, c.DstChannel, calldate)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// numberOf is the number a foreign CDR row is counted under: the digits of
// src, else of the clid's "<number>" part; a leading + is kept.
func numberOf(src, clid string) string {
	if n := digits(src); n != "" {
		return n
	}
	if i := strings.LastIndexByte(clid, '<'); i >= 0 {
		if j := strings.IndexByte(clid[i:], '>'); j > 0 {
			return digits(clid[i+1 : i+j])
		}
	}
	return digits(clid)
}

func digits(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c == '+' && i == 0 {
			b.WriteByte(c)
		}
	}
	if r := b.String(); r != "+" && len(r) <= 32 {
		return r
	}
	return ""
}

// rowContrib is what one cdr row brings to its call.
type rowContrib struct {
	dedup    string
	at       int64 // calldate as Unix ms
	day      string
	number   string
	answered bool
	billsec  int
}

// callAgg is one cdr_call row.
type callAgg struct {
	key        string
	number     string
	day        string
	firstMs    int64
	firstDedup string
	lastMs     int64
	answered   bool
	billsec    int
	nrows      int
}

// add merges one row into the call; the result is independent of order.
func (a *callAgg) add(r rowContrib) {
	if a.nrows == 0 || r.at < a.firstMs || r.at == a.firstMs && r.dedup < a.firstDedup {
		a.firstMs, a.firstDedup, a.number, a.day = r.at, r.dedup, r.number, r.day
	}
	if a.nrows == 0 || r.at > a.lastMs {
		a.lastMs = r.at
	}
	if r.answered {
		a.answered = true
		a.billsec += r.billsec
	}
	a.nrows++
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// contrib builds a row's contribution; caller is the request's caller or "".
func (s *sqlStore) contrib(c *CDR, dedup, caller string) rowContrib {
	number := caller
	if number == "" {
		number = numberOf(c.Src, c.CLID)
	}
	wall := c.CallDate.In(s.loc)
	return rowContrib{
		dedup:    dedup,
		at:       wall.Unix() * 1000,
		day:      wall.Format(time.DateOnly),
		number:   number,
		answered: c.Disposition == "ANSWERED" && c.DstChannel != "",
		billsec:  c.Billsec,
	}
}

// calldateArg is a calldate as the driver wants it: PostgreSQL's pgx takes
// the wall clock of a time.Time, the others a "YYYY-MM-DD hh:mm:ss" string.
func (s *sqlStore) calldateArg(t time.Time) any {
	w := t.In(s.loc).Truncate(time.Second)
	if s.d.name == "postgres" {
		return w
	}
	return w.Format(calldateLayout)
}

// parseCalldate reads a calldate column as the wall clock in s.loc,
// whatever form the driver hands it in.
func (s *sqlStore) parseCalldate(v any) (time.Time, error) {
	return parseWall(v, s.loc)
}

func parseWall(v any, loc *time.Location) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), 0, loc), nil
	case []byte:
		return parseWall(string(x), loc)
	case string:
		if len(x) > len(calldateLayout) {
			x = x[:len(calldateLayout)] // drop fractions or a zone suffix
		}
		t, err := time.ParseInLocation(calldateLayout, strings.Replace(x, "T", " ", 1), loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("calldate %q: %w", x, err)
		}
		return t, nil
	case nil:
		return time.Time{}, errors.New("calldate is NULL")
	}
	return time.Time{}, fmt.Errorf("calldate of unexpected type %T", v)
}

// InsertCDR stores c once (see dedupKey) and, for a new row, updates the
// call and the per-number tables in the same transaction.
func (s *sqlStore) InsertCDR(ctx context.Context, c *CDR) (inserted bool, err error) {
	n, err := s.InsertCDRs(ctx, []*CDR{c})
	return n == 1, err
}

// InsertCDRs is InsertCDR for a batch in one transaction (bulk import,
// table polling, generated histories): all rows or none are applied.
// inserted counts the rows that were new.
func (s *sqlStore) InsertCDRs(ctx context.Context, cs []*CDR) (inserted int, err error) {
	for _, c := range cs {
		if c == nil || c.UniqueID == "" || c.CallDate.IsZero() {
			return 0, errors.New("store: insert cdr: uniqueid and calldate are required")
		}
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		if s.d.name != "sqlite" {
			// Shared with other ingesters, exclusive for a rebuild.
			share := " FOR SHARE"
			if s.d.name == "mysql" {
				share = " LOCK IN SHARE MODE"
			}
			var x string
			if err := tx.QueryRowContext(ctx, "SELECT number FROM number_lock WHERE number = '#rebuild'"+share).Scan(&x); err != nil &&
				!errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("rebuild lock: %w", err)
			}
		}
		for _, in := range cs {
			ok, err := s.insertOne(ctx, tx, in)
			if err != nil {
				return fmt.Errorf("cdr %s: %w", in.UniqueID, err)
			}
			inserted += b2i(ok)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: insert cdr: %w", err)
	}
	return inserted, nil
}

func (s *sqlStore) insertOne(ctx context.Context, tx *sql.Tx, in *CDR) (bool, error) {
	c := cleanCDR(in)
	dedup := dedupKey(&c, c.CallDate.In(s.loc).Format(calldateLayout))
	reqID, caller, err := s.linkRequest(ctx, tx, &c)
	if err != nil {
		return false, err
	}
	key := reqID
	if key == "" {
		key = c.LinkedID
	}
	if key == "" {
		key = c.UniqueID
	}
	res, err := tx.ExecContext(ctx, s.d.q(s.d.insertIgnore("cdr", cdrCols, "dedup")),
		s.calldateArg(c.CallDate), c.CLID, c.Src, c.Dst, c.DContext, c.Channel, c.DstChannel, c.LastApp, c.LastData,
		c.Duration, c.Billsec, c.Disposition, c.AMAFlags, c.AccountCode, c.UniqueID, c.UserField, c.LinkedID, c.Sequence,
		c.PeerAccount, reqID, key, dedup)
	if err != nil {
		return false, fmt.Errorf("insert: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err // duplicate
	}
	return true, s.aggregate(ctx, tx, key, s.contrib(&c, dedup, caller))
}

// linkRequest finds the request a row belongs to: the userfield's id, else
// the uniqueid, else the linkedid, whichever names a stored request.
func (s *sqlStore) linkRequest(ctx context.Context, tx *sql.Tx, c *CDR) (id, caller string, err error) {
	var cands []any
	for _, v := range []string{c.RequestID, c.UniqueID, c.LinkedID} {
		if v != "" && len(v) <= 64 {
			cands = append(cands, v)
		}
	}
	if len(cands) == 0 {
		return "", "", nil
	}
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT id, caller FROM callback_request WHERE id IN ("+placeholders(len(cands))+")"), cands...)
	if err != nil {
		return "", "", fmt.Errorf("link request: %w", err)
	}
	defer rows.Close()
	found := map[string]string{}
	for rows.Next() {
		var i, c string
		if err := rows.Scan(&i, &c); err != nil {
			return "", "", fmt.Errorf("link request: %w", err)
		}
		found[i] = c
	}
	if err := rows.Err(); err != nil {
		return "", "", fmt.Errorf("link request: %w", err)
	}
	for _, v := range cands {
		if c, ok := found[v.(string)]; ok {
			return v.(string), c, nil
		}
	}
	return "", "", nil
}

// aggregate merges one new row into its call and moves the call's
// contribution in the per-number tables from its old to its new value.
func (s *sqlStore) aggregate(ctx context.Context, tx *sql.Tx, key string, r rowContrib) error {
	if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("cdr_call", "callkey")), key); err != nil {
		return fmt.Errorf("lock call: %w", err)
	}
	old := callAgg{key: key}
	var ans int
	err := tx.QueryRowContext(ctx, s.d.q(`SELECT number, day, first_ms, first_dedup, last_ms, answered, billsec, nrows
FROM cdr_call WHERE callkey = ?`), key).Scan(&old.number, &old.day, &old.firstMs, &old.firstDedup, &old.lastMs, &ans, &old.billsec, &old.nrows)
	if err != nil {
		return fmt.Errorf("read call: %w", err)
	}
	old.answered = ans != 0
	cur := old
	cur.add(r)
	if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE cdr_call SET number = ?, day = ?, first_ms = ?, first_dedup = ?, last_ms = ?,
  answered = ?, billsec = ?, nrows = ? WHERE callkey = ?`),
		cur.number, cur.day, cur.firstMs, cur.firstDedup, cur.lastMs, b2i(cur.answered), cur.billsec, cur.nrows, key); err != nil {
		return fmt.Errorf("update call: %w", err)
	}
	if old.nrows > 0 && old.number != "" {
		if err := s.addCall(ctx, tx, old, -1); err != nil {
			return err
		}
	}
	if cur.number != "" {
		if err := s.addCall(ctx, tx, cur, +1); err != nil {
			return err
		}
	}
	if old.nrows > 0 && old.number != "" && old.number != cur.number {
		// The call moved to another number (an earlier row arrived late):
		// the old number's last call is now the latest of its other calls.
		if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE number_stats SET last_call_ms =
  (SELECT COALESCE(MAX(last_ms), 0) FROM cdr_call WHERE number = ?) WHERE number = ?`), old.number, old.number); err != nil {
			return fmt.Errorf("recompute last call: %w", err)
		}
	}
	return nil
}

// addCall adds (sign +1) or removes (-1) a call's contribution to
// number_stats and number_daily, and drops rows left with no call so that
// the tables equal a rebuild's.
func (s *sqlStore) addCall(ctx context.Context, tx *sql.Tx, a callAgg, sign int) error {
	last := a.lastMs
	if sign < 0 {
		last = 0
	}
	if _, err := tx.ExecContext(ctx, s.d.q(s.d.upsertAdd("number_stats", []string{"number"},
		[]string{"calls", "answered", "billsec"}, []string{"last_call_ms"})),
		a.number, sign, sign*b2i(a.answered), sign*a.billsec, last); err != nil {
		return fmt.Errorf("update number_stats: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.d.q(s.d.upsertAdd("number_daily", []string{"number", "day"},
		[]string{"calls", "answered", "billsec"}, nil)),
		a.number, a.day, sign, sign*b2i(a.answered), sign*a.billsec); err != nil {
		return fmt.Errorf("update number_daily: %w", err)
	}
	if sign < 0 {
		for _, q := range []string{"DELETE FROM number_stats WHERE number = ? AND calls <= 0",
			"DELETE FROM number_daily WHERE number = ? AND day = ? AND calls <= 0"} {
			args := []any{a.number, a.day}
			if strings.Count(q, "?") == 1 {
				args = args[:1]
			}
			if _, err := tx.ExecContext(ctx, s.d.q(q), args...); err != nil {
				return fmt.Errorf("drop empty stats: %w", err)
			}
		}
	}
	return nil
}

// RebuildNumberStats recomputes cdr_call, number_stats and number_daily from
// the cdr table (and the requests it links to), in one transaction that
// holds the '#rebuild' lock exclusively: ingestion waits meanwhile. Rows are
// read in pages of whole calls, so memory stays bounded whatever the size
// of cdr.
func (s *sqlStore) RebuildNumberStats(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.q(s.d.lockRow("number_lock", "number")), "#rebuild"); err != nil {
			return fmt.Errorf("rebuild lock: %w", err)
		}
		for _, t := range []string{"cdr_call", "number_stats", "number_daily"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				return fmt.Errorf("clear %s: %w", t, err)
			}
		}
		after, page := "", 20000
		for {
			calls, last, full, err := s.rebuildPage(ctx, tx, after, page)
			if err != nil {
				return err
			}
			if full && len(calls) == 0 {
				page *= 2 // one call has more rows than a page: widen
				continue
			}
			if err := s.insertCalls(ctx, tx, calls); err != nil {
				return err
			}
			if !full {
				break
			}
			after = last
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO number_stats (number, calls, answered, billsec, last_call_ms)
SELECT number, COUNT(*), SUM(answered), SUM(billsec), MAX(last_ms) FROM cdr_call WHERE number <> '' GROUP BY number`); err != nil {
			return fmt.Errorf("fill number_stats: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO number_daily (number, day, calls, answered, billsec)
SELECT number, day, COUNT(*), SUM(answered), SUM(billsec) FROM cdr_call WHERE number <> '' GROUP BY number, day`); err != nil {
			return fmt.Errorf("fill number_daily: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: rebuild number stats: %w", err)
	}
	return nil
}

// rebuildPage reads up to limit cdr rows with callkey > after, in callkey
// order, and merges them into calls. When the page is full its last call
// may continue on the next page, so it is left out and last names the last
// complete call.
func (s *sqlStore) rebuildPage(ctx context.Context, tx *sql.Tx, after string, limit int) (calls []callAgg, last string, full bool, err error) {
	rows, err := tx.QueryContext(ctx, s.d.q(`SELECT c.callkey, COALESCE(c.dedup, ''), c.calldate, c.src, c.clid, c.dstchannel,
  c.disposition, c.billsec, c.uniqueid, c.channel, c.sequence, COALESCE(r.caller, '')
FROM cdr c LEFT JOIN callback_request r ON c.request_id <> '' AND r.id = c.request_id
WHERE c.callkey > ? ORDER BY c.callkey LIMIT `+strconv.Itoa(limit)), after)
	if err != nil {
		return nil, "", false, fmt.Errorf("read cdr: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var c CDR
		var key, dedup, caller string
		var cd any
		if err := rows.Scan(&key, &dedup, &cd, &c.Src, &c.CLID, &c.DstChannel, &c.Disposition, &c.Billsec,
			&c.UniqueID, &c.Channel, &c.Sequence, &caller); err != nil {
			return nil, "", false, fmt.Errorf("read cdr: %w", err)
		}
		if c.CallDate, err = s.parseCalldate(cd); err != nil {
			return nil, "", false, fmt.Errorf("read cdr %s: %w", c.UniqueID, err)
		}
		if dedup == "" { // a row some other writer put in
			dedup = dedupKey(&c, c.CallDate.Format(calldateLayout))
		}
		if len(calls) == 0 || calls[len(calls)-1].key != key {
			calls = append(calls, callAgg{key: key})
		}
		calls[len(calls)-1].add(s.contrib(&c, dedup, caller))
	}
	if err := rows.Err(); err != nil {
		return nil, "", false, fmt.Errorf("read cdr: %w", err)
	}
	if n < limit {
		return calls, "", false, nil
	}
	calls = calls[:len(calls)-1]
	if len(calls) > 0 {
		last = calls[len(calls)-1].key
	}
	return calls, last, true, nil
}

// insertCalls writes cdr_call rows in multi-row INSERTs.
func (s *sqlStore) insertCalls(ctx context.Context, tx *sql.Tx, calls []callAgg) error {
	const per = 500
	row := "(" + placeholders(9) + ")"
	for start := 0; start < len(calls); start += per {
		chunk := calls[start:min(start+per, len(calls))]
		args := make([]any, 0, len(chunk)*9)
		for _, a := range chunk {
			args = append(args, a.key, a.number, a.day, a.firstMs, a.firstDedup, a.lastMs, b2i(a.answered), a.billsec, a.nrows)
		}
		q := "INSERT INTO cdr_call (callkey, number, day, first_ms, first_dedup, last_ms, answered, billsec, nrows) VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", len(chunk)), ", ")
		if _, err := tx.ExecContext(ctx, s.d.q(q), args...); err != nil {
			return fmt.Errorf("write calls: %w", err)
		}
	}
	return nil
}
