package callflow

import (
	"math"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/pbxcdr"
	"webcallback/internal/sandbox"
	"webcallback/internal/store"
)

// lostScale: Welcome (3.5 s) takes 175 ms, a 30 s talk 1.5 s.
const lostScale = 0.05

// TestNodeNeverComesBack: the PBX dies for good (its listener closed,
// nothing listens again) with one call talking and one ringing. No
// reconnect comes to reconcile them: once their longest possible span
// (Config.LostSpan here, maxCallSpan in service) is over, both end failed /
// pbx_lost, the talking one with its talk counted until the link was lost,
// not until the sweep that finished it; their capacity slots are freed.
func TestNodeNeverComesBack(t *testing.T) {
	t.Parallel()                 // a rig of its own: see TestMain
	const span = 3 * time.Second // from the Originate: ~1.5 s after the PBX goes
	r := newRig(t, e2eConfig(func(c *Config) {
		c.Limit, c.CalleeRing, c.PBXTimeScale, c.LostSpan = 300*time.Second, 300*time.Second, lostScale, span
	}), sandbox.Config{TimeScale: lostScale})
	talking := r.place("13800001001", longCallee)
	ringing := r.place("13800001003", "13822221002") // never answers; rings 300 s (15 s)
	conn := r.waitState(talking, callback.StateConnected)
	r.waitState(ringing, callback.StateCallingCallee)
	time.Sleep(500 * time.Millisecond) // let it talk ~10 PBX s: the scenario, not a synchronisation
	before := time.Now()
	r.sb.Close() // kill -9 of the PBX, for good: the proxy finds nothing to dial

	final, _ := r.wait(talking)
	checkFinal(t, final, callback.StateFailed, callback.ReasonPBXLost)
	talkTo := func(at time.Time) float64 {
		return float64(at.Sub(*conn.ConnectedAt)) / lostScale / float64(time.Second)
	}
	lo := int(math.Floor(talkTo(before)))
	// Counted to the sweep instead, it would be at least the talk until
	// the span was over.
	sweep := int(talkTo(sentAt(final).Add(span)))
	t.Logf("talking call: billsec %d (talk until the PBX went >= %d; counted to the sweep it would be >= %d)", final.Billsec, lo, sweep)
	if final.Billsec < lo {
		t.Errorf("billsec %d: want the talk until the PBX went (>= %d)", final.Billsec, lo)
	}
	// The upper bound tells the two apart only if the sweep was due well
	// after the PBX went; on a machine so loaded that the call took most
	// of the span to connect, both counts are the same and it says nothing.
	switch due := sentAt(final).Add(span); {
	case !due.After(before.Add(time.Second)):
		t.Logf("the span was nearly over when the PBX went (a loaded machine): the sweep bound is not checked")
	case final.Billsec >= sweep:
		t.Errorf("billsec %d: want the talk until the PBX went, not until the sweep (>= %d)", final.Billsec, sweep)
	}
	if got := int(math.Round(talkTo(*final.EndedAt))); abs(got-final.Billsec) > 1 {
		t.Errorf("billsec %d, but connected→ended is %d PBX s", final.Billsec, got)
	}
	rf, _ := r.wait(ringing)
	checkFinal(t, rf, callback.StateFailed, callback.ReasonPBXLost)
	if rf.Billsec != 0 {
		t.Errorf("ringing call: billsec %d, want 0", rf.Billsec)
	}
	for _, id := range []string{talking, ringing} {
		if got := r.stored(id); got.Reason != callback.ReasonPBXLost {
			t.Errorf("stored %s: %s/%s", id, got.State, got.Reason)
		}
	}
	if st := r.e.Stats(); st.Live != 0 || st.Active != 0 {
		t.Errorf("after both ended: live %d, active %d; want 0, 0 (slots freed)", st.Live, st.Active)
	}
}

// TestNodeNeverComesBackCDRs: the PBX lives on but the engine's link to
// it is lost for good; the call ends on the PBX meanwhile and its CDR rows
// reach the cdr table (Asterisk's own table backend, --cdr-source table). Past
// the span, the call is settled from those rows: completed / callee_hangup
// with the talk time they carry, not pbx_lost.
func TestNodeNeverComesBackCDRs(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	// The PBX's database CDR backend (pbxcdr, as the kit's Asterisk with
	// --cdr-source table) writes into the rig's store once it exists.
	late := &lateStore{}
	pw := pbxcdr.New(late, testLogger(t), nil)
	r := newRig(t, e2eConfig(func(c *Config) {
		c.Limit, c.PBXTimeScale, c.LostSpan = 300*time.Second, lostScale, time.Nanosecond
	}), sandbox.Config{TimeScale: lostScale, CDRSink: pw.Sink})
	r.stopCDRs() // only the PBX's own rows: no monitor of AMI Cdr events
	late.DB = r.st
	go pw.Run(r.ctx)
	// The rig's engine stays on the healthy link, idle; a second engine,
	// on the same store, follows the call through a link
	// that first goes deaf (its events are dropped: the call's end is
	// never seen) and then is cut for good.
	dp := newLinkProxy(t, r.sbAddr)
	client := r.dialAMIAt(dp.l.Addr().String())
	cfg := r.cfg
	cfg.Logger = testLogger(t)
	e, err := New(cfg, client, r.st)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(r.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(r.ctx) })
	r.e = e

	id := r.place("13800001001", shortCallee) // the callee hangs up after 30 s (1.5 s)
	r.waitState(id, callback.StateConnected)
	dp.deafen()
	r.pbxCDRs(id)    // the call ended on the PBX; the engine did not hear it
	dp.setDown(true) // and now the link is gone for good
	dp.cut()

	final, _ := r.wait(id)
	checkFinal(t, final, callback.StateCompleted, callback.ReasonCalleeHangup)
	if final.Billsec != 30 {
		t.Errorf("billsec %d, want the 30 s of its CDR", final.Billsec)
	}
	if st := e.Stats(); st.Live != 0 || st.Active != 0 {
		t.Errorf("live %d, active %d; want 0, 0", st.Live, st.Active)
	}
}

// shortCallee's friend hangs up 30 PBX s after answering (test-number plan).
const shortCallee = "13855552030"

// lateStore is the PBX CDR backend's store, set once the rig has opened it.
type lateStore struct{ *store.DB }

// pbxCDRs waits until the PBX has written a CDR row of call id that tells
// how it ended.
func (r *rig) pbxCDRs(id string) {
	r.t.Helper()
	for {
		rows, err := r.st.CallCDRs(r.ctx, id)
		if _, ok := outcomeFromCDRs(id, rows, 300_000); ok && err == nil {
			return
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("request %s: no CDR rows from the PBX (%d, %v)", id, len(rows), err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
