package store

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// AMAFlagName is Asterisk's name of an amaflags value (cdr_csv writes the
// name): 1 OMIT, 2 BILLING, 3 DOCUMENTATION.
func AMAFlagName(v int) string {
	switch v {
	case 1:
		return "OMIT"
	case 2:
		return "BILLING"
	case 3:
		return "DOCUMENTATION"
	}
	return "Unknown"
}

// WriteCDRsCSV writes rows in the format of Asterisk's cdr_csv Master.csv
// (the original's other CDR store) with newcdrcolumns=yes: no header;
// strings quoted, with " doubled; duration, billsec and sequence bare:
//
//	accountcode,src,dst,dcontext,clid,channel,dstchannel,lastapp,lastdata,
//	start,answer,end,duration,billsec,disposition,amaflags,uniqueid,
//	userfield,peeraccount,linkedid,sequence
//
// The cdr table keeps only the start, so end = start+duration and answer =
// end-billsec (empty when billsec is 0): exact to the second, as Asterisk
// computes them. Times are written in each CallDate's own location
// (SearchCDRs returns them in UTC, the zone of cdr.calldate).
func WriteCDRsCSV(w io.Writer, rows []CDR) error {
	bw := bufio.NewWriter(w)
	for i := range rows {
		c := &rows[i]
		start := c.CallDate
		end := start.Add(time.Duration(c.Duration) * time.Second)
		answer := ""
		if c.Billsec > 0 {
			answer = end.Add(-time.Duration(c.Billsec) * time.Second).Format(calldateLayout)
		}
		fields := []string{q(c.AccountCode), q(c.Src), q(c.Dst), q(c.DContext), q(c.CLID), q(c.Channel), q(c.DstChannel),
			q(c.LastApp), q(c.LastData), q(start.Format(calldateLayout)), q(answer), q(end.Format(calldateLayout)),
			strconv.Itoa(c.Duration), strconv.Itoa(c.Billsec), q(c.Disposition), q(AMAFlagName(c.AMAFlags)), q(c.UniqueID),
			q(c.UserField), q(c.PeerAccount), q(c.LinkedID), strconv.Itoa(c.Sequence)}
		bw.WriteString(strings.Join(fields, ","))
		bw.WriteString("\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store: write cdr csv: %w", err)
	}
	return nil
}

// q quotes a cdr_csv string field. Line breaks cannot be in an Asterisk
// field; from hostile input they become spaces, so one CDR is one line.
func q(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ", `"`, `""`).Replace(s)
	return `"` + s + `"`
}

// NumberStatsCSVHeader is the first line WriteNumberStatsCSV writes.
const NumberStatsCSVHeader = "number,calls,answered,billsec,last_call,today_calls,today_answered,today_billsec,blocked,allowed"

// WriteNumberStatsCSV writes the per-number table with a header line;
// last_call is RFC 3339 in UTC, empty if never. Numbers are written
// verbatim ("+8613800001001"); a spreadsheet importing them should be told
// the column is text.
func WriteNumberStatsCSV(w io.Writer, rows []NumberStats) error {
	if _, err := io.WriteString(w, NumberStatsCSVHeader+"\n"); err != nil {
		return fmt.Errorf("store: write number stats csv: %w", err)
	}
	return AppendNumberStatsCSV(w, rows)
}

// AppendNumberStatsCSV writes rows like WriteNumberStatsCSV, without the
// header: for the pages after the first of a long export.
func AppendNumberStatsCSV(w io.Writer, rows []NumberStats) error {
	bw := bufio.NewWriter(w)
	for _, n := range rows {
		last := ""
		if n.LastCallAt != nil {
			last = n.LastCallAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(bw, "%s,%d,%d,%d,%s,%d,%d,%d,%t,%t\n", csvField(n.Number), n.Calls, n.Answered, n.Billsec, last,
			n.TodayCalls, n.TodayAnswered, n.TodayBillsec, n.Blocked, n.Allowed)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store: write number stats csv: %w", err)
	}
	return nil
}

// csvField quotes a field when RFC 4180 needs it.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\r\n") {
		return q(s)
	}
	return s
}

// DoNotCallCSVColumns are the columns of a do-not-call list export (the
// admin API's and `stats export --what donotcall`).
var DoNotCallCSVColumns = []string{"number", "request_id", "created_at"}

// DoNotCallCSVRow is one entry as CSV fields; created_at is RFC 3339 UTC.
func DoNotCallCSVRow(e DoNotCall) []string {
	return []string{e.Number, e.RequestID, e.CreatedAt.UTC().Format(time.RFC3339)}
}

// AppendDoNotCallCSV writes entries one line each, without the header.
func AppendDoNotCallCSV(w io.Writer, rows []DoNotCall) error {
	bw := bufio.NewWriter(w)
	for _, e := range rows {
		f := DoNotCallCSVRow(e)
		for i := range f {
			f[i] = csvField(f[i])
		}
		bw.WriteString(strings.Join(f, ",") + "\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store: write do-not-call csv: %w", err)
	}
	return nil
}
