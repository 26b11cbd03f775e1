package sandbox

import (
	"strconv"
	"time"

	"webcallback/ami"
)

// cdrRow is one row of Asterisk 12+'s CDR engine for the caller's channel:
// the originate leg's row, and after Dial returns a second row that gets
// the userfield set after Dial (fixtures README §9).
type cdrRow struct {
	start, answer, end time.Time
	dstChannel         string
	lastApp, lastData  string
	disposition        string
	userfield          string
	context            string // DestinationContext: the channel's context when the row closed
}

// cdrTime formats a CDR time as cdr_manager does ("" for none).
func cdrTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateTime)
}

// closeRowLocked finishes the open row with disposition.
func (c *call) closeRowLocked(disp string) {
	r := c.row
	if r == nil {
		return
	}
	r.end = c.now
	r.disposition = disp
	r.context = c.caller.context
	c.rows = append(c.rows, r)
	c.row = nil
}

// setUserfieldLocked is Set(CDR(userfield)=...): it lands on the open row.
func (c *call) setUserfieldLocked(v string) {
	if c.row != nil {
		c.row.userfield = v
	} else if n := len(c.rows); n > 0 {
		c.rows[n-1].userfield = v
	}
}

// emitCDRsLocked sends the caller's rows as Cdr events (cdr_manager).
func (c *call) emitCDRsLocked() {
	ch := c.caller
	for _, r := range c.rows {
		var bill time.Duration
		if !r.answer.IsZero() {
			bill = r.end.Sub(r.answer)
		}
		m := ami.NewMessage("Event", "Cdr", "Privilege", classCDR.privilege(),
			"AccountCode", "",
			"Source", ch.cidNum,
			"Destination", "s",
			"DestinationContext", r.context,
			"CallerID", `"`+ch.cidName+`" <`+ch.cidNum+`>`,
			"Channel", ch.name,
			"DestinationChannel", r.dstChannel,
			"LastApplication", r.lastApp,
			"LastData", r.lastData,
			"StartTime", cdrTime(r.start),
			"AnswerTime", cdrTime(r.answer),
			"EndTime", cdrTime(r.end),
			"Duration", strconv.FormatInt(int64(r.end.Sub(r.start)/time.Second), 10),
			"BillableSeconds", strconv.FormatInt(int64(bill/time.Second), 10),
			"Disposition", r.disposition,
			"AMAFlags", "DOCUMENTATION",
			"UniqueID", ch.uniqueid,
			"UserField", r.userfield)
		c.emit(classCDR, m)
	}
	c.rows = nil
}
