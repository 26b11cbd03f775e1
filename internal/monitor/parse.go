// Package monitor ingests CDRs into the store, which keeps the per-number
// table (the original's skypecallback) current as they arrive. Two sources,
// by setting: AMI Cdr events (cdr_manager, the default; [Monitor.ConsumeAMI])
// or a cdr table that Asterisk fills itself (cdr_adaptive_odbc, read
// incrementally; [Monitor.PollTable]). [Monitor.Retain] is the retention
// sweep. Ingestion
// is idempotent, so a CDR seen twice (a replay, two instances) counts once.
package monitor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"webcallback/ami"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// ErrNotCDR reports a message that is not a Cdr event.
var ErrNotCDR = errors.New("monitor: not a Cdr event")

// cdrTimeLayout is cdr_manager's StartTime format (Asterisk's local time,
// or UTC with usegmtime=yes).
const cdrTimeLayout = "2006-01-02 15:04:05"

// maxField bounds every header value we keep: a hostile or broken peer
// cannot make one CDR hold megabytes (the store clips to column widths too).
const maxField = 1024

// ParseCDR turns a cdr_manager "Event: Cdr" into a store.CDR, its times
// read as UTC. See ParseCDRIn.
func ParseCDR(m *ami.Message) (*store.CDR, error) { return ParseCDRIn(m, time.UTC) }

// ParseCDRIn is ParseCDR with StartTime read in loc, the zone of the
// Asterisk server's clock (cdr_manager writes local time).
//
// Fields, as Asterisk 22 sends them (fixtures README §9): AccountCode,
// Source, Destination, DestinationContext, CallerID (`"" <13800001001>`),
// Channel, DestinationChannel, LastApplication, LastData, StartTime
// (`2026-11-25 16:55:24`), AnswerTime, EndTime, Duration,
// BillableSeconds, Disposition, AMAFlags (a name: DOCUMENTATION),
// UniqueID (capital ID, unlike other events), UserField. LinkedID,
// Sequence, PeerAccount and TalkSec (the dialplan's CDR(talksec)) are
// read when a cdr_manager.conf [mappings] section adds them (any spelling
// case). RequestID comes from the
// userfield's ";wcb:<id>".
func ParseCDRIn(m *ami.Message, loc *time.Location) (*store.CDR, error) {
	if m == nil || !strings.EqualFold(m.Event(), "Cdr") {
		return nil, ErrNotCDR
	}
	get := func(key string) string {
		v := strings.TrimSpace(m.Get(key))
		if len(v) > maxField {
			v = v[:maxField]
		}
		return v
	}
	c := &store.CDR{
		AccountCode: get("AccountCode"),
		Src:         get("Source"),
		Dst:         get("Destination"),
		DContext:    get("DestinationContext"),
		CLID:        get("CallerID"),
		Channel:     get("Channel"),
		DstChannel:  get("DestinationChannel"),
		LastApp:     get("LastApplication"),
		LastData:    get("LastData"),
		Disposition: strings.ToUpper(get("Disposition")),
		UniqueID:    get("UniqueID"),
		UserField:   get("UserField"),
		LinkedID:    get("LinkedID"),
		PeerAccount: get("PeerAccount"),
	}
	if c.UniqueID == "" {
		return nil, errors.New("monitor: Cdr event without UniqueID")
	}
	start := get("StartTime")
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(cdrTimeLayout, start, loc)
	if err != nil {
		return nil, fmt.Errorf("monitor: Cdr %s: StartTime %q: want %q", c.UniqueID, start, cdrTimeLayout)
	}
	c.CallDate = t
	for _, f := range []struct {
		key string
		p   *int
		opt bool
	}{{"Duration", &c.Duration, false}, {"BillableSeconds", &c.Billsec, false}, {"Sequence", &c.Sequence, true}} {
		v := get(f.key)
		if v == "" && f.opt {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<31-1 {
			return nil, fmt.Errorf("monitor: Cdr %s: %s %q is not a count", c.UniqueID, f.key, v)
		}
		*f.p = n
	}
	if v := get("TalkSec"); v != "" { // cdr_manager.conf [mappings] talksec => TalkSec
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<31-1 {
			return nil, fmt.Errorf("monitor: Cdr %s: TalkSec %q is not a count", c.UniqueID, v)
		}
		c.TalkSec = &n
	}
	c.AMAFlags = amaFlags(get("AMAFlags"))
	c.RequestID = RequestIDFromUserfield(c.UserField)
	return c, nil
}

// amaFlags maps cdr_manager's AMA flag name (or number) to the cdr column's
// number: OMIT 1, BILLING 2, DOCUMENTATION 3, else 0.
func amaFlags(v string) int {
	switch strings.ToUpper(v) {
	case "OMIT", "1":
		return 1
	case "BILLING", "2":
		return 2
	case "DOCUMENTATION", "3":
		return 3
	}
	return 0
}

// RequestIDFromUserfield returns the <id> of "Hangupcause:16;wcb:<id>"
// (see wcbproto.RequestIDFromUserfield).
func RequestIDFromUserfield(uf string) string { return wcbproto.RequestIDFromUserfield(uf) }
