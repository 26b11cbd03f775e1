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
	talkSec            *int   // CDR(talksec): the dialplan's talk time, on the row it was set on
	context            string // DestinationContext: the channel's context when the row closed
	dst                string // Destination: "" = "s"; "h" for the h extension's own row (a stopping Asterisk)
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

// setTalkLocked is Set(CDR(talksec)=...): the talk time in whole seconds,
// rounded as the dialplan does ((ms + 500) / 1000), on the open row.
func (c *call) setTalkLocked(talkMS int) {
	sec := (max(talkMS, 0) + 500) / 1000
	if c.row != nil {
		c.row.talkSec = &sec
	} else if n := len(c.rows); n > 0 {
		c.rows[n-1].talkSec = &sec
	}
}

// CDRRecord is one CDR row as Asterisk's database backend writes it into
// the cdr table (the columns it fills; Start is calldate).
type CDRRecord struct {
	Start, Answer, End               time.Time
	CLID, Src, Dst, DContext         string
	Channel, DstChannel              string
	LastApp, LastData                string
	Duration, Billsec                int
	Disposition                      string
	AMAFlags                         int // 3 = DOCUMENTATION
	AccountCode, UniqueID, UserField string
	LinkedID                         string
	Sequence                         int
	TalkSec                          *int // nil when the row carries no talksec
}

// emitCDRsLocked sends the caller's rows as Cdr events (cdr_manager).
func (c *call) emitCDRsLocked() {
	ch := c.caller
	for _, r := range c.rows {
		dst := r.dst
		if dst == "" {
			dst = "s"
		}
		var bill time.Duration
		if !r.answer.IsZero() {
			bill = r.end.Sub(r.answer)
		}
		m := ami.NewMessage("Event", "Cdr", "Privilege", classCDR.privilege(),
			"AccountCode", "",
			"Source", ch.cidNum,
			"Destination", dst,
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
		// The Cdr event keeps the layout real Asterisk sent in the
		// fixtures (no [mappings]); talksec goes to the database backend.
		c.emit(classCDR, m)
		if sink := c.s.cfg.CDRSink; sink != nil {
			c.s.cdrSeq++
			sink(CDRRecord{Start: r.start, Answer: r.answer, End: r.end, CLID: `"` + ch.cidName + `" <` + ch.cidNum + `>`,
				Src: ch.cidNum, Dst: dst, DContext: r.context, Channel: ch.name, DstChannel: r.dstChannel,
				LastApp: r.lastApp, LastData: r.lastData, Duration: int(r.end.Sub(r.start) / time.Second),
				Billsec: int(bill / time.Second), Disposition: r.disposition, AMAFlags: 3, UniqueID: ch.uniqueid,
				UserField: r.userfield, LinkedID: ch.linkedid, Sequence: c.s.cdrSeq, TalkSec: r.talkSec})
		}
	}
	c.rows = nil
}
