package callflow

import (
	"bytes"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/sandbox"
	"webcallback/internal/store"
	"webcallback/internal/wcbproto"
)

// amiTap is a second AMI session on the rig's sandbox PBX that keeps every
// byte Asterisk would send about the calls (all event classes, the
// dialplan's Newexten and VarSet included).
type amiTap struct {
	t   *testing.T
	nc  net.Conn
	r   *ami.Reader
	raw bytes.Buffer
}

func newAMITap(t *testing.T, addr string) *amiTap {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	tap := &amiTap{t: t, nc: nc}
	tap.r = ami.NewReader(ioTee{nc, &tap.raw})
	if _, err := tap.r.ReadBanner(); err != nil {
		t.Fatal(err)
	}
	b, _ := ami.NewMessage("Action", "Login", "ActionID", "tap", "Username", amiUser, "Secret", amiSecret, "Events", "on").AppendTo(nil)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	tap.until(func(m *ami.Message) bool { return m.Event() == "FullyBooted" })
	return tap
}

type ioTee struct {
	r   net.Conn
	buf *bytes.Buffer
}

func (t ioTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

// until reads messages until one matches, returning them all.
func (tap *amiTap) until(match func(*ami.Message) bool) []*ami.Message {
	tap.t.Helper()
	var all []*ami.Message
	for {
		m, err := tap.r.ReadMessage()
		if err != nil {
			tap.t.Fatalf("tap: %v", err)
		}
		all = append(all, m)
		if match(m) {
			return all
		}
	}
}

// callOf reads the tap until the caller leg of request id hung up.
func (tap *amiTap) callOf(id string) []*ami.Message {
	return tap.until(func(m *ami.Message) bool { return m.Event() == "Hangup" && m.Get("Uniqueid") == id })
}

func consentConfig(confirm, announce bool) Config {
	return e2eConfig(func(c *Config) { c.CallerConfirm, c.CalleeAnnounce = confirm, announce })
}

// TestConsentCallerConfirms: the caller presses 1; the call goes on as
// before with the new confirming state in its history, and the time spent
// confirming is not talk time (billsec 5 for a callee who hangs up 5 s
// after answering).
func TestConsentCallerConfirms(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	for _, announce := range []bool{false, true} {
		r := newRig(t, consentConfig(true, announce), sandbox.Config{})
		id := r.place("13800001001", "13855552005")
		final, seen := r.wait(id)
		want := []callback.State{callback.StateQueued, callback.StateCallingCaller, callback.StateCallerAnswered,
			callback.StateConfirming, callback.StateCallingCallee, callback.StateConnected, callback.StateCompleted}
		var stored []callback.State
		for _, h := range r.stored(id).History {
			stored = append(stored, h.State)
		}
		if !slices.Equal(stored, want) {
			t.Errorf("announce %v: stored states %v, want %v (seen live %v)", announce, stored, want, seen)
		}
		if got := (outcome{final.State, final.Reason, final.Cause, final.Prompt}); got != (outcome{callback.StateCompleted, callback.ReasonCalleeHangup, 16, callback.PromptPartnerHangup}) {
			t.Errorf("announce %v: outcome %+v", announce, got)
		}
		if final.Billsec != 5 {
			t.Errorf("announce %v: billsec %d, want 5 (from the callee's answer/acceptance)", announce, final.Billsec)
		}
	}
}

// TestConsentNoConfirm: a caller who never presses a key (1388888) and one
// who presses another key (1389999 as a caller) end failed/caller_no_confirm
// with the goodbye prompt; the callee is never dialled (no Dial on the
// wire, no second channel), the CDR keeps the cause, and after two of them
// the caller number is refused for the rest of the day.
func TestConsentNoConfirm(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, consentConfig(true, false), sandbox.Config{})
	tap := newAMITap(t, r.sbAddr)
	for _, caller := range []string{"13888881001", "13899991001"} {
		id := r.place(caller, "13800002002")
		final, seen := r.wait(id)
		if got := (outcome{final.State, final.Reason, final.Cause, final.Prompt}); got != (outcome{callback.StateFailed, callback.ReasonCallerNoConfirm, 16, callback.PromptNoConfirm}) {
			t.Errorf("%s: outcome %+v (states %v)", caller, got, seen)
		}
		if slices.Contains(seen, callback.StateCallingCallee) || final.ConnectedAt != nil || final.Billsec != 0 {
			t.Errorf("%s: the callee was rung: states %v, %+v", caller, seen, final)
		}
		msgs := tap.callOf(id)
		channels := map[string]bool{}
		for _, m := range msgs {
			if m.Get("Linkedid") == id && m.Event() == "Newchannel" {
				channels[m.Get("Uniqueid")] = true
			}
			if m.Event() == "DialBegin" && m.Get("Uniqueid") == id || m.Event() == "Newexten" && m.Get("Application") == "Dial" {
				t.Errorf("%s: the callee was dialled: %v", caller, m)
			}
		}
		if len(channels) != 1 {
			t.Errorf("%s: %d channels in the call, want only the caller's", caller, len(channels))
		}
		if bytes.Contains(tap.raw.Bytes(), []byte("DialString: 13800002002")) {
			t.Errorf("%s: a Dial of the callee is on the wire", caller)
		}
		rows := r.cdrs(id, 1)
		if uf := rows[0].UserField; !strings.HasSuffix(uf, wcbproto.UserfieldIDPrefix+id+wcbproto.UserfieldConsentPrefix+string(callback.ReasonCallerNoConfirm)) {
			t.Errorf("%s: CDR userfield %q", caller, uf)
		}
	}

	// Two unconfirmed calls of one number a day: 13888881001 has one above,
	// may try once more, and is refused after that until tomorrow.
	rules := &store.Rules{CallerNoConfirmPerDay: 2}
	for i, want := range []bool{true, false} {
		req := newRequest("13888881001", "1380000300"+string(rune('0'+i)))
		d, err := r.st.Admit(r.ctx, req, rules, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != want || !want && (d.Rule != store.RuleCallerNoConfirmPerDay || d.RetryAt.IsZero()) {
			t.Errorf("request %d of 13888881001: %+v, want allowed=%v", i+2, d, want)
		}
		if d.Allowed {
			if err := r.e.Submit(r.ctx, req); err != nil {
				t.Fatal(err)
			}
			if f, _ := r.wait(req.ID); f.Reason != callback.ReasonCallerNoConfirm {
				t.Fatalf("outcome %+v", f)
			}
			r.stored(req.ID)
		}
	}
	// Another caller number is not affected.
	if d, err := r.st.Admit(r.ctx, newRequest("13800001002", "13800003009"), rules, time.Now()); err != nil || !d.Allowed {
		t.Errorf("another caller: %+v %v", d, err)
	}
}

// newRequest is a queued request as the policy makes one.
func newRequest(caller, callee string) *callback.Request {
	now := time.Now()
	return &callback.Request{ID: uuid.NewString(), Caller: "+86" + caller, Callee: "+86" + callee,
		CallerDial: caller, CalleeDial: callee, Lang: "en", State: callback.StateQueued, CreatedAt: now,
		History: []callback.Transition{{State: callback.StateQueued, At: now}}}
}

// TestConsentCalleeOptsOut: the callee (1389999) hears the announcement
// and presses 9: failed/callee_opted_out, the callee is on the do-not-call
// list, the next request to it is refused without ringing anyone, and once
// an admin removed the entry it is allowed again. A callee who presses
// nothing (1388888) is a callee who did not answer.
func TestConsentCalleeOptsOut(t *testing.T) {
	t.Parallel() // a rig of its own: see TestMain
	r := newRig(t, consentConfig(false, true), sandbox.Config{})
	id := r.place("13800001001", "13899992002")
	final, seen := r.wait(id)
	if got := (outcome{final.State, final.Reason, final.Cause, final.Prompt}); got != (outcome{callback.StateFailed, callback.ReasonCalleeOptedOut, 16, callback.PromptPartnerAway}) {
		t.Errorf("outcome %+v (states %v)", got, seen)
	}
	if slices.Contains(seen, callback.StateConnected) || final.ConnectedAt != nil {
		t.Errorf("connected before the callee accepted: %v", seen)
	}
	r.stored(id)
	list, err := r.st.ListDoNotCall(r.ctx, 100, 0)
	if err != nil || len(list) != 1 || list[0].Number != "+8613899992002" || list[0].RequestID != id {
		t.Fatalf("do-not-call list %+v %v", list, err)
	}
	rows := r.cdrs(id, 2)
	found := false
	for _, row := range rows {
		found = found || strings.HasSuffix(row.UserField, wcbproto.UserfieldConsentPrefix+string(callback.ReasonCalleeOptedOut))
	}
	if !found {
		t.Errorf("no CDR row keeps the opt-out: %+v", rows)
	}

	before := r.proxy.originates.Load()
	d, err := r.st.Admit(r.ctx, newRequest("13800001009", "13899992002"), nil, time.Now())
	if err != nil || d.Allowed || d.Rule != store.RuleCalleeOptedOut {
		t.Errorf("request to an opted-out callee: %+v %v", d, err)
	}
	if n := r.proxy.originates.Load(); n != before {
		t.Errorf("%d Originates for a refused request", n-before)
	}
	if err := r.st.DeleteDoNotCall(r.ctx, "+8613899992002"); err != nil {
		t.Fatal(err)
	}
	if d, err := r.st.Admit(r.ctx, newRequest("13800001009", "13899992002"), nil, time.Now()); err != nil || !d.Allowed {
		t.Errorf("after the admin removed the entry: %+v %v", d, err)
	}

	id = r.place("13800001001", "13888882002")
	final, seen = r.wait(id)
	if got := (outcome{final.State, final.Reason, final.Cause, final.Prompt}); got != (outcome{callback.StateFailed, callback.ReasonCalleeNoAnswer, 19, callback.PromptPartnerAway}) {
		t.Errorf("callee pressing nothing: outcome %+v (states %v)", got, seen)
	}
	r.stored(id)
	if list, _ := r.st.ListDoNotCall(r.ctx, 100, 0); len(list) != 0 {
		t.Errorf("do-not-call list %+v, want empty", list)
	}
}
