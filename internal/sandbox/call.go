package sandbox

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

// Prompt lengths in simulated time, measured in the fixtures (Newexten
// Playback → PLAYBACKSTATUS); SystemBusy and InvalidNumber are not in the
// original set and get a typical length.
var promptLength = map[callback.Prompt]time.Duration{
	callback.PromptWelcome:       3488 * time.Millisecond,
	callback.PromptTimeoutHangup: 2132 * time.Millisecond,
	callback.PromptPartnerHangup: 2610 * time.Millisecond,
	callback.PromptPartnerAway:   1922 * time.Millisecond,
	callback.PromptPartnerBusy:   1494 * time.Millisecond,
	callback.PromptSystemBusy:    2000 * time.Millisecond,
	callback.PromptInvalidNumber: 2000 * time.Millisecond,
	// Consent prompts (deploy/sounds/en, rounded).
	callback.PromptConfirmCall:    2586 * time.Millisecond,
	callback.PromptNoConfirm:      4027 * time.Millisecond,
	callback.PromptCalleeAnnounce: 3739 * time.Millisecond,
	callback.PromptCalleeChoice:   5255 * time.Millisecond,
	callback.PromptOptedOut:       3219 * time.Millisecond,
}

// Fallbacks of the dialplan when a WCB_* variable is missing or not a
// number after FILTER(): a free call never runs without a limit.
const (
	defaultLimitMS = int(wcbproto.DefaultCallLimit / time.Millisecond)
	defaultWarnMS  = int(wcbproto.DefaultCallWarning / time.Millisecond)
	defaultRingS   = int(wcbproto.DefaultRing / time.Second)
)

// originate is a validated Originate action.
type originate struct {
	actionID  string
	channel   string // as requested: "PJSIP/13800001001@gateway"
	number    string // the caller's digits
	cidNum    string
	cidName   string
	timeout   time.Duration // simulated
	channelID string
	vars      []ami.Header // Variable: headers, in order
	async     bool
	// result receives the outcome of a synchronous Originate once the
	// caller answered or the attempt failed.
	result chan bool
}

// interruption is what ended a wait early.
type interruption int

const (
	intrNone     interruption = iota
	intrCaller                // the caller's leg hung up (BYE or AMI Hangup)
	intrCallee                // the callee's leg hung up
	intrShutdown              // the server is closing
)

// hangupReq is a hangup asked for by the Hangup action.
type hangupReq struct{ cause int }

// call is one originated call, run by one goroutine from Originate to the
// caller leg's Hangup. Its channels' fields are changed under Server.mu.
type call struct {
	s   *Server
	req originate

	caller, callee *channel
	vars           map[string]string // WCB_* after FILTER()

	amiCaller, amiCallee chan hangupReq // Hangup action on a leg
	coreStopped          bool           // "core stop now" hung it up (Server.StopNow)
	callerBye, calleeBye time.Time      // simulated time the far end sends BYE; zero = never
	// Set when an interruption is taken: cause and how it came (AMI
	// Hangup is a SoftHangupRequest, a BYE a HangupRequest).
	lastCause int
	lastByAMI bool

	// now is the call's own simulated time. It advances by exactly the
	// durations the call waits, so timer jitter at a small time scale
	// never shows in CDR durations or ANSWEREDTIME.
	now   time.Time
	start time.Time // wall clock when the call started: the origin of now

	hangupCause int // ${HANGUPCAUSE} of the caller channel
	techCause   int // SIP status behind hangupCause, 0 if none

	answered   bool   // the caller answered
	dialStatus string // how Dial ended ("" if it never returned)

	rows []*cdrRow // finished CDR rows, emitted when the caller leg ends
	row  *cdrRow   // the open row
	// userfieldSet: the dialplan set CDR(userfield) itself (WCB_USERFIELD),
	// so the h extension leaves it.
	userfieldSet bool
	// announcing: the callee answered and is in the announcement (U()),
	// not yet bridged. refused: the announcement ended without the callee's
	// 1 (asterisk.RefusedOptOut, RefusedNoKey, or "gone": it hung up).
	announcing bool
	refused    string

	connected time.Time // the callee's answer (Dial's U() stamp); zero if none
}

// interrupt delivers an AMI Hangup to the call. Never blocks.
func (c *call) interrupt(ch *channel, cause int) {
	target := c.amiCaller
	if ch == c.callee {
		target = c.amiCallee
	}
	select {
	case target <- hangupReq{cause}:
	default: // one is already pending
	}
}

// wait lets d of simulated time pass, unless a leg hangs up first.
func (c *call) wait(d time.Duration) interruption {
	s := c.s
	start := c.now
	deadline := start.Add(d)
	kind := intrNone
	if !c.callerBye.IsZero() && c.callerBye.Before(deadline) {
		deadline, kind = c.callerBye, intrCaller
	}
	if !c.calleeBye.IsZero() && c.calleeBye.Before(deadline) && c.callee != nil {
		deadline, kind = c.calleeBye, intrCallee
	}
	began := time.Now()
	t := time.NewTimer(s.clock.Real(deadline.Sub(start)))
	defer t.Stop()
	// elapsed is where an early interruption lands in the call's time.
	elapsed := func() {
		d := time.Duration(float64(time.Since(began)) / s.clock.scale)
		c.now = start.Add(min(d, deadline.Sub(start)))
	}
	select {
	case <-t.C:
		c.now = deadline
		switch kind {
		case intrCaller:
			c.callerBye = time.Time{}
			c.lastCause, c.lastByAMI = wcbproto.CauseNormalClearing, false
		case intrCallee:
			c.calleeBye = time.Time{}
			c.lastCause, c.lastByAMI = wcbproto.CauseNormalClearing, false
		}
		return kind
	case h := <-c.amiCaller:
		elapsed()
		c.lastCause, c.lastByAMI = h.cause, true
		return intrCaller
	case h := <-c.amiCallee:
		elapsed()
		c.lastCause, c.lastByAMI = h.cause, true
		return intrCallee
	case <-s.done:
		return intrShutdown
	case <-s.stopNow:
		// "core stop now": Asterisk soft-hangs-up every channel, cause 16,
		// as an AMI Hangup would; a bridged call has its own order
		// (stopBridged).
		elapsed()
		c.coreStopped = true
		c.lastCause, c.lastByAMI = wcbproto.CauseNormalClearing, true
		return intrCaller
	}
}

// emit sends an event; the caller holds s.mu.
func (c *call) emit(class eventClass, m *ami.Message) { c.s.emitLocked(class, m) }

// app runs one dialplan priority on ch: Newexten, and the CDR's last
// application. The caller holds s.mu.
func (c *call) appLocked(ch *channel, app, data string) {
	ch.app, ch.appData = app, data
	if c.s.wantsLocked(classDialplan) {
		c.emit(classDialplan, event("Newexten", classDialplan, ch, nil,
			"Extension", ch.exten, "Application", app, "AppData", data))
	}
	if ch == c.caller && c.row != nil && (ch.exten != "h" || c.row.dst == "h") {
		c.row.lastApp, c.row.lastData = app, data
	}
}

// next moves ch to its next priority.
func (c *call) nextLocked(ch *channel, app, data string) {
	ch.priority++
	c.appLocked(ch, app, data)
}

func (c *call) varSetLocked(ch *channel, name, value string) {
	if !c.s.wantsLocked(classDialplan) {
		return
	}
	c.emit(classDialplan, event("VarSet", classDialplan, ch, nil, "Variable", name, "Value", value))
}

// userEventLocked emits the dialplan's UserEvent(WebCallback,...) on ch.
func (c *call) userEventLocked(ch *channel, stage string, kv ...string) {
	data := wcbproto.UserEvent + "," + wcbproto.HeaderID + ": " + c.vars[wcbproto.VarID] + "," + wcbproto.HeaderStage + ": " + stage
	for i := 0; i+1 < len(kv); i += 2 {
		data += "," + kv[i] + ": " + kv[i+1]
	}
	c.nextLocked(ch, "UserEvent", data)
	m := event("UserEvent", classUser, ch, nil, "UserEvent", wcbproto.UserEvent,
		wcbproto.HeaderID, c.vars[wcbproto.VarID], wcbproto.HeaderStage, stage)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	c.emit(classUser, m)
}

// hangupLocked ends a channel: Hangup event, CDR rows if it is the caller,
// device state.
func (c *call) hangupLocked(ch *channel, cause, tech int) {
	kv := []string{"Cause", strconv.Itoa(cause), "Cause-txt", causeText(cause)}
	if tech != 0 {
		kv = append(kv, "TechCause", strconv.Itoa(tech))
	}
	c.emit(classCall, event("Hangup", classCall, ch, nil, kv...))
	c.s.removeChannelLocked(ch)
	c.s.updateDeviceStateLocked()
}

// hangupRequestLocked reports the far end's BYE/CANCEL/final response
// (HangupRequest) or an AMI hangup (SoftHangupRequest).
func (c *call) hangupRequestLocked(ch *channel, byAMI bool, cause, tech int) {
	name := "HangupRequest"
	if byAMI {
		name = "SoftHangupRequest"
	}
	var kv []string
	if cause != 0 {
		kv = append(kv, "Cause", strconv.Itoa(cause))
	}
	if tech != 0 {
		kv = append(kv, "TechCause", strconv.Itoa(tech))
	}
	c.emit(classCall, event(name, classCall, ch, nil, kv...))
}

// run plays the whole call.
func (c *call) run() {
	defer c.s.calls.Done()
	c.start = time.Now()
	c.now = c.start
	if c.ringCaller() {
		c.dialplan()
	}
	// One line per call for whoever watches the sandbox: no numbers (real
	// visitors' numbers reach the sandbox when serve runs without --ami).
	c.s.log.Info("sandbox call ended", "uniqueid", c.caller.uniqueid, "answered", c.answered, "stopped", c.coreStopped,
		"dial_status", c.dialStatus, "cause", c.hangupCause, "simulated", c.now.Sub(c.start).Round(time.Millisecond))
}

// admitLocked applies the trunk's capacity and call-rate limit to a new
// channel. The caller holds s.mu.
func (s *Server) admitLocked() bool {
	if s.cfg.MaxChannels > 0 && len(s.chans) >= s.cfg.MaxChannels {
		return false
	}
	return s.rate.allow(s.clock.Sim())
}

// ringCaller places the originate leg. It reports whether the caller
// answered; otherwise the call is over.
func (c *call) ringCaller() bool {
	s := c.s
	far := plan(c.req.number)
	s.mu.Lock()
	admitted := s.admitLocked()
	ch := s.newChannelLocked(c, c.req.channelID, "")
	c.caller = ch
	ch.dialed = c.req.number
	c.row = &cdrRow{start: ch.created, lastApp: "AppDial2", lastData: "(Outgoing Line)"}
	c.appLocked(ch, "AppDial2", "(Outgoing Line)")
	// Asterisk sets the Originate's variables in reverse order.
	for i := len(c.req.vars) - 1; i >= 0; i-- {
		c.varSetLocked(ch, c.req.vars[i].Key, c.req.vars[i].Value)
	}
	if c.req.cidNum != "" || c.req.cidName != "" {
		ch.cidNum, ch.cidName = c.req.cidNum, c.req.cidName
		c.emit(classCall, event("NewCallerid", classCall, ch, nil, "CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
		ch.connNum, ch.connName = c.req.cidNum, c.req.cidName
		c.emit(classCall, event("NewConnectedLine", classCall, ch, nil))
	}
	c.emit(classCall, event("DialBegin", classCall, nil, ch, "DialString", c.req.number+"@"+s.cfg.Trunk))
	if !admitted {
		// The carrier answers 503 at once: no 180.
		s.mu.Unlock()
		c.callerFailed(wcbproto.CauseCongestion, 503)
		return false
	}
	s.setStateLocked(ch, stateRinging)
	c.emit(classCall, event("Newstate", classCall, ch, nil))
	c.emit(classCall, event("DialState", classCall, nil, ch, "DialStatus", "RINGING"))
	s.updateDeviceStateLocked()
	s.mu.Unlock()

	ring := far.RingFor
	timedOut := c.req.timeout < ring
	if timedOut {
		ring = c.req.timeout
	}
	switch c.wait(ring) {
	case intrCaller:
		c.callerCanceled()
		return false
	case intrShutdown:
		c.shutdown()
		return false
	}
	switch {
	case timedOut:
		c.callerNoAnswer()
		return false
	case !far.Answer:
		c.callerFailed(far.Cause, far.SIP)
		return false
	}

	s.mu.Lock()
	s.setStateLocked(ch, stateUp)
	c.row.answer = c.now
	c.answered = true
	c.emit(classCall, event("Newstate", classCall, ch, nil))
	c.emit(classCall, event("DialEnd", classCall, nil, ch, "DialStatus", "ANSWER"))
	// Real Asterisk sends OriginateResponse either just before or just
	// after the dialplan's first step (fixtures README §5); the seed picks.
	early := s.rng.IntN(2) == 0
	if early {
		c.originateSucceededLocked()
	}
	ch.context, ch.exten, ch.priority = wcbproto.Context, wcbproto.Exten, 0
	c.varsFromOriginate()
	c.nextLocked(ch, "Set", wcbproto.VarID+"="+c.vars[wcbproto.VarID])
	s.updateDeviceStateLocked()
	if !early {
		c.originateSucceededLocked()
	}
	s.mu.Unlock()
	if far.HangupAfter > 0 {
		c.callerBye = c.row.answer.Add(far.HangupAfter)
	}
	return true
}

func (c *call) originateSucceededLocked() {
	if !c.req.async {
		c.req.result <- true
		return
	}
	ch := c.caller
	c.emit(classCall, ami.NewMessage("Event", "OriginateResponse", "Privilege", classCall.privilege(),
		"ActionID", c.req.actionID, "Response", "Success", "Channel", ch.name,
		"Context", wcbproto.Context, "Exten", wcbproto.Exten, "Reason", "4", "Uniqueid", ch.uniqueid,
		"CallerIDNum", orUnknown(c.req.cidNum), "CallerIDName", orUnknown(c.req.cidName)))
}

func (c *call) originateFailedLocked(reason int) {
	if !c.req.async {
		c.req.result <- false
		return
	}
	c.emit(classCall, ami.NewMessage("Event", "OriginateResponse", "Privilege", classCall.privilege(),
		"ActionID", c.req.actionID, "Response", "Failure", "Channel", c.req.channel,
		"Context", wcbproto.Context, "Exten", wcbproto.Exten, "Reason", strconv.Itoa(reason), "Uniqueid", "<unknown>",
		"CallerIDNum", orUnknown(c.req.cidNum), "CallerIDName", orUnknown(c.req.cidName)))
}

// callerFailed: the caller's leg got a final failure response. Order as in
// fixtures caller-busy-direct (486) and caller-503-direct (503).
func (c *call) callerFailed(cause, sip int) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := c.caller
	status := dialStatus(cause)
	c.hangupCause, c.techCause = cause, sip
	c.hangupRequestLocked(ch, false, cause, sip)
	if status == "CONGESTION" {
		c.emit(classCall, event("DialEnd", classCall, nil, ch, "DialStatus", status))
		c.originateFailedLocked(0)
		c.closeRowLocked(disposition(status))
		c.emitCDRsLocked()
		c.hangupLocked(ch, cause, sip)
		return
	}
	c.originateFailedLocked(0)
	c.emit(classCall, event("DialEnd", classCall, nil, ch, "DialStatus", status))
	c.hangupLocked(ch, cause, sip)
	c.closeRowLocked(disposition(status))
	c.emitCDRsLocked()
}

// callerNoAnswer: the Originate timeout ran out while the caller's phone
// rang (fixture caller-noanswer-direct: no DialEnd; Reason 3; cause 19/480).
func (c *call) callerNoAnswer() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c.originateFailedLocked(3)
	c.hangupCause = wcbproto.CauseNoAnswer
	c.hangupLocked(c.caller, wcbproto.CauseNoAnswer, 480)
	c.closeRowLocked("NO ANSWER")
	c.emitCDRsLocked()
}

// callerCanceled: an AMI Hangup of the ringing originate leg.
func (c *call) callerCanceled() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := c.caller
	cause := c.lastCause
	if cause == 0 {
		cause = wcbproto.CauseNormalClearing
	}
	c.hangupRequestLocked(ch, true, c.lastCause, 0)
	c.emit(classCall, event("DialEnd", classCall, nil, ch, "DialStatus", "CANCEL"))
	c.originateFailedLocked(1)
	c.hangupCause = cause
	c.hangupLocked(ch, cause, 0)
	c.closeRowLocked("NO ANSWER")
	c.emitCDRsLocked()
}

// shutdown drops the call's channels silently when the server closes.
func (c *call) shutdown() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.req.async {
		select {
		case c.req.result <- false:
		default:
		}
	}
	for _, ch := range []*channel{c.callee, c.caller} {
		if ch != nil && !ch.gone {
			s.removeChannelLocked(ch)
		}
	}
}

// varsFromOriginate reads the WCB_* variables as the dialplan's FILTER()
// calls leave them.
func (c *call) varsFromOriginate() {
	raw := map[string]string{}
	for _, v := range c.req.vars {
		// "_X" and "__X" set X, inherited by the channels it creates.
		raw[strings.TrimLeft(v.Key, "_")] = v.Value
	}
	c.vars = map[string]string{}
	for _, name := range wcbproto.Vars {
		c.vars[name] = filter(filterSet(name), raw[name])
	}
}

// filterSet is the FILTER() character class the dialplan applies to a
// variable: digits for numbers and times, the UUID alphabet for the id,
// lower-case letters for tokens.
func filterSet(name string) string {
	switch name {
	case wcbproto.VarID:
		return "0-9a-f-"
	case wcbproto.VarLang, wcbproto.VarWarnCallee:
		return "a-z"
	}
	return "0-9"
}

// filter is the dialplan function FILTER(set,value) for the sets above.
func filter(set, v string) string {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		ch := v[i]
		ok := false
		switch set {
		case "0-9":
			ok = ch >= '0' && ch <= '9'
		case "0-9a-f-":
			ok = ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' || ch == '-'
		case "a-z":
			ok = ch >= 'a' && ch <= 'z'
		}
		if ok {
			b = append(b, ch)
		}
	}
	return string(b)
}

// newBridgeID returns a bridge or call id from the seeded generator.
func (s *Server) newUUIDLocked() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.rng.UintN(256))
	}
	u, _ := uuid.FromBytes(b[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}
