package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// CDRTable reads a cdr table that Asterisk fills itself (cdr_adaptive_odbc,
// or the original's cdr_mysql), for the monitor's incremental table source.
// It knows the classic columns and reads linkedid, sequence and peeraccount
// when the table has them.
type CDRTable struct {
	db    *sql.DB
	d     dialect
	table string
	cols  []string // the known columns the table has, in cdrReadCols order
	loc   *time.Location
	name  string
}

// cdrReadCols are the columns a foreign cdr table may have that we read.
var cdrReadCols = []string{"calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata",
	"duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid", "userfield", "linkedid", "sequence", "peeraccount"}

// OpenCDRTable opens the cdr table named by dsn: a --db style URL whose
// optional "table" query parameter names the table (default cdr), e.g.
// mysql://asterisk:pw@pbx:3306/asteriskcdrdb?table=cdr. calldate is read
// as a wall clock in loc (nil = UTC). It refuses webcallback's own cdr
// table: Asterisk must write to another table or database.
func OpenCDRTable(ctx context.Context, dsn string, loc *time.Location) (*CDRTable, error) {
	table := "cdr"
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		q, err := url.ParseQuery(dsn[i+1:])
		if err != nil {
			return nil, fmt.Errorf("%w: cdr table source: bad query string", ErrBadDSN)
		}
		if t := q.Get("table"); t != "" {
			table = t
		}
		q.Del("table")
		dsn = dsn[:i]
		if len(q) > 0 {
			dsn += "?" + q.Encode()
		}
	}
	if !isIdent(table) {
		return nil, fmt.Errorf("%w: cdr table source: table %q: want letters, digits and _", ErrBadDSN, table)
	}
	if loc == nil {
		loc = time.UTC
	}
	s, err := OpenWith(ctx, dsn, Options{Location: loc, MaxOpenConns: 2})
	if err != nil {
		return nil, fmt.Errorf("cdr table source: %w", err)
	}
	t := &CDRTable{db: s.db, d: s.d, table: table, loc: loc, name: s.d.name + ":" + redactedTarget(dsn) + "/" + table}
	rows, err := s.db.QueryContext(ctx, "SELECT * FROM "+table+" WHERE 1 = 0")
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("cdr table source %s: %w", t.name, err)
	}
	have, err := rows.Columns()
	rows.Close()
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("cdr table source %s: %w", t.name, err)
	}
	set := map[string]bool{}
	for _, c := range have {
		set[strings.ToLower(c)] = true
	}
	if set["dedup"] && set["callkey"] {
		s.db.Close()
		return nil, fmt.Errorf("cdr table source %s: this is webcallback's own cdr table; let Asterisk write to another table or database", t.name)
	}
	for _, c := range cdrReadCols {
		if set[c] {
			t.cols = append(t.cols, c)
		}
	}
	for _, must := range []string{"calldate", "uniqueid"} {
		if !set[must] {
			s.db.Close()
			return nil, fmt.Errorf("cdr table source %s: no %s column: not a cdr table", t.name, must)
		}
	}
	return t, nil
}

// redactedTarget is host/db of a DSN without credentials, for names and logs.
func redactedTarget(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "?"
	}
	if u.Scheme == "sqlite" {
		return u.Opaque + u.Path
	}
	return u.Host + u.Path
}

func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// Name identifies the source without credentials (the monitor's cursor key).
func (t *CDRTable) Name() string { return t.name }

// Close closes the source's connections.
func (t *CDRTable) Close() error { return t.db.Close() }

// Earliest returns the oldest calldate in the table (ok false when empty).
func (t *CDRTable) Earliest(ctx context.Context) (time.Time, bool, error) {
	var v any
	if err := t.db.QueryRowContext(ctx, "SELECT MIN(calldate) FROM "+t.table).Scan(&v); err != nil {
		return time.Time{}, false, fmt.Errorf("cdr table source %s: %w", t.name, err)
	}
	if v == nil {
		return time.Time{}, false, nil
	}
	at, err := parseWall(v, t.loc)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("cdr table source %s: %w", t.name, err)
	}
	return at, true, nil
}

// Read returns the rows with from <= calldate < to (no upper bound when to
// is zero), oldest first, at most limit of them.
func (t *CDRTable) Read(ctx context.Context, from, to time.Time, limit int) ([]*CDR, error) {
	s := &DB{d: t.d, loc: t.loc, calldateLoc: t.loc}
	q := "SELECT " + strings.Join(t.cols, ", ") + " FROM " + t.table + " WHERE calldate >= ?"
	args := []any{s.calldateArg(from)}
	if !to.IsZero() {
		q += " AND calldate < ?"
		args = append(args, s.calldateArg(to))
	}
	q += fmt.Sprintf(" ORDER BY calldate LIMIT %d", clampLimit(limit, 10000, 1000000))
	rows, err := t.db.QueryContext(ctx, t.d.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cdr table source %s: %w", t.name, err)
	}
	defer rows.Close()
	var out []*CDR
	for rows.Next() {
		c := &CDR{}
		var cd any
		dest := make([]any, len(t.cols))
		for i, col := range t.cols {
			dest[i] = t.field(c, col, &cd)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cdr table source %s: %w", t.name, err)
		}
		if c.CallDate, err = parseWall(cd, t.loc); err != nil {
			return nil, fmt.Errorf("cdr table source %s: row %s: %w", t.name, c.UniqueID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cdr table source %s: %w", t.name, err)
	}
	return out, nil
}

// field returns the scan destination of a column. Text columns go through
// nullString so a NULL (allowed in hand-made tables) reads as "".
func (t *CDRTable) field(c *CDR, col string, calldate *any) any {
	switch col {
	case "calldate":
		return calldate
	case "duration":
		return (*nullInt)(&c.Duration)
	case "billsec":
		return (*nullInt)(&c.Billsec)
	case "amaflags":
		return (*nullInt)(&c.AMAFlags)
	case "sequence":
		return (*nullInt)(&c.Sequence)
	}
	p := map[string]*string{"clid": &c.CLID, "src": &c.Src, "dst": &c.Dst, "dcontext": &c.DContext, "channel": &c.Channel,
		"dstchannel": &c.DstChannel, "lastapp": &c.LastApp, "lastdata": &c.LastData, "disposition": &c.Disposition,
		"accountcode": &c.AccountCode, "uniqueid": &c.UniqueID, "userfield": &c.UserField, "linkedid": &c.LinkedID,
		"peeraccount": &c.PeerAccount}[col]
	return (*nullString)(p)
}

type nullString string

func (n *nullString) Scan(v any) error {
	var s sql.NullString
	err := s.Scan(v)
	*n = nullString(s.String)
	return err
}

type nullInt int

func (n *nullInt) Scan(v any) error {
	var i sql.NullInt64
	if err := i.Scan(v); err != nil {
		return err
	}
	if i.Int64 < 0 || i.Int64 > 1<<31-1 {
		return errors.New("count out of range")
	}
	*n = nullInt(i.Int64)
	return nil
}
