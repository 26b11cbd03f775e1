package callflow

import (
	"context"
	"fmt"

	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"webcallback/ami"

	"webcallback/internal/callback"
	"webcallback/internal/sandbox"
	"webcallback/internal/testenv"
)

// linkProxy sits between the AMI client and the sandbox PBX on loopback so a
// test can cut the TCP link (as a network drop does) and count the
// Originates that crossed it.
type linkProxy struct {
	l          net.Listener
	target     string
	mu         sync.Mutex
	conns      []net.Conn
	down       bool
	deaf       bool // what the PBX sends is dropped (events lost, the link up)
	originates atomic.Int64
}

func newLinkProxy(t testing.TB, target string) *linkProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.cut() })
	go p.accept()
	return p
}

func (p *linkProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { p.relay(c, s); c.Close() }()
		go func() { p.copyCounting(s, c); s.Close() }()
	}
}

// copyCounting copies client → server, counting "Action: Originate" lines.
func (p *linkProxy) copyCounting(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	var tail []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := append(tail, buf[:n]...)
			p.originates.Add(int64(bytes.Count(chunk, []byte("Action: Originate\r\n"))))
			if k := len("Action: Originate\r\n") - 1; len(chunk) > k {
				tail = append([]byte(nil), chunk[len(chunk)-k:]...)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// relay copies server → client, dropping what comes while deaf.
func (p *linkProxy) relay(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		deaf := p.deaf
		p.mu.Unlock()
		if n > 0 && !deaf {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// deafen drops what the PBX sends from now on: its events are lost while
// the link stays up.
func (p *linkProxy) deafen() {
	p.mu.Lock()
	p.deaf = true
	p.mu.Unlock()
}

// cut drops every connection; setDown keeps new ones out.
func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *linkProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// waitState waits until the request reaches state s and returns the
// snapshot; it fails the test if the request ends first.
func (r *rig) waitState(id string, s callback.State) *callback.Request {
	r.t.Helper()
	snap, _ := r.follow(id, func(snap *callback.Request) bool {
		if snap.State != s && snap.State.Final() {
			r.t.Fatalf("request %s ended (%s/%s) before %s", id, snap.State, snap.Reason, s)
		}
		return snap.State == s
	})
	return snap
}

func checkFinal(t *testing.T, got *callback.Request, state callback.State, reason callback.Reason) {
	t.Helper()
	if got.State != state || got.Reason != reason {
		t.Fatalf("request %s: %s/%s (cause %d), want %s/%s", got.ID, got.State, got.Reason, got.Cause, state, reason)
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	t.Run("N+1th request is system_busy at once", func(t *testing.T) {
		r := newRig(t, e2eConfig(func(c *Config) { c.MaxConcurrent, c.QueueSize, c.Limit = 2, 0, 300*time.Second }), sandbox.Config{})
		a := r.place("13800001001", "13800002002")
		b := r.place("13800001002", "13800002003")
		extra := r.admit("13800001003", "13800002004")
		if err := r.e.Submit(r.ctx, extra); !errors.Is(err, callback.ErrSystemBusy) {
			t.Fatalf("third Submit: %v, want ErrSystemBusy", err)
		}
		checkFinal(t, r.stored(extra.ID), callback.StateRejected, callback.ReasonSystemBusy)
		for _, id := range []string{a, b} {
			r.waitState(id, callback.StateConnected)
			if err := r.e.Cancel(r.ctx, id, callback.ReasonAdmin); err != nil {
				t.Fatal(err)
			}
			final, _ := r.wait(id)
			checkFinal(t, final, callback.StateCanceled, callback.ReasonAdmin)
		}
		// Slots are free again.
		c := r.place("13800001004", "13811112002")
		final, _ := r.wait(c)
		checkFinal(t, final, callback.StateFailed, callback.ReasonCalleeBusy)
	})
	t.Run("beyond slots and queue places: system_busy at once", func(t *testing.T) {
		r := newRig(t, e2eConfig(func(c *Config) {
			c.MaxConcurrent, c.QueueSize, c.QueueWait, c.Limit = 1, 1, time.Minute, 300*time.Second
		}), sandbox.Config{})
		a := r.place("13800001001", "13800002002")
		b := r.place("13800001002", "13800002003") // waits for a's slot
		extra := r.admit("13800001003", "13800002004")
		if err := r.e.Submit(r.ctx, extra); !errors.Is(err, callback.ErrSystemBusy) {
			t.Fatalf("Submit beyond the queue: %v, want ErrSystemBusy", err)
		}
		if got := r.e.Stats(); got.Active+got.Queued != 2 {
			t.Fatalf("active %d + queued %d; want 2", got.Active, got.Queued)
		}
		r.e.Cancel(r.ctx, a, callback.ReasonAdmin)
		r.wait(a)
		r.waitState(b, callback.StateConnected) // a's slot went to b
		r.e.Cancel(r.ctx, b, callback.ReasonAdmin)
		r.wait(b)
	})
	t.Run("queued request past the maximum wait is system_busy", func(t *testing.T) {
		r := newRig(t, e2eConfig(func(c *Config) {
			c.MaxConcurrent, c.QueueSize, c.QueueWait, c.Limit = 1, 1, 30*time.Millisecond, 300*time.Second
		}), sandbox.Config{})
		a := r.place("13800001001", "13800002002") // holds the slot for 1.5 s
		b := r.place("13800001002", "13800002003")
		final, seen := r.wait(b)
		checkFinal(t, final, callback.StateRejected, callback.ReasonSystemBusy)
		if len(seen) != 2 {
			t.Errorf("queued request went through %v; want queued → rejected", seen)
		}
		r.e.Cancel(r.ctx, a, callback.ReasonAdmin)
		r.wait(a)
	})
	t.Run("visitor cancels while queued", func(t *testing.T) {
		r := newRig(t, e2eConfig(func(c *Config) { c.MaxConcurrent, c.QueueSize, c.Limit = 1, 5, 300*time.Second }), sandbox.Config{})
		a := r.place("13800001001", "13800002002")
		b := r.place("13800001002", "13800002003")
		if err := r.e.Cancel(r.ctx, b, callback.ReasonVisitor); err != nil {
			t.Fatal(err)
		}
		final, _ := r.wait(b)
		checkFinal(t, final, callback.StateCanceled, callback.ReasonVisitor)
		if final.CallerChannel != "" {
			t.Error("a canceled queued request must never have been originated")
		}
		r.e.Cancel(r.ctx, a, callback.ReasonAdmin)
		r.wait(a)
	})
}

func TestCancel(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, e2eConfig(func(c *Config) { c.Limit = 300 * time.Second }), sandbox.Config{})
	tests := []struct {
		name           string
		caller, callee string
		at             callback.State
		by             callback.Reason
		wantErr        error
		want           callback.State
		wantReason     callback.Reason
	}{
		{"visitor while the caller's phone rings", "13822221001", "13800002002", callback.StateCallingCaller, callback.ReasonVisitor, nil, callback.StateCanceled, callback.ReasonVisitor},
		{"visitor while the friend's phone rings", "13800001001", "13822222002", callback.StateCallingCallee, callback.ReasonVisitor, nil, callback.StateCanceled, callback.ReasonVisitor},
		{"admin hangs up a connected call", "13800001002", "13800002002", callback.StateConnected, callback.ReasonAdmin, nil, callback.StateCanceled, callback.ReasonAdmin},
		// The page's Hang up button: the visitor ends the talk; connected_at
		// and billsec stay set.
		{"visitor hangs up a connected call", "13800001003", "13800002003", callback.StateConnected, callback.ReasonVisitor, nil, callback.StateCanceled, callback.ReasonVisitor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := r.place(tc.caller, tc.callee)
			r.waitState(id, tc.at)
			err := r.e.Cancel(r.ctx, id, tc.by)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, callback.ErrFinal) {
					t.Fatalf("Cancel = %v, want %v", err, tc.wantErr)
				}
				r.e.Cancel(r.ctx, id, callback.ReasonAdmin)
				r.wait(id)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			final, _ := r.wait(id)
			checkFinal(t, final, tc.want, tc.wantReason)
			checkFinal(t, r.stored(id), tc.want, tc.wantReason)
			if err := r.e.Cancel(r.ctx, id, tc.by); !errors.Is(err, callback.ErrFinal) {
				t.Errorf("second Cancel = %v, want ErrFinal", err)
			}
		})
	}
	if err := r.e.Cancel(r.ctx, "00000000-0000-0000-0000-000000000000", callback.ReasonVisitor); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("Cancel of an unknown id = %v, want ErrNotFound", err)
	}
}

// waitGone polls the sandbox (directly, not through the proxy) until no
// channel of the request is left.
func (r *rig) waitGone(side *ami.Client, id string) {
	r.t.Helper()
	for {
		resp, err := side.Do(r.ctx, ami.NewMessage("Action", "CoreShowChannels"))
		if err != nil {
			r.t.Fatal(err)
		}
		found := false
		for _, it := range resp.Items {
			if it.Get("Uniqueid") == id || it.Get("Linkedid") == id {
				found = true
			}
		}
		if !found {
			return
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("call %s never ended in the PBX", id)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// longCallee answers and talks until the limit: 300 s, 1.5 s at testScale.
const longCallee = "13800002002"

// twoLiveCalls starts a rig with two connected calls, long and short, and
// a client talking to the PBX directly (not through the proxy). Both
// friends would talk to the limit; the test ends the short one itself
// with hangUpCallee, at the moment it chooses (while the engine is blind,
// say), so no outcome depends on how fast the machine runs.
func twoLiveCalls(t *testing.T) (r *rig, side *ami.Client, long, short string) {
	t.Helper()
	r = newRig(t, e2eConfig(func(c *Config) { c.Limit = 300 * time.Second }), sandbox.Config{})
	side = r.dialAMIAt(r.sbAddr)
	long = r.place("13800001001", longCallee)
	short = r.place("13800001002", longCallee)
	r.waitState(long, callback.StateConnected)
	r.waitState(short, callback.StateConnected)
	return r, side, long, short
}

// hangUpCallee hangs up the friend's channel of request id in the PBX, as
// the friend putting the phone down does (cause 16), and waits until the
// call is gone from the PBX.
func (r *rig) hangUpCallee(side *ami.Client, id string) {
	r.t.Helper()
	resp, err := side.Do(r.ctx, ami.NewMessage("Action", "CoreShowChannels"))
	if err != nil {
		r.t.Fatal(err)
	}
	callee := ""
	for _, it := range resp.Items {
		if it.Get("Linkedid") == id && it.Get("Uniqueid") != id {
			callee = it.Get("Channel")
		}
	}
	if callee == "" {
		r.t.Fatalf("request %s: no friend's channel in the PBX", id)
	}
	if _, err := side.Do(r.ctx, ami.NewMessage("Action", "Hangup", "Channel", callee, "Cause", "16")); err != nil {
		r.t.Fatalf("hang up %s: %v", callee, err)
	}
	r.waitGone(side, id)
}

func TestAMIDropMidCall(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r, side, long, short := twoLiveCalls(t)

	r.proxy.setDown(true)
	r.proxy.cut()
	r.hangUpCallee(side, short) // the short call ends while the engine is blind
	// A request during the outage waits in the queue for the link (not
	// refused at once, not dropped), and is placed once it is back.
	during := r.admit("13800001003", longCallee)
	if err := r.e.Submit(r.ctx, during); err != nil {
		t.Fatal(err)
	}
	r.proxy.setDown(false)

	final, _ := r.wait(short)
	checkFinal(t, final, callback.StateFailed, callback.ReasonNetworkError)
	final, _ = r.wait(long)
	checkFinal(t, final, callback.StateCompleted, callback.ReasonLimitReached)
	r.cdrs(long, 2)
	final, _ = r.wait(during.ID)
	checkFinal(t, final, callback.StateCompleted, callback.ReasonLimitReached)
	if n := r.proxy.originates.Load(); n != 3 {
		t.Errorf("%d Originates crossed the link, want 3 (never re-sent)", n)
	}
}

func TestServiceRestartMidCall(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	for _, graceful := range []bool{false, true} {
		name := map[bool]string{false: "crash", true: "graceful shutdown"}[graceful]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, side, long, short := twoLiveCalls(t)
			first := r.e
			if graceful {
				ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
				defer cancel()
				if err := first.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
				r.stopCDRs() // as the service: the monitor stops after the engine
				late := r.admit("13800001003", longCallee)
				if err := first.Submit(r.ctx, late); !errors.Is(err, callback.ErrSystemBusy) {
					t.Fatalf("Submit after Shutdown = %v, want ErrSystemBusy", err)
				}
				if got := r.stored(late.ID); got.State != callback.StateRejected {
					t.Fatalf("late request %s", got.State)
				}
				if got, _ := r.st.GetRequest(r.ctx, long); got.State.Final() {
					t.Fatalf("Shutdown finished a live call: %s", got.State)
				}
			}
			// Admitted by the web but never submitted when the process died:
			// nothing was dialled (its history never left queued), so the
			// next start places it, once.
			orphan := r.admit("13800001004", longCallee)
			orphan.Instance = "test-1"
			if err := r.st.UpdateRequest(r.ctx, orphan); err != nil {
				t.Fatal(err)
			}
			r.client.Close() // kill -9: the process and its AMI link are gone
			r.hangUpCallee(side, short)
			r.stopCDRs() // whatever the old monitor received is stored by now
			// The short call ended unseen by an engine. If its CDRs reached
			// the store first (they race the shutdown), they tell its true
			// end; else nothing does and it is a network error.
			want, wantReason := callback.StateFailed, callback.ReasonNetworkError
			if rows, err := r.st.CallCDRs(r.ctx, short); err != nil {
				t.Fatal(err)
			} else if _, ok := outcomeFromCDRs(short, rows, int(r.cfg.Limit/time.Millisecond)); ok {
				want, wantReason = callback.StateCompleted, callback.ReasonCalleeHangup
			}

			r.startEngine() // same instance, same store: adopts both
			final, _ := r.wait(short)
			checkFinal(t, final, want, wantReason)
			final, _ = r.wait(orphan.ID)
			checkFinal(t, final, callback.StateCompleted, callback.ReasonLimitReached)
			final, _ = r.wait(long)
			checkFinal(t, final, callback.StateCompleted, callback.ReasonLimitReached)
			checkFinal(t, r.stored(long), callback.StateCompleted, callback.ReasonLimitReached)
			rows := r.cdrs(long, 2) // CDRs arriving after the restart still land
			if rows[0].RequestID != long {
				t.Errorf("CDR not tied to the request: %+v", rows[0])
			}
			if n := r.proxy.originates.Load(); n != 3 {
				t.Errorf("%d Originates, want 3 (nothing originated twice)", n)
			}
		})
	}
}

// TestCancelRightAfterSubmit cancels while the Originate may be queued, in
// flight or ringing with no channel name known yet: whichever it hits, the
// request ends canceled by the visitor and no channel is left.
func TestCancelRightAfterSubmit(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, e2eConfig(nil), sandbox.Config{})
	side := r.dialAMIAt(r.sbAddr)
	var ids []string
	for i := range 10 {
		id := r.place(fmt.Sprintf("138222210%02d", i), "13800002002") // the caller's phone rings for 30 s
		if err := r.e.Cancel(r.ctx, id, callback.ReasonVisitor); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		final, seen := r.wait(id)
		if final.State != callback.StateCanceled || final.Reason != callback.ReasonVisitor {
			t.Errorf("%s: %s/%s via %v", id, final.State, final.Reason, seen)
		}
		r.waitGone(side, id)
	}
}

// TestPBXVanishesMidCall: the PBX dies with a call in the bridge (kill -9:
// no hang-up, no CDR, the AMI link just drops) and comes back empty. The
// call is not a hang-up: it ends failed / pbx_lost, its talk time counted
// to the moment the PBX went, not through the outage to the reconnect.
// A call that ended while only the link was down (TestAMIDropMidCall)
// stays network_error: FullyBooted's Uptime tells the two apart.
func TestPBXVanishesMidCall(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, e2eConfig(func(c *Config) { c.Limit = 300 * time.Second }), sandbox.Config{})
	id := r.place("13800001001", longCallee)
	r.waitState(id, callback.StateConnected)

	r.sb.Close() // the PBX is gone: its calls with it
	held := testenv.HoldPort(t, r.sbAddr)
	// The outage lasts 400 simulated seconds (2 s at testScale), longer
	// than the talk could have been: a billsec counted to the reconnect
	// would show it.
	const outage = 2 * time.Second
	time.Sleep(outage)
	l := held.Release()
	sb := sandbox.New(sandbox.Config{Username: amiUser, Secret: amiSecret, TimeScale: testScale, Seed: 2})
	go sb.Serve(l)
	t.Cleanup(func() { sb.Close() })

	final, _ := r.wait(id)
	checkFinal(t, final, callback.StateFailed, callback.ReasonPBXLost)
	if limit := int(float64(outage) / testScale / float64(time.Second) / 2); final.Billsec >= limit {
		t.Errorf("billsec %d counts the outage (%d simulated s); want the talk until the PBX went", final.Billsec, 2*limit)
	}
}

// TestPBXCoreStopMidCall: "core stop now" on the PBX with a call in the
// bridge. The sandbox stops as real Asterisk 22 does (fixture
// kit-pbx-shutdown, checked by the sandbox's TestCoreStopNowOrder): both
// channels hang up with cause 16 and their CDRs go out BEFORE the Shutdown
// event, then the link closes. Read alone, those hang-ups say
// completed / caller_hangup; the engine holds such an end (stopHold) and
// the Shutdown that follows makes it failed / pbx_lost, with the talk
// counted to the moment the PBX hung up, and the CDR rows stored.
func TestPBXCoreStopMidCall(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, e2eConfig(func(c *Config) { c.Limit = 300 * time.Second }), sandbox.Config{})
	placed := time.Now()
	id := r.place("13800001001", longCallee)
	r.waitState(id, callback.StateConnected)
	connected := time.Now()
	time.Sleep(200 * time.Millisecond) // 40 simulated seconds of talk
	stopAt := time.Now()
	if err := r.sb.StopNow(false); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()

	final, _ := r.wait(id)
	checkFinal(t, final, callback.StateFailed, callback.ReasonPBXLost)
	// The talk lies between what the test saw: at least from when it saw
	// the call connected to when it asked the PBX to stop, at most from
	// the Originate to the stop's return (±1 s of rounding).
	sim := func(d time.Duration) int { return int(float64(d) / testScale / float64(time.Second)) }
	if lo, hi := sim(stopAt.Sub(connected))-1, sim(stopped.Sub(placed))+1; final.Billsec < lo || final.Billsec > hi {
		t.Errorf("billsec %d, want the talk until the PBX went: %d to %d", final.Billsec, lo, hi)
	}
	if got := r.stored(id); got.Reason != callback.ReasonPBXLost || got.Billsec != final.Billsec {
		t.Errorf("stored %s/%s billsec %d", got.State, got.Reason, got.Billsec)
	}
	r.cdrs(id, 2) // the rows the stopping PBX still wrote: the Dial row and the h extension's
}
