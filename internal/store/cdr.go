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
//     the digits of src, else of the clid's <number>, in E.164 when
//     Options.NormalizeNumber reads them as a valid number. Taken from the call's
//     earliest row (by calldate, then by dedup key), so the result does not
//     depend on the order rows arrive in;
//   - day: the calldate day (wall clock in Options.Location) of that row;
//   - answered: some row is ANSWERED and has a dstchannel (the Dial row
//     of a bridged call; a caller-only row like "AppDial2 BUSY" or the
//     trailing "Hangup ANSWERED" row never is);
//   - talksec: the largest talksec of its rows (the dialplan sets it on one
//     row), -1 when no row carries one;
//   - billsec: the sum of billsec over those answered rows (one per call in
//     our dialplan; note Asterisk's caller-row billsec includes Welcome and
//     the callee's ringing). Kept as Asterisk's figure;
//   - billed: the call's talk time, which the per-number tables sum: its
//     talksec when some row carries one, else (rows of another writer) its
//     billsec;
//   - last: the latest calldate of any of its rows.
//
// Per number (number_stats): calls = its calls, answered = its answered
// calls, billsec = the sum of their billed talk time, last_call = the latest "last";
// per number and day (number_daily) the same for the calls of that day.
// Rows without any number are stored but not aggregated.
//
// InsertCDR applies each new row as a delta (the call's contribution before
// and after the row), RebuildNumberStats recomputes everything with the
// same merge; both therefore give identical tables.

// cdrCols are the cdr columns we write, in order.
var cdrCols = []string{"calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata",
	"duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid", "userfield", "linkedid", "sequence",
	"peeraccount", "request_id", "callkey", "dedup", "talksec"}

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
	if n.TalkSec != nil {
		t := min(max(*n.TalkSec, 0), 1<<31-1)
		n.TalkSec = &t
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
	talk     int // the row's talksec, -1 for none
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
	talk       int // talksec, -1 = no row carried one
	nrows      int
}

// newCallAgg is an empty call (no rows yet).
func newCallAgg(key string) callAgg { return callAgg{key: key, talk: -1} }

// billed is what the call adds to its number's billsec: the talk time the
// dialplan measured, or Asterisk's billsec for rows without one.
func (a *callAgg) billed() int {
	if a.talk >= 0 {
		return a.talk
	}
	return a.billsec
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
	a.talk = max(a.talk, r.talk)
	a.nrows++
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// contrib builds a row's contribution; caller is the request's caller or "".
func (s *DB) contrib(c *CDR, dedup, caller string) rowContrib {
	number := caller
	if number == "" {
		number = numberOf(c.Src, c.CLID)
		if s.normalize != nil && number != "" {
			if e := s.normalize(number); e != "" {
				number = e
			}
		}
	}
	wall := c.CallDate.In(s.loc)
	talk := -1
	if c.TalkSec != nil {
		talk = *c.TalkSec
	}
	return rowContrib{
		talk:     talk,
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
func (s *DB) calldateArg(t time.Time) any {
	w := t.In(s.cdrLoc()).Truncate(time.Second)
	if s.d.name == "postgres" {
		return w
	}
	return w.Format(calldateLayout)
}

// parseCalldate reads a calldate column as the wall clock in its zone
// (cdrLoc), whatever form the driver hands it in.
func (s *DB) parseCalldate(v any) (time.Time, error) {
	return parseWall(v, s.cdrLoc())
}

// cdrLoc is the zone of the cdr table's calldate wall clock: UTC in
// webcallback's own table (every writer agrees: the store, the sandbox PBX,
// and Asterisk's database backends as the kit renders them, usegmtime=yes /
// timezone=UTC), the PBX's zone in a table another system fills
// (OpenCDRTable).
func (s *DB) cdrLoc() *time.Location {
	if s.calldateLoc != nil {
		return s.calldateLoc
	}
	return time.UTC
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

// billedSQL is callAgg.billed over cdr_call's columns.
const billedSQL = "CASE WHEN talksec >= 0 THEN talksec ELSE billsec END"

// RebuildNumberStats recomputes cdr_call, number_stats and number_daily from
// the cdr table (and the requests it links to), in one transaction that
// holds the '#rebuild' lock exclusively: ingestion waits meanwhile. Rows are
// read in pages of whole calls, so memory stays bounded whatever the size
// of cdr.
func (s *DB) RebuildNumberStats(ctx context.Context) error {
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
SELECT number, COUNT(*), SUM(answered), SUM(`+billedSQL+`), MAX(last_ms) FROM cdr_call WHERE number <> '' GROUP BY number`); err != nil {
			return fmt.Errorf("fill number_stats: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO number_daily (number, day, calls, answered, billsec)
SELECT number, day, COUNT(*), SUM(answered), SUM(`+billedSQL+`) FROM cdr_call WHERE number <> '' GROUP BY number, day`); err != nil {
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
func (s *DB) rebuildPage(ctx context.Context, tx *sql.Tx, after string, limit int) (calls []callAgg, last string, full bool, err error) {
	rows, err := tx.QueryContext(ctx, s.d.q(`SELECT c.callkey, COALESCE(c.dedup, ''), c.calldate, c.src, c.clid, c.dstchannel,
  c.disposition, c.billsec, c.uniqueid, c.channel, c.sequence, c.talksec, COALESCE(r.caller, '')
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
		var talk sql.NullInt64
		if err := rows.Scan(&key, &dedup, &cd, &c.Src, &c.CLID, &c.DstChannel, &c.Disposition, &c.Billsec,
			&c.UniqueID, &c.Channel, &c.Sequence, &talk, &caller); err != nil {
			return nil, "", false, fmt.Errorf("read cdr: %w", err)
		}
		c.TalkSec = talkOf(talk)
		if c.CallDate, err = s.parseCalldate(cd); err != nil {
			return nil, "", false, fmt.Errorf("read cdr %s: %w", c.UniqueID, err)
		}
		if dedup == "" { // a row some other writer put in
			dedup = dedupKey(&c, c.CallDate.Format(calldateLayout))
		}
		if len(calls) == 0 || calls[len(calls)-1].key != key {
			calls = append(calls, newCallAgg(key))
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
func (s *DB) insertCalls(ctx context.Context, tx *sql.Tx, calls []callAgg) error {
	const per = 500
	row := "(" + placeholders(10) + ")"
	for start := 0; start < len(calls); start += per {
		chunk := calls[start:min(start+per, len(calls))]
		args := make([]any, 0, len(chunk)*10)
		for _, a := range chunk {
			args = append(args, a.key, a.number, a.day, a.firstMs, a.firstDedup, a.lastMs, b2i(a.answered), a.billsec, a.talk, a.nrows)
		}
		q := "INSERT INTO cdr_call (callkey, number, day, first_ms, first_dedup, last_ms, answered, billsec, talksec, nrows) VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", len(chunk)), ", ")
		if _, err := tx.ExecContext(ctx, s.d.q(q), args...); err != nil {
			return fmt.Errorf("write calls: %w", err)
		}
	}
	return nil
}

// talkOf reads a nullable talksec column.
func talkOf(v sql.NullInt64) *int {
	if !v.Valid || v.Int64 < 0 || v.Int64 > 1<<31-1 {
		return nil
	}
	t := int(v.Int64)
	return &t
}

// talkArg is a talksec as a column value (NULL for none).
func talkArg(t *int) any {
	if t == nil {
		return nil
	}
	return *t
}
