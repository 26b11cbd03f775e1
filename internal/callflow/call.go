package callflow

import (
	"strconv"
	"strings"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

// call is one request's state machine: the request snapshot plus what the
// event stream has told so far. It does no I/O, so replay tests can feed it
// real Asterisk event streams. The engine guards it with its mutex.
//
// Asterisk's event order is not stable (fixtures README §5): OriginateResponse
// comes before or after the caller leg's DialEnd, Hangup and Cdr of one
// channel in either order. So the machine only ever moves forward, collects
// facts as they come, and decides the outcome once, when the caller's leg is
// gone: that is the one event that always comes last for the call.
type call struct {
	req *callback.Request

	actionID   string // ActionID of our Originate: the only key of a failed OriginateResponse
	originated bool   // Originate accepted by Asterisk: never send another
	channel    bool   // the caller channel exists (seen in an event)

	origFailed bool // OriginateResponse: Failure
	origReason int  // its Reason: 3 = Originate timeout (caller did not answer)

	callerDialStatus string // DialEnd of the originate leg
	calleeID         string // Uniqueid of the callee leg
	calleeDialStatus string // DialEnd caller → callee
	calleeCause      int    // Cause of the callee leg's HangupRequest/Hangup
	calleeGone       bool

	dialEnd      bool // our dialplan's "dialend" UserEvent: Dial returned with the caller still up
	dialEndCause int
	talkMS       int             // its TalkMs: talk time measured by the PBX (callee answer to Dial's return)
	hasTalkMS    bool            // the dialend event carried TalkMs (a dialplan older than TalkMs does not)
	prompt       callback.Prompt // from the "prompt" UserEvent: what the caller actually hears
	hangupUE     bool
	firstHangup  string // "caller" or "callee": who asked to hang up first while connected

	// Consent (--caller-confirm, --callee-announce).
	announce  bool // the call was placed with the callee's announcement: the callee's answer is not yet the connection
	noConfirm bool // "noconfirm" UserEvent: the caller did not press 1
	optedOut  bool // "optout" UserEvent: the callee pressed 9

	cancelBy callback.Reason // visitor or admin asked to end it
	limitMS  int             // talk limit the call was placed with
	scale    float64         // wall-clock seconds per PBX second (Config.PBXTimeScale)
	talkEnd  time.Time       // the bridge ended: callee leg gone or Dial returned

	// Engine bookkeeping.
	slot        bool              // holds an admission slot
	gated       bool              // holds a service-wide slot (Config.Gate)
	goneSince   time.Time         // reconcile first found its channels gone (waiting for its CDRs)
	lostAt      time.Time         // the PBX stopped or the AMI link dropped while the call was up (Engine.markPBXLost)
	lostSure    bool              // the PBX did go: Shutdown, or it restarted since lostAt (Engine.judgePBXLoss)
	lostMaybe   bool              // the PBX came back within a second of lostAt: it may have restarted (Engine.judgePBXLoss)
	pbxStopped  bool              // it went by a Shutdown (core stop/restart): it still wrote the CDRs of the channels it hung up
	adopted     bool              // left unfinished by a previous run, taken over at Start
	gap         bool              // some of its events were lost (AMI link dropped, events dropped, adopted): its CDRs, not its events, say how it ended
	liveEnd     *callback.Request // the end its events told, kept while its CDRs are awaited (gap); used if none come
	held        *callback.Request // its end, held for stopHold: a Shutdown right after makes it pbx_lost (Engine.holdEndLocked)
	stopSuspect bool              // the link dropped while its end was held: a PBX found restarted stopped it (judgePBXLoss)
	uncertain   bool              // the Originate's response was lost: it may be ringing
	graceArmed  bool              // a failed OriginateResponse started the grace timer
	hangupSent  bool              // a Hangup action is out for a cancel
	submitted   time.Time         // Submit accepted it
	sentAt      time.Time         // its Originate went out
}

// rank orders the states so the machine never moves backwards.
func rank(s callback.State) int {
	switch s {
	case callback.StateQueued:
		return 0
	case callback.StateCallingCaller:
		return 1
	case callback.StateCallerAnswered:
		return 2
	case callback.StateConfirming:
		return 3
	case callback.StateCallingCallee:
		return 4
	case callback.StateConnected:
		return 5
	}
	return 6 // final
}

// advance moves to s if s is further than the current state, stamping the
// request's times. It reports whether anything changed.
func (c *call) advance(s callback.State, now time.Time) bool {
	r := c.req
	if r.State.Final() || rank(s) <= rank(r.State) {
		return false
	}
	r.State = s
	r.History = append(r.History, callback.Transition{State: s, At: now})
	r.UpdatedAt = now
	switch s {
	case callback.StateCallerAnswered, callback.StateConfirming, callback.StateCallingCallee, callback.StateConnected:
		if r.AnsweredAt == nil {
			t := now
			r.AnsweredAt = &t
		}
	}
	if s == callback.StateConnected && r.ConnectedAt == nil {
		t := now
		r.ConnectedAt = &t
	}
	return true
}

// finish ends the request. It reports false when it had already ended.
func (c *call) finish(s callback.State, reason callback.Reason, cause int, prompt callback.Prompt, now time.Time) bool {
	r := c.req
	if r.State.Final() {
		return false
	}
	if c.lostSure && s != callback.StateRejected && reason != callback.ReasonVisitor && reason != callback.ReasonAdmin {
		// (Rejected: it never rang, nothing of it was with the PBX.)
		// The PBX went away mid-call: whatever its last events say (a
		// stopping Asterisk hangs every channel up with cause 16), nobody
		// hung up. The talk ends when the PBX went.
		s, reason, prompt = callback.StateFailed, callback.ReasonPBXLost, callback.PromptNone
		if c.lostAt.Before(now) {
			now = c.lostAt
		}
		c.endTalk(now)
	}
	r.State, r.Reason, r.Cause, r.Prompt = s, reason, cause, prompt
	r.History = append(r.History, callback.Transition{State: s, At: now})
	r.UpdatedAt = now
	t := now
	r.EndedAt = &t
	if talk, ok := c.talk(now); ok {
		r.Billsec = int(talk.Round(time.Second) / time.Second)
	}
	return true
}

// talk returns the call's talk time, callee answer to the end of the
// bridge, in PBX time; false if the callee never answered. The dialplan's
// TalkMs is the PBX's own measure, exact under any time scale. Without it
// (the caller hung up while bridged, so Dial never returned to the
// dialplan; or an older dialplan) the engine's own clock, scaled: not
// ANSWEREDTIME_MS, which counts from the caller's answer (Welcome and
// ringing included: 19.5 s for a 15 s bridge in fixture timeout-direct),
// nor the CDRs, which do too.
func (c *call) talk(now time.Time) (time.Duration, bool) {
	if c.hasTalkMS {
		return time.Duration(c.talkMS) * time.Millisecond, c.talkMS > 0 || c.req.ConnectedAt != nil
	}
	if c.req.ConnectedAt == nil {
		return 0, false
	}
	end := c.talkEnd
	if end.IsZero() {
		end = now
	}
	return time.Duration(float64(end.Sub(*c.req.ConnectedAt)) / c.timeScale()), true
}

// endTalk notes the end of the bridge (the first sign of it counts).
func (c *call) endTalk(now time.Time) {
	if c.talkEnd.IsZero() && c.req.ConnectedAt != nil {
		c.talkEnd = now
	}
}

func (c *call) timeScale() float64 {
	if c.scale > 0 {
		return c.scale
	}
	return 1
}

// handle applies one AMI event that the engine attributed to this call. It
// reports whether the request changed (a transition happened).
func (c *call) handle(m *ami.Message, now time.Time) bool {
	id := c.req.ID
	uid := m.Get("Uniqueid")
	switch m.Event() {
	case "Newchannel", "Newstate":
		if uid == id {
			c.noteCallerChannel(m.Get("Channel"))
		}
	case "DialBegin":
		switch {
		case uid == "" && m.Get("DestUniqueid") == id: // the originate leg rings the caller
			c.noteCallerChannel(m.Get("DestChannel"))
		case uid == id: // the caller's channel dials the callee
			c.noteCallerChannel(m.Get("Channel"))
			c.calleeID = m.Get("DestUniqueid")
			c.req.CalleeChannel = m.Get("DestChannel")
			return c.advance(callback.StateCallingCallee, now)
		}
	case "DialEnd":
		status := m.Get("DialStatus")
		switch {
		case uid == "" && m.Get("DestUniqueid") == id:
			c.callerDialStatus = status
			if status == "ANSWER" {
				return c.advance(callback.StateCallerAnswered, now)
			}
		case uid == id:
			c.calleeDialStatus = status
			// With the announcement, the callee's answer is not the
			// connection: its 1 is (the "connected" UserEvent).
			if status == "ANSWER" && !c.announce {
				return c.advance(callback.StateConnected, now)
			}
		}
	case "OriginateResponse":
		return c.originateResponse(m, now)
	case "HangupRequest":
		if c.req.State == callback.StateConnected && c.firstHangup == "" {
			if uid == id {
				c.firstHangup = "caller"
			} else {
				c.firstHangup = "callee"
			}
		}
		if uid != id && uid == c.calleeID {
			c.noteCalleeCause(m.Get("Cause"))
		}
	case "Hangup":
		if uid == id {
			return c.callerGone(atoi(m.Get("Cause")), now)
		}
		if uid == c.calleeID || c.calleeID == "" && m.Get("Linkedid") == id {
			c.noteCalleeCause(m.Get("Cause"))
			c.calleeGone = true
			c.endTalk(now)
		}
	case "UserEvent":
		return c.userEvent(m, now)
	}
	return false
}

func (c *call) noteCallerChannel(name string) {
	c.channel = true
	if name != "" && c.req.CallerChannel == "" {
		c.req.CallerChannel = name
	}
}

// noteCalleeCause keeps the first non-zero cause of the callee leg: the far
// end's (HangupRequest carries it before Hangup does).
func (c *call) noteCalleeCause(v string) {
	if n := atoi(v); n != 0 && c.calleeCause == 0 {
		c.calleeCause = n
	}
}

func (c *call) originateResponse(m *ami.Message, now time.Time) bool {
	if m.Get("Response") == "Success" {
		c.noteCallerChannel(m.Get("Channel"))
		return c.advance(callback.StateCallerAnswered, now)
	}
	c.origFailed = true
	c.origReason = atoi(m.Get("Reason"))
	// The caller leg's Hangup carries the cause and usually follows (or
	// came already); when no channel was ever created (no such endpoint)
	// nothing follows, so the engine calls originateGone after a short grace
	// period (Engine.graceFinish).
	return false
}

// originateGone finishes a call whose Originate failed and whose caller
// channel's Hangup never came: what OriginateResponse said is all we learn.
func (c *call) originateGone(now time.Time) bool {
	if !c.origFailed {
		return false
	}
	return c.callerGone(0, now)
}

func (c *call) userEvent(m *ami.Message, now time.Time) bool {
	if m.Get("UserEvent") != wcbproto.UserEvent {
		return false
	}
	switch m.Get(wcbproto.HeaderStage) {
	case wcbproto.StageAnswered:
		c.channel = true
		return c.advance(callback.StateCallerAnswered, now)
	case wcbproto.StageConfirming:
		c.channel = true
		return c.advance(callback.StateConfirming, now)
	case wcbproto.StageNoConfirm:
		c.noConfirm = true
	case wcbproto.StageOptOut:
		c.optedOut = true
	case wcbproto.StageDialing:
		return c.advance(callback.StateCallingCallee, now)
	case wcbproto.StageConnected:
		return c.advance(callback.StateConnected, now)
	case wcbproto.StageDialEnd:
		c.dialEnd = true
		c.endTalk(now)
		if s := m.Get(wcbproto.HeaderDialStatus); s != "" {
			c.calleeDialStatus = s
		}
		c.dialEndCause = atoi(m.Get(wcbproto.HeaderCause))
		// Anything but a plausible count of ms (the dialplan clamps at 0)
		// leaves the engine's clock in charge.
		if n, err := strconv.Atoi(strings.TrimSpace(m.Get(wcbproto.HeaderTalkMS))); err == nil && n >= 0 && n <= maxTalkMS {
			c.talkMS, c.hasTalkMS = n, true
		}
		if c.calleeDialStatus == "ANSWER" {
			return c.advance(callback.StateConnected, now)
		}
	case wcbproto.StagePrompt:
		c.prompt = callback.Prompt(m.Get(wcbproto.HeaderPrompt))
	case wcbproto.StageHangup:
		c.hangupUE = true
		return c.callerGone(atoi(m.Get(wcbproto.HeaderCause)), now)
	}
	return false
}

// callerGone decides the outcome: the caller's leg has hung up (or, for a
// failed Originate, never existed). callerCause is its Hangup Cause.
func (c *call) callerGone(callerCause int, now time.Time) bool {
	r := c.req
	if r.State.Final() {
		return false
	}
	if c.cancelBy != "" {
		return c.finish(callback.StateCanceled, c.cancelBy, callerCause, c.prompt, now)
	}
	switch r.State {
	case callback.StateQueued, callback.StateCallingCaller:
		reason := wcbproto.CallerOutcome(c.callerDialStatus, callerCause, c.origReason)
		cause := callerCause
		if cause == 0 && reason == callback.ReasonCallerNoAnswer {
			cause = wcbproto.CauseNoAnswer
		}
		return c.finish(callback.StateFailed, reason, cause, callback.PromptNone, now)
	case callback.StateCallerAnswered, callback.StateConfirming, callback.StateCallingCallee:
		if c.noConfirm || r.State == callback.StateConfirming {
			// Asked to press 1, the caller did not (or hung up rather than
			// confirm): the callee was never rung.
			if callerCause == 0 {
				callerCause = wcbproto.CauseNormalClearing
			}
			return c.finish(callback.StateFailed, callback.ReasonCallerNoConfirm, callerCause, c.prompt, now)
		}
		if c.optedOut {
			// The store puts the callee on the do-not-call list with this
			// outcome (store.UpdateRequest).
			return c.finish(callback.StateFailed, callback.ReasonCalleeOptedOut, wcbproto.CauseNormalClearing, c.prompt, now)
		}
		cause := c.calleeCause
		if cause == 0 {
			cause = c.dialEndCause
		}
		if cause == 0 {
			cause = callerCause
		}
		reason, prompt := wcbproto.CalleeOutcome(c.calleeDialStatus, cause)
		if reason == "" {
			// Dial not over, or CANCEL: the caller hung up before the callee answered.
			return c.finish(callback.StateCanceled, callback.ReasonCallerHangup, callerCause, callback.PromptNone, now)
		}
		if reason == callback.ReasonCalleeNoAnswer && (cause == 0 || cause == wcbproto.CauseNormalClearing || cause == wcbproto.CauseNormalUnspec) {
			cause = wcbproto.CauseNoAnswer // ring timeout: the callee leg ends with cause 0
		}
		if c.prompt != "" {
			prompt = c.prompt
		}
		return c.finish(callback.StateFailed, reason, cause, prompt, now)
	}
	reason := c.completedReason(now)
	prompt := c.prompt
	if prompt == "" {
		switch reason {
		case callback.ReasonLimitReached:
			prompt = callback.PromptTimeoutHangup
		case callback.ReasonCalleeHangup:
			prompt = callback.PromptPartnerHangup
		}
	}
	if callerCause == 0 {
		callerCause = wcbproto.CauseNormalClearing
	}
	return c.finish(callback.StateCompleted, reason, callerCause, prompt, now)
}

// completedReason says who ended a connected call, from the strongest
// evidence present: our dialplan's UserEvents first, then (real Asterisk
// without them, as in the fixtures) who sent the first HangupRequest — the
// talk limit ends the bridge inside Asterisk, with no HangupRequest at all.
func (c *call) completedReason(now time.Time) callback.Reason {
	switch {
	case c.prompt == callback.PromptTimeoutHangup:
		return callback.ReasonLimitReached
	case c.prompt == callback.PromptPartnerHangup:
		return callback.ReasonCalleeHangup
	case c.dialEnd:
		if c.limitReached(now) {
			return callback.ReasonLimitReached
		}
		return callback.ReasonCalleeHangup
	case c.firstHangup == "caller":
		return callback.ReasonCallerHangup
	case c.firstHangup == "callee":
		return callback.ReasonCalleeHangup
	case c.hangupUE:
		return callback.ReasonCallerHangup
	}
	return callback.ReasonLimitReached
}

// maxTalkMS bounds a TalkMs the engine believes: two days, far beyond any
// talk limit.
const maxTalkMS = 48 * 3600 * 1000

// limitReachedSlack is how close to the limit a talk time counts as "the
// limit ended it" (the dialplan uses TalkMs >= LIMIT_MS-1000).
const limitReachedSlack = 1000

// limitReached applies the dialplan's rule to the talk time, for a dialend
// without the prompt event that says what the dialplan decided.
func (c *call) limitReached(now time.Time) bool {
	talk, ok := c.talk(now)
	return ok && c.limitMS > 0 && talk >= time.Duration(c.limitMS-limitReachedSlack)*time.Millisecond
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

// stopCaused reports whether CDR rows could be of a call a stopping PBX
// (Shutdown at stopAt) hung up: a stop hangs the caller's channel up, so
// the dialplan after Dial never runs and the rows read as the caller's
// doing (a caller hang-up or a failed caller leg), never as a callee
// outcome (busy, no answer, callee hang-up, limit); and they end at the
// stop: not more than 2 s before it (calldate and duration are whole
// seconds). Other rows are of a call that ended on its own while its
// events were lost, settled only now.
func stopCaused(o cdrOutcome, stopAt time.Time) bool {
	if !o.ended.IsZero() && o.ended.Before(stopAt.Add(-2*time.Second)) {
		return false
	}
	return strings.HasPrefix(string(o.reason), "caller_") || o.reason == callback.ReasonNetworkError
}

// finishFromCDRs ends the request as its CDR rows tell (outcomeFromCDRs):
// the talk time is the dialplan's, never counted to the moment the engine
// found out.
func (c *call) finishFromCDRs(o cdrOutcome, now time.Time) bool {
	if c.pbxStopped && o.billsec >= 0 && !c.lostAt.IsZero() && stopCaused(o, c.lostAt) {
		// A stopping Asterisk hangs every channel up and writes CDRs that
		// read like a caller hang-up: the PBX went, and the talk ended
		// when it did, as the CDR measured. A PBX that vanished (kill -9,
		// crash) wrote none for the calls it took: rows there are of a
		// call that ended before, and tell its end. So do rows a stop
		// cannot have made (stopCaused).
		o.state, o.reason, o.prompt = callback.StateFailed, callback.ReasonPBXLost, callback.PromptNone
	}
	if !o.ended.IsZero() && o.ended.Before(now) {
		now = o.ended // when it ended, not when the engine found out
	}
	if !c.finish(o.state, o.reason, o.cause, o.prompt, now) {
		return false
	}
	c.req.Billsec = max(o.billsec, 0)
	return true
}
