package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"webcallback/ami"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// errBadCDR reports a Cdr event that cannot become a row.
var errBadCDR = errors.New("callflow: malformed Cdr event")

// maxCDRField bounds each text column taken from a Cdr event (the classic
// schema's widest column is 255).
const maxCDRField = 255

// parseCDR turns an AMI Cdr event (cdr_manager) into a row of the classic
// cdr table. Times are Asterisk's local time, read in loc. The request id
// comes from the userfield (";wcb:<id>"), else from the caller channel's
// UniqueID (= request id, set by ChannelId) or a Linkedid, when they look
// like one of our ids.
func parseCDR(m *ami.Message, loc *time.Location) (*store.CDR, error) {
	if m.Event() != "Cdr" {
		return nil, fmt.Errorf("%w: event %q", errBadCDR, m.Event())
	}
	field := func(k string) string {
		v := m.Get(k)
		if len(v) > maxCDRField {
			v = v[:maxCDRField]
		}
		return v
	}
	c := &store.CDR{
		CLID:        field("CallerID"),
		Src:         field("Source"),
		Dst:         field("Destination"),
		DContext:    field("DestinationContext"),
		Channel:     field("Channel"),
		DstChannel:  field("DestinationChannel"),
		LastApp:     field("LastApplication"),
		LastData:    field("LastData"),
		Disposition: field("Disposition"),
		AccountCode: field("AccountCode"),
		UniqueID:    field("UniqueID"), // cdr_manager spells it so (fixtures README §9)
		UserField:   field("UserField"),
		LinkedID:    field("Linkedid"),
		PeerAccount: field("PeerAccount"),
	}
	if c.UniqueID == "" {
		return nil, fmt.Errorf("%w: no UniqueID", errBadCDR)
	}
	var err error
	if c.CallDate, err = time.ParseInLocation(time.DateTime, m.Get("StartTime"), loc); err != nil {
		return nil, fmt.Errorf("%w: StartTime %q", errBadCDR, m.Get("StartTime"))
	}
	c.CallDate = c.CallDate.UTC()
	for _, f := range []struct {
		key string
		p   *int
	}{{"Duration", &c.Duration}, {"BillableSeconds", &c.Billsec}, {"Sequence", &c.Sequence}} {
		v := m.Get(f.key)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: %s %q", errBadCDR, f.key, v)
		}
		*f.p = n
	}
	c.AMAFlags = amaFlags(m.Get("AMAFlags"))
	c.RequestID = cdrRequestID(c)
	return c, nil
}

// amaFlags maps Asterisk's AMA flag names to the classic numeric column.
func amaFlags(s string) int {
	switch strings.ToUpper(s) {
	case "OMIT":
		return 1
	case "BILLING":
		return 2
	case "DOCUMENTATION":
		return 3
	}
	return 0
}

func cdrRequestID(c *store.CDR) string {
	if _, after, ok := strings.Cut(c.UserField, wcbproto.UserfieldIDPrefix); ok {
		id, _, _ := strings.Cut(after, ";")
		if isRequestID(id) {
			return id
		}
	}
	for _, v := range []string{c.UniqueID, c.LinkedID} {
		if isRequestID(v) {
			return v
		}
	}
	return ""
}

// isRequestID reports whether s has the shape of our request ids (a UUID:
// 36 bytes of hex and dashes), unlike Asterisk's own "1795625772.60".
func isRequestID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
			return false
		}
	}
	return true
}

// cdrQueue bounds the CDRs waiting for the store; beyond it they are
// dropped and logged (the store being down that long is an outage anyway).
const cdrQueue = 1 << 14

// cdrWriter writes Cdr events to the store off the event loop. InsertCDR
// is idempotent, so a CDR seen twice (two consumers, a replay) lands once.
type cdrWriter struct {
	st      store.Store
	log     *slog.Logger
	loc     *time.Location
	ch      chan *ami.Message
	mu      sync.Mutex // serializes writes between run and flush
	dropped atomic.Uint64
	written atomic.Uint64
}

func newCDRWriter(st store.Store, log *slog.Logger) *cdrWriter {
	return &cdrWriter{st: st, log: log, loc: time.UTC, ch: make(chan *ami.Message, cdrQueue)}
}

func (w *cdrWriter) put(m *ami.Message) {
	select {
	case w.ch <- m:
	default:
		w.dropped.Add(1)
		w.log.Error("CDR queue full; CDR dropped", "uniqueid", m.Get("UniqueID"))
	}
}

// run writes until done is closed; a write in flight is finished.
func (w *cdrWriter) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case m := <-w.ch:
			w.write(done, m)
		}
	}
}

// write stores one CDR, retrying a failing store until done is closed.
func (w *cdrWriter) write(done <-chan struct{}, m *ami.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := parseCDR(m, w.loc)
	if err != nil {
		w.log.Warn("ignoring Cdr event", "err", err)
		return
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		_, err := w.st.InsertCDR(ctx, c)
		cancel()
		if err == nil {
			w.written.Add(1)
			return
		}
		w.log.Error("storing CDR; will retry", "uniqueid", c.UniqueID, "request", c.RequestID, "err", err)
		select {
		case <-done:
			w.dropped.Add(1)
			return
		case <-time.After(writeRetry):
		}
	}
}

// flush writes the CDRs still queued (run must have stopped), until ctx ends.
func (w *cdrWriter) flush(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%d CDRs not written: %w", len(w.ch), err)
		}
		select {
		case m := <-w.ch:
			w.write(ctx.Done(), m)
		default:
			return nil
		}
	}
}
