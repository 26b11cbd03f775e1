package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/httpguard"
	"webcallback/internal/policy"
	"webcallback/internal/store"
)

// Paging bounds of the admin lists. CSV exports page through the store up
// to maxExportRows, so one export cannot hold the database for long.
const (
	defaultPage   = 50
	maxPage       = 1000
	maxExportRows = 100000
	maxOffset     = 10_000_000
)

// badRequest is a bad_request error with what exactly was wrong (admin
// API: operators read these, so the detail is in English).
func badRequest(lang, detail string) *apiError {
	e := newError(lang, "bad_request")
	e.Message += " " + detail
	return e
}

// query reads the admin list parameters.
type query struct {
	r    *http.Request
	lang string
	loc  *time.Location
	err  *apiError
}

func (q *query) int(name string, def, lo, hi int) int {
	v := q.r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		if q.err == nil {
			q.err = badRequest(q.lang, fmt.Sprintf("%s: want an integer from %d to %d", name, lo, hi))
		}
		return def
	}
	return n
}

// time accepts RFC 3339, or a date or date and time without a zone, read
// in the service's zone (the one the dashboard shows).
func (q *query) time(name string, def time.Time) time.Time {
	v := q.r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	loc := q.loc
	if loc == nil {
		loc = time.UTC
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t
		}
	}
	if q.err == nil {
		q.err = badRequest(q.lang, name+": want RFC 3339 (2006-01-02T15:04:05Z) or a date (2006-01-02)")
	}
	return def
}

func (q *query) str(name string, maxLen int) string {
	v := q.r.URL.Query().Get(name)
	if len(v) > maxLen {
		if q.err == nil {
			q.err = badRequest(q.lang, fmt.Sprintf("%s: at most %d bytes", name, maxLen))
		}
		return ""
	}
	return v
}

func (s *server) newQuery(r *http.Request) *query {
	return &query{r: r, lang: requestLang(r, s.cfg.DefaultLang), loc: s.cfg.Location}
}

// needStore answers "unavailable" when the web runs without a store.
func (s *server) needStore(w http.ResponseWriter, r *http.Request) bool {
	if s.st == nil {
		s.writeError(w, r, newError(requestLang(r, s.cfg.DefaultLang), "unavailable"))
		return false
	}
	return true
}

func (s *server) handleAdminCalls(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"calls": s.views(s.svc.Live())})
}

// views wraps requests for the API (display numbers, limit).
func (s *server) views(reqs []*callback.Request) []requestView {
	out := make([]requestView, len(reqs))
	for i, r := range reqs {
		out[i] = s.view(r)
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// handleAdminEvents streams the live view: a "snapshot" event with every
// live call, then a "call" event per transition of any call. EventSource
// cannot send the bearer token, so the dashboard reads this with fetch().
func (s *server) handleAdminEvents(w http.ResponseWriter, r *http.Request) {
	release := s.acquireStream(w, r)
	if release == nil {
		return
	}
	defer release()
	updates, stop := s.svc.WatchAll()
	defer stop()
	sw, err := startSSE(w, r)
	if err != nil {
		return
	}
	send := func(name string, v any) bool {
		data, err := json.Marshal(v)
		if err != nil {
			s.log.Error("admin sse: encode", "err", err)
			return false
		}
		return sw.event("", name, data) == nil
	}
	if !send("snapshot", map[string]any{"calls": s.views(s.svc.Live())}) {
		return
	}
	pump(r, sw, updates, func(req *callback.Request) bool { return send("call", s.view(req)) })
}

// handleAdminHangup ends a live call (canceled/admin).
func (s *server) handleAdminHangup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, err := s.cancel(r, id, callback.ReasonAdmin)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(req))
}

func (s *server) handleAdminRequests(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	q := s.newQuery(r)
	f := store.RequestFilter{
		Number: q.str("number", 32),
		From:   q.time("from", time.Time{}), To: q.time("to", time.Time{}),
		Limit: q.int("limit", defaultPage, 1, maxPage), Offset: q.int("offset", 0, 0, maxOffset),
	}
	for _, st := range strings.Split(q.str("state", 200), ",") {
		if st == "" {
			continue
		}
		if !callback.State(st).Valid() {
			q.err = badRequest(q.lang, "state: unknown state "+strconv.Quote(st))
			break
		}
		f.States = append(f.States, callback.State(st))
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	reqs, err := s.st.ListRequests(r.Context(), f)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list requests: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": nonNil(reqs), "limit": f.Limit, "offset": f.Offset})
}

// cdrJSON is a CDR as the admin API shows it: the classic column names
// and the request's callee.
type cdrJSON struct {
	cdrColumnsJSON
	// Callee is the friend's number of the request the row belongs to:
	// the dialplan runs in extension s, so dst is "s" on every row.
	Callee string `json:"callee"`
}

// cdrColumnsJSON is store.CDR under the classic column names.
type cdrColumnsJSON struct {
	CallDate    time.Time `json:"calldate"`
	CLID        string    `json:"clid"`
	Src         string    `json:"src"`
	Dst         string    `json:"dst"`
	DContext    string    `json:"dcontext"`
	Channel     string    `json:"channel"`
	DstChannel  string    `json:"dstchannel"`
	LastApp     string    `json:"lastapp"`
	LastData    string    `json:"lastdata"`
	Duration    int       `json:"duration"`
	Billsec     int       `json:"billsec"`
	Disposition string    `json:"disposition"`
	AMAFlags    int       `json:"amaflags"`
	AccountCode string    `json:"accountcode"`
	UniqueID    string    `json:"uniqueid"`
	UserField   string    `json:"userfield"`
	LinkedID    string    `json:"linkedid"`
	Sequence    int       `json:"sequence"`
	PeerAccount string    `json:"peeraccount"`
	TalkSec     *int      `json:"talksec"` // talk time in seconds; null when the row carries none
	RequestID   string    `json:"request_id"`
}

// cdrDispositions are the values of the cdr table's disposition column
// (Asterisk's words; the dashboard shows them translated).
var cdrDispositions = []string{"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"}

// cdrColumns is the CSV header: the classic cdr table's columns in order,
// then ours. calldate is in the service's zone with its offset (labelled in
// every cell); talksec is the talk time; callee is the request's.
var cdrColumns = []string{"calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp",
	"lastdata", "duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid", "userfield",
	"linkedid", "sequence", "peeraccount", "request_id", "talksec", "callee"}

// exportTime is how CSV exports write a time: the service's zone, offset
// included ("2026-12-02 09:15:00+08:00").
const exportTime = "2006-01-02 15:04:05-07:00"

func cdrRecord(c *cdrJSON, loc *time.Location) []string {
	i := strconv.Itoa
	talk := ""
	if c.TalkSec != nil {
		talk = i(*c.TalkSec)
	}
	return []string{c.CallDate.In(loc).Format(exportTime), c.CLID, c.Src, c.Dst, c.DContext, c.Channel,
		c.DstChannel, c.LastApp, c.LastData, i(c.Duration), i(c.Billsec), c.Disposition, i(c.AMAFlags),
		c.AccountCode, c.UniqueID, c.UserField, c.LinkedID, i(c.Sequence), c.PeerAccount, c.RequestID, talk, c.Callee}
}

// calleeOf finds the callee of CDR rows by their request, once per request
// (the rows of one call share it).
type calleeOf struct {
	s     *server
	r     *http.Request
	cache map[string]string
}

func (c *calleeOf) row(cdr *store.CDR) cdrJSON {
	out := cdrJSON{cdrColumnsJSON: cdrColumnsJSON(*cdr)}
	if cdr.RequestID == "" || !callback.ValidID(cdr.RequestID) {
		return out
	}
	callee, ok := c.cache[cdr.RequestID]
	if !ok {
		if req, err := c.s.st.GetRequest(c.r.Context(), cdr.RequestID); err == nil {
			callee = policy.DisplayNumber(req.Callee, c.s.cfg.Region)
		} else if !isNotFound(err) {
			c.s.log.Warn("cdr callee: read request", "id", cdr.RequestID, "err", err)
		}
		c.cache[cdr.RequestID] = callee
	}
	out.Callee = callee
	return out
}

// handleAdminCDRs searches CDRs: JSON pages, or ?format=csv for the whole
// selection (up to maxExportRows).
func (s *server) handleAdminCDRs(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	q := s.newQuery(r)
	f := store.CDRFilter{
		Number: q.str("number", 32), Disposition: q.str("disposition", 32), RequestID: q.str("request_id", 64),
		From: q.time("from", time.Time{}), To: q.time("to", time.Time{}),
		Limit: q.int("limit", defaultPage, 1, maxPage), Offset: q.int("offset", 0, 0, maxOffset),
	}
	csvOut := s.wantCSV(q)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	callees := &calleeOf{s: s, r: r, cache: map[string]string{}}
	if csvOut {
		f.Offset, f.Limit = 0, maxPage
		writeCSV(w, "cdr.csv", cdrColumns, func(emit func([]string) error) error {
			for f.Offset < maxExportRows {
				rows, _, err := s.st.SearchCDRs(r.Context(), f)
				if err != nil {
					return fmt.Errorf("search cdrs: %w", err)
				}
				for i := range rows {
					c := callees.row(&rows[i])
					if err := emit(cdrRecord(&c, s.cfg.Location)); err != nil {
						return err
					}
				}
				if len(rows) < f.Limit {
					return nil
				}
				f.Offset += len(rows)
			}
			return nil
		}, s)
		return
	}
	rows, total, err := s.st.SearchCDRs(r.Context(), f)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("search cdrs: %w", err))
		return
	}
	out := make([]cdrJSON, len(rows))
	for i := range rows {
		out[i] = callees.row(&rows[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"cdrs": out, "total": total, "limit": f.Limit, "offset": f.Offset})
}

func (s *server) wantCSV(q *query) bool {
	switch q.str("format", 8) {
	case "", "json":
		return false
	case "csv":
		return true
	}
	if q.err == nil {
		q.err = badRequest(q.lang, "format: json or csv")
	}
	return false
}

// writeCSV streams rows as a CSV attachment. Once the first row is out an
// error can only be logged: the status line is gone.
func writeCSV(w http.ResponseWriter, name string, header []string, rows func(emit func([]string) error) error, s *server) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	emit := func(rec []string) error {
		for i, v := range rec {
			rec[i] = csvSafe(v)
		}
		return cw.Write(rec)
	}
	if err := cw.Write(header); err != nil {
		return
	}
	if err := rows(emit); err != nil {
		s.log.Error("csv export failed", "file", name, "err", err)
	}
	cw.Flush()
}

// csvSafe defuses spreadsheet formulas: a cell from outside input (a
// caller ID, say) starting with = + - @ would run in Excel.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		// Phone numbers in E.164 start with '+'; keep them readable.
		if v[0] == '+' && len(strings.Trim(v[1:], "0123456789")) == 0 {
			return v
		}
		return "'" + v
	}
	return v
}

var numberColumns = []string{"number", "calls", "answered", "billsec", "last_call_at", "today_calls",
	"today_answered", "today_billsec", "blocked", "allowed"}

func (s *server) handleAdminNumbers(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) { // before s.st's method value is taken
		return
	}
	servePaged(s, w, r, "numbers", "numbers.csv", numberColumns, s.st.ListNumberStats, func(n store.NumberStats) []string {
		last := ""
		if n.LastCallAt != nil {
			last = n.LastCallAt.In(s.cfg.Location).Format(exportTime)
		}
		i, b := strconv.Itoa, strconv.FormatBool
		return []string{n.Number, i(n.Calls), i(n.Answered), i(n.Billsec), last,
			i(n.TodayCalls), i(n.TodayAnswered), i(n.TodayBillsec), b(n.Blocked), b(n.Allowed)}
	})
}

// servePaged answers an admin list: JSON {key: rows, "limit", "offset"}
// (limit/offset from the query), or with format=csv every row, a page at a
// time up to maxExportRows, as the attachment name with the header cols.
func servePaged[T any](s *server, w http.ResponseWriter, r *http.Request, key, name string, cols []string,
	list func(ctx context.Context, limit, offset int) ([]T, error), csvRow func(T) []string) {
	q := s.newQuery(r)
	limit, offset := q.int("limit", defaultPage, 1, maxPage), q.int("offset", 0, 0, maxOffset)
	csvOut := s.wantCSV(q)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if csvOut {
		writeCSV(w, name, cols, func(emit func([]string) error) error {
			for off := 0; off < maxExportRows; {
				rows, err := list(r.Context(), maxPage, off)
				if err != nil {
					return fmt.Errorf("list %s: %w", key, err)
				}
				for _, row := range rows {
					if err := emit(csvRow(row)); err != nil {
						return err
					}
				}
				if len(rows) < maxPage {
					return nil
				}
				off += len(rows)
			}
			return nil
		}, s)
		return
	}
	rows, err := list(r.Context(), limit, offset)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list %s: %w", key, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{key: nonNil(rows), "limit": limit, "offset": offset})
}

// numberView is GET /api/v1/admin/numbers/{e164}: the per-number table,
// every quota with its counter and reset time (why the number is refused,
// counted as the service counts), and whether it may call now.
type numberView struct {
	store.NumberStats
	Display  string        `json:"display"` // national format of the region
	Quotas   []store.Quota `json:"quotas"`
	Eligible bool          `json:"eligible"`
}

// pathNumber parses the {number} path value into E.164.
func (s *server) pathNumber(r *http.Request) (string, error) {
	n, err := policy.ParseNumber(r.PathValue("number"), s.cfg.Region, s.cfg.InternationalPrefix)
	if err != nil {
		return "", newError(requestLang(r, s.cfg.DefaultLang), string(callback.ReasonInvalidNumber))
	}
	return n.E164, nil
}

func (s *server) handleAdminNumber(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	num, err := s.pathNumber(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now()
	ns, err := s.st.NumberStats(r.Context(), num, now)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("number stats %s: %w", num, err))
		return
	}
	qs, err := s.st.Quotas(r.Context(), num, s.cfg.Rules, now)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("quotas %s: %w", num, err))
		return
	}
	writeJSON(w, http.StatusOK, numberView{NumberStats: *ns, Display: policy.DisplayNumber(num, s.cfg.Region),
		Quotas: nonNil(qs), Eligible: eligible(ns, qs)})
}

// eligible tells whether the number may ask for a call now, as the store's
// Admit would judge it as a caller: an allow override passes everything, a
// block nothing, else no caller quota may be refused.
func eligible(ns *store.NumberStats, quotas []store.Quota) bool {
	if ns.Allowed || ns.Blocked {
		return ns.Allowed
	}
	for _, q := range quotas {
		if q.Refused && !strings.HasPrefix(q.Rule, "callee") {
			return false
		}
	}
	return true
}

// overrideBody is PUT …/numbers/{number}/override.
type overrideBody struct {
	Kind store.OverrideKind `json:"kind"`
	Note string             `json:"note"`
}

func (s *server) handleAdminSetOverride(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	lang := requestLang(r, s.cfg.DefaultLang)
	num, err := s.pathNumber(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b overrideBody
	if err := decodeJSON(w, r, lang, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Kind != store.OverrideBlock && b.Kind != store.OverrideAllow {
		s.writeError(w, r, badRequest(lang, `kind: "block" or "allow"`))
		return
	}
	if len(b.Note) > 500 {
		s.writeError(w, r, badRequest(lang, "note: at most 500 bytes"))
		return
	}
	o := store.Override{Number: num, Kind: b.Kind, Note: b.Note, By: httpguard.Actor(r), CreatedAt: s.now()}
	if err := s.st.SetOverride(r.Context(), o); err != nil {
		s.writeError(w, r, fmt.Errorf("set override %s: %w", num, err))
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *server) handleAdminDeleteOverride(w http.ResponseWriter, r *http.Request) {
	s.deleteNumber(w, r, "override", func(st Store) func(context.Context, string) error { return st.DeleteOverride })
}

// deleteNumber removes the {number} of the path from one of the store's
// per-number lists: 204 whether it was there or not. del picks the store's
// delete method (once the store is known to be there).
func (s *server) deleteNumber(w http.ResponseWriter, r *http.Request, what string, del func(Store) func(context.Context, string) error) {
	if !s.needStore(w, r) {
		return
	}
	num, err := s.pathNumber(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := del(s.st)(r.Context(), num); err != nil && !isNotFound(err) {
		s.writeError(w, r, fmt.Errorf("delete %s %s: %w", what, num, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) handleAdminAudit(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	q := s.newQuery(r)
	limit := q.int("limit", 100, 1, maxPage)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	entries, err := s.st.ListAudit(r.Context(), limit)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list audit: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": nonNil(entries)})
}
