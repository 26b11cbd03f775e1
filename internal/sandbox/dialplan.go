package sandbox

import (
	"strconv"
	"time"

	"webcallback/deploy/asterisk"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

// This file plays deploy/asterisk's extensions.conf ([webcallback],
// [webcallback-connected], the h extension) on the simulated channels, step
// by step, with the events Asterisk 22 emits for each. dialplan_test.go
// checks that the variables read and the UserEvents sent are the ones of
// the rendered dialplan.

// dialplanVars are the WCB_* variables the dialplan reads (each re-filtered
// with FILTER()), in the order it filters them. WCB_CALLER is only read for
// the callee's announcement (the caller's leg is the Originate's Channel).
var dialplanVars = []string{
	wcbproto.VarID, wcbproto.VarCallee, wcbproto.VarCalleeCID, wcbproto.VarLimitMS,
	wcbproto.VarWarnMS, wcbproto.VarRingS, wcbproto.VarWarnCallee, wcbproto.VarLang,
	wcbproto.VarCaller, wcbproto.VarConfirm, wcbproto.VarAnnounce,
}

// userEventHeaders lists, per stage, the headers the dialplan's
// UserEvent(WebCallback,...) carries after Id and Stage.
var userEventHeaders = map[string][]string{
	wcbproto.StageAnswered:   nil,
	wcbproto.StageConfirming: nil,
	wcbproto.StageNoConfirm:  nil,
	wcbproto.StageDialing:    nil,
	wcbproto.StageConnected:  nil,
	wcbproto.StageOptOut:     nil,
	wcbproto.StageDialEnd:    {wcbproto.HeaderDialStatus, wcbproto.HeaderCause, wcbproto.HeaderAnsweredMS, wcbproto.HeaderTalkMS},
	wcbproto.StagePrompt:     {wcbproto.HeaderPrompt},
	wcbproto.StageHangup:     {wcbproto.HeaderCause},
}

// The dialplan's fallbacks (deploy/asterisk.DefaultSettings) when a
// variable is missing or empty after FILTER().
const defaultLang = wcbproto.DefaultLang

// connectedContext is the U() subroutine run on the callee's channel.
const connectedContext = "webcallback-connected"

// limitSlackMS: the dialplan plays TimeoutHangup when the talk time
// reached the limit less this much (${WCB_TALK_MS} >= ${WCB_LIMIT_MS} - 1000).
const limitSlackMS = 1000

// settings are the dialplan's variables after filtering and fallbacks.
type settings struct {
	id, caller, callee, calleeCID, lang string
	limitMS, warnMS, ringS              int
	warnCallee                          bool
	confirm, announce                   bool // WCB_CONFIRM=1, WCB_ANNOUNCE=1
}

func (c *call) settings() settings {
	v := c.vars
	st := settings{
		id: v[wcbproto.VarID], callee: v[wcbproto.VarCallee], calleeCID: v[wcbproto.VarCalleeCID],
		lang: v[wcbproto.VarLang], limitMS: defaultLimitMS, warnMS: defaultWarnMS, ringS: defaultRingS,
		warnCallee: true, caller: v[wcbproto.VarCaller],
		confirm: v[wcbproto.VarConfirm] == "1", announce: v[wcbproto.VarAnnounce] == "1",
	}
	if s := v[wcbproto.VarLimitMS]; s != "" {
		st.limitMS, _ = strconv.Atoi(s)
	}
	if s := v[wcbproto.VarWarnMS]; s != "" {
		st.warnMS, _ = strconv.Atoi(s)
	}
	if s := v[wcbproto.VarRingS]; s != "" {
		st.ringS, _ = strconv.Atoi(s)
	}
	if s := v[wcbproto.VarWarnCallee]; s != "" {
		st.warnCallee = s == "yes"
	}
	if !wcbproto.ValidLang(st.lang) {
		st.lang = defaultLang
	}
	if st.limitMS <= 0 {
		// Dial refuses L(0); the engine never sends it. Keep a limit.
		st.limitMS = defaultLimitMS
	}
	if st.warnMS >= st.limitMS {
		st.warnMS = 0
	}
	return st
}

// warningFile is what [webcallback-warning] returns for a warning: the
// kit renders a prompt for the recorded warnings and for the configured
// one, which in the sandbox is always the service's own (one settings
// file), so any whole number of seconds has its TimeLeft<N>.
func warningFile(warnMS int) string {
	if warnMS > 0 && warnMS%1000 == 0 {
		return asterisk.WarningPrompt(warnMS / 1000)
	}
	return asterisk.PromptTimeAlmostUp
}

// dialplan runs [webcallback] on the answered caller's channel. ringCaller
// has executed priority 1 (the first Set).
func (c *call) dialplan() {
	s := c.s
	ch := c.caller
	s.mu.Lock()
	for i, name := range dialplanVars {
		if i > 0 {
			c.nextLocked(ch, "Set", name+"="+c.vars[name])
		}
		c.varSetLocked(ch, name, c.vars[name])
	}
	st := c.settings()
	c.nextLocked(ch, "Set", "CHANNEL(language)="+st.lang)
	ch.language = st.lang
	c.userEventLocked(ch, wcbproto.StageAnswered)
	s.mu.Unlock()
	if !c.playback(callback.PromptWelcome) {
		return
	}
	if !c.confirm(st) {
		return
	}

	s.mu.Lock()
	if st.calleeCID != "" {
		c.nextLocked(ch, "ExecIf", "1?Set(CALLERID(all)="+st.calleeCID+")")
		ch.cidNum, ch.cidName = st.calleeCID, ""
		c.emit(classCall, event("NewCallerid", classCall, ch, nil, "CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
	}
	c.setStepLocked("LIMIT_PLAYAUDIO_CALLER", "yes")
	warnCallee := "no"
	if st.warnCallee {
		warnCallee = "yes"
	}
	c.setStepLocked("LIMIT_PLAYAUDIO_CALLEE", warnCallee)
	limit := strconv.Itoa(st.limitMS)
	if st.warnMS > 0 {
		c.setStepLocked("LIMIT_WARNING_FILE", warningFile(st.warnMS))
		limit += ":" + strconv.Itoa(st.warnMS)
	}
	if st.callee == "" {
		// No callee digits left after FILTER(): reported as an invalid number.
		s.mu.Unlock()
		c.afterDial(st, "INVALIDARGS", wcbproto.CauseInvalidFormat, 0, 0, 0)
		return
	}
	c.userEventLocked(ch, wcbproto.StageDialing)
	c.setStepLocked(asterisk.ConnectedVar, "")
	c.setStepLocked(asterisk.RefusedVar, "")
	c.nextLocked(ch, "Dial", "PJSIP/"+st.callee+"@"+s.cfg.Trunk+","+strconv.Itoa(st.ringS)+
		",gU("+connectedContext+"^"+st.id+"^"+st.lang+"^"+c.vars[wcbproto.VarAnnounce]+"^"+st.caller+")L("+limit+")")
	for _, v := range []string{"DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS",
		"DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS"} {
		c.varSetLocked(ch, v, "")
	}
	s.mu.Unlock()
	c.dial(st)
}

// setStepLocked is one Set(name=value) priority.
func (c *call) setStepLocked(name, value string) {
	c.nextLocked(c.caller, "Set", name+"="+value)
	c.varSetLocked(c.caller, name, value)
}

// playback plays a prompt to the caller. It reports false when the caller
// hung up meanwhile (the call is then over).
func (c *call) playback(p callback.Prompt) bool {
	s := c.s
	s.mu.Lock()
	c.nextLocked(c.caller, "Playback", string(p))
	s.mu.Unlock()
	if c.stopped(c.wait(promptLength[p])) {
		return false
	}
	s.mu.Lock()
	c.varSetLocked(c.caller, "PLAYBACKSTATUS", "SUCCESS")
	s.mu.Unlock()
	return true
}

// stopped ends the call when the caller hung up (or the server closes)
// during a wait of the dialplan outside Dial. It reports whether the call
// is over.
func (c *call) stopped(r interruption) bool {
	switch r {
	case intrCaller:
		c.callerGone(false)
	case intrShutdown:
		c.shutdown()
	default:
		return false
	}
	return true
}

// gotoIfLocked is one GotoIf($[...]?label) priority that jumps when jump.
func (c *call) gotoIfLocked(ch *channel, jump bool, label string) {
	c.nextLocked(ch, "GotoIf", boolDigit(jump)+"?"+label)
}

// boolDigit is how Asterisk shows an evaluated condition: "1" or "0".
func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// dial places the callee's leg and bridges it.
func (c *call) dial(st settings) {
	s := c.s
	ch := c.caller
	number := st.callee
	s.mu.Lock()
	admitted := s.admitLocked()
	cal := s.newChannelLocked(c, "", ch.uniqueid)
	c.callee = cal
	cal.dialed = number
	c.row.dstChannel = cal.name
	c.varSetLocked(cal, "DIALEDPEERNUMBER", number+"@"+s.cfg.Trunk)
	// An outgoing leg's "caller" is the dialled exten (fixtures README §10).
	cal.cidNum, cal.connNum = "s", ch.cidNum
	c.appLocked(cal, "AppDial", "(Outgoing Line)")
	c.emit(classCall, event("NewCallerid", classCall, cal, nil, "CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
	c.emit(classCall, event("NewConnectedLine", classCall, cal, nil))
	c.emit(classCall, event("DialBegin", classCall, ch, cal, "DialString", number+"@"+s.cfg.Trunk))
	ch.connNum = "s"
	c.emit(classCall, event("NewConnectedLine", classCall, ch, nil))
	far := plan(number)
	if !admitted {
		far = farEnd{Cause: wcbproto.CauseCongestion, SIP: 503} // 503 at once, no 180
	} else {
		s.setStateLocked(cal, stateRinging)
		c.emit(classCall, event("Newstate", classCall, cal, nil))
		c.varSetLocked(ch, "RINGTIME", "0")
		c.varSetLocked(ch, "RINGTIME_MS", "1")
		s.updateDeviceStateLocked()
		c.emit(classCall, event("DialState", classCall, ch, cal, "DialStatus", "RINGING"))
	}
	s.mu.Unlock()

	ring := far.RingFor
	ringTimeout := time.Duration(st.ringS) * time.Second
	timedOut := st.ringS > 0 && ringTimeout <= ring && (far.Answer || far.NeverAnswers)
	if timedOut {
		ring = ringTimeout
	}
	cause, sip, byAMI := far.Cause, far.SIP, false
	switch c.wait(ring) {
	case intrCaller:
		c.callerGone(true)
		return
	case intrCallee: // AMI Hangup of the ringing callee
		cause, sip, byAMI, timedOut, far.Answer = c.lastCause, 0, true, false, false
		if cause == 0 {
			cause = wcbproto.CauseNormalClearing
		}
	case intrShutdown:
		c.shutdown()
		return
	}
	switch {
	case timedOut:
		// Dial's timeout: NOANSWER, the callee leg ends with cause 0 and
		// the caller's HANGUPCAUSE is 0 (fixture callee-noanswer-direct).
		s.mu.Lock()
		c.dialEndLocked("NOANSWER", 0, 0)
		s.mu.Unlock()
		c.afterDial(st, "NOANSWER", 0, 0, 0, 0)
	case !far.Answer:
		status := dialStatus(cause)
		s.mu.Lock()
		c.hangupRequestLocked(cal, byAMI, cause, sip)
		c.dialEndLocked(status, cause, sip)
		s.mu.Unlock()
		c.afterDial(st, status, cause, sip, 0, 0)
	default:
		c.bridge(st, far)
	}
}

// dialEndLocked reports the end of Dial without an answer.
func (c *call) dialEndLocked(status string, cause, sip int) {
	c.emit(classCall, event("DialEnd", classCall, c.caller, c.callee, "DialStatus", status))
	c.hangupCause, c.techCause = cause, sip
	c.varSetLocked(c.caller, "DIALSTATUS", status)
}

// bridge answers the callee, runs U(), bridges the legs and waits for the
// limit, the callee's BYE or the caller's.
func (c *call) bridge(st settings, far farEnd) {
	s := c.s
	ch, cal := c.caller, c.callee
	s.mu.Lock()
	s.setStateLocked(cal, stateUp)
	c.emit(classCall, event("Newstate", classCall, cal, nil))
	c.varSetLocked(ch, "DIALSTATUS", "ANSWER")
	c.varSetLocked(ch, "DIALEDPEERNAME", cal.name)
	c.varSetLocked(ch, "DIALEDPEERNUMBER", st.callee+"@"+s.cfg.Trunk)
	cal.exten = ""
	c.emit(classCall, event("DialEnd", classCall, ch, cal, "DialStatus", "ANSWER"))
	// U(webcallback-connected^id^lang^announce^caller) on the callee's
	// channel: the language, the announcement when asked for, then the
	// stamp of the answer onto the caller's channel (MASTER_CHANNEL: the
	// VarSet is the caller's), in ms since the epoch of the call's clock.
	cal.context, cal.exten, cal.priority = connectedContext, "s", 0
	c.nextLocked(cal, "ExecIf", "1?Set(CHANNEL(language)="+st.lang+")")
	cal.language = st.lang
	s.mu.Unlock()
	if !c.announce(st) {
		return
	}
	s.mu.Lock()
	stamp := strconv.FormatInt(c.now.UnixMilli(), 10)
	c.nextLocked(cal, "Set", "MASTER_CHANNEL("+asterisk.ConnectedVar+")="+stamp)
	c.varSetLocked(ch, asterisk.ConnectedVar, stamp)
	c.userEventLocked(cal, wcbproto.StageConnected)
	c.nextLocked(cal, "Return", "")
	cal.context, cal.exten, cal.priority = "from-"+s.cfg.Trunk, "", 1
	bridgeID := s.newUUIDLocked()
	c.emit(classCall, bridgeEvent("BridgeCreate", bridgeID, 0))
	c.appLocked(cal, "AppDial", "(Outgoing Line)")
	c.emit(classCall, withBridge(event("BridgeEnter", classCall, cal, nil), bridgeID, 1))
	s.updateDeviceStateLocked()
	c.emit(classCall, withBridge(event("BridgeEnter", classCall, ch, nil), bridgeID, 2))
	ch.bridgeID, cal.bridgeID = bridgeID, bridgeID
	pvt := [2]string{s.newUUIDLocked(), s.newUUIDLocked()}
	c.bridgePeersLocked(pvt, false)
	answered := c.now
	c.connected = answered
	s.mu.Unlock()
	if far.HangupAfter > 0 {
		c.calleeBye = answered.Add(far.HangupAfter)
	}

	end := answered.Add(time.Duration(st.limitMS) * time.Millisecond)
	warnAt := end.Add(-time.Duration(st.warnMS) * time.Millisecond)
	r := intrNone
	if st.warnMS > 0 {
		if r = c.wait(warnAt.Sub(c.now)); r == intrNone {
			// Playing the warning reconfigures the bridge: Asterisk
			// re-sets the peers (fixture timeout-direct at limit-warn).
			s.mu.Lock()
			c.bridgePeersLocked(pvt, false)
			s.mu.Unlock()
		}
	}
	if r == intrNone {
		r = c.wait(end.Sub(c.now))
	}
	switch {
	case r == intrCaller && c.coreStopped:
		c.stopBridged(pvt)
		return
	case r == intrCaller:
		c.callerGone(true)
		return
	case r == intrShutdown:
		c.shutdown()
		return
	}
	s.mu.Lock()
	if r == intrCallee {
		cause := c.lastCause
		if cause == 0 {
			cause = wcbproto.CauseNormalClearing
		}
		c.hangupRequestLocked(cal, c.lastByAMI, cause, 0)
	}
	c.leaveBridgeLocked(pvt)
	// Asterisk 22 counts ANSWEREDTIME from the caller channel's answer,
	// not the callee's (fixtures: 19493 ms for a 15 s bridge); the
	// dialplan measures the talk time itself, from the U() stamp.
	answeredMS := int(c.now.Sub(c.rowAnswer()) / time.Millisecond)
	talkMS := int(c.now.Sub(answered) / time.Millisecond)
	c.varSetLocked(ch, "ANSWEREDTIME", strconv.Itoa(answeredMS/1000))
	c.varSetLocked(ch, "ANSWEREDTIME_MS", strconv.Itoa(answeredMS))
	c.varSetLocked(ch, "DIALSTATUS", "ANSWER")
	c.hangupCause, c.techCause = wcbproto.CauseNormalClearing, 0
	s.mu.Unlock()
	c.afterDial(st, "ANSWER", wcbproto.CauseNormalClearing, 0, answeredMS, talkMS)
}

// stopBridged ends a bridged call as "core stop now" does on Asterisk 22
// (fixture kit-pbx-shutdown, in that order): both legs leave the bridge,
// the h extension runs on a CDR row of its own (destination h: userfield,
// talk time so far, the hangup UserEvent with cause 16), both channels
// hang up with cause 16, callee first, and only then are the caller's CDR
// rows written (the Dial row with an empty userfield, then the h row).
func (c *call) stopBridged(pvt [2]string) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c.leaveBridgeLocked(pvt)
	c.hangupCause, c.techCause = wcbproto.CauseNormalClearing, 0
	c.closeRowLocked("ANSWERED")
	c.row = &cdrRow{start: c.now, answer: c.now, dst: "h"}
	c.runHLocked()
	c.hangupLocked(c.callee, wcbproto.CauseNormalClearing, 0)
	c.hangupLocked(c.caller, wcbproto.CauseNormalClearing, 0)
	c.closeRowLocked("ANSWERED")
	c.emitCDRsLocked()
}

// rowAnswer is the caller's answer time (the first CDR row's AnswerTime).
func (c *call) rowAnswer() time.Time {
	if c.row != nil {
		return c.row.answer
	}
	return c.caller.created
}

// bridgePeersLocked emits the BRIDGEPEER/BRIDGEPVTCALLID VarSets of both
// legs (cleared when leaving).
func (c *call) bridgePeersLocked(pvt [2]string, clear bool) {
	legs := [2]*channel{c.caller, c.callee}
	for i, leg := range legs {
		peer, id := legs[1-i].name, pvt[i]
		if clear {
			peer, id = "", ""
		}
		c.varSetLocked(leg, "BRIDGEPEER", peer)
		c.varSetLocked(leg, "BRIDGEPVTCALLID", id)
	}
}

// leaveBridgeLocked takes both legs out of their bridge and destroys it.
func (c *call) leaveBridgeLocked(pvt [2]string) {
	ch, cal := c.caller, c.callee
	id := ch.bridgeID
	if id == "" {
		return
	}
	c.bridgePeersLocked(pvt, true)
	c.emit(classCall, withBridge(event("BridgeLeave", classCall, cal, nil), id, 1))
	c.emit(classCall, withBridge(event("BridgeLeave", classCall, ch, nil), id, 0))
	c.emit(classCall, bridgeEvent("BridgeDestroy", id, 0))
	ch.bridgeID, cal.bridgeID = "", ""
}

// afterDial runs the dialplan after Dial returned with the caller still up:
// talk time, userfield, dialend event, the prompt, Hangup() and the h
// extension. answeredMS is ANSWEREDTIME_MS, talkMS the dialplan's own
// talk time (0 when the callee never answered).
func (c *call) afterDial(st settings, status string, cause, sip, answeredMS, talkMS int) {
	s := c.s
	ch := c.caller
	s.mu.Lock()
	c.dialStatus = status
	dialStatus := status
	if c.refused != "" {
		dialStatus = "ANSWER" // Dial's own word: the callee did answer
	}
	if c.callee != nil {
		// The dialplan after Dial is CDR row 2 (fixtures README §9).
		c.closeRowLocked(disposition(dialStatus))
		c.row = &cdrRow{start: c.now, answer: c.now}
	}
	c.nextLocked(ch, "Set", "WCB_STATUS="+dialStatus)
	c.nextLocked(ch, "Set", "WCB_CAUSE="+strconv.Itoa(cause))
	if c.refused != "" {
		c.nextLocked(ch, "ExecIf", "1?Set(WCB_STATUS="+status+")")
		c.varSetLocked(ch, "WCB_STATUS", status)
	} else {
		c.nextLocked(ch, "ExecIf", "0?Set(WCB_STATUS=NOANSWER)")
	}
	legCause := cause // what the callee leg hangs up with
	if status == "NOANSWER" && cause == 0 {
		// Dial's ring timeout leaves the cause 0; the dialplan says 19
		// (no answer) in the userfield and the dialend event.
		cause = wcbproto.CauseNoAnswer
		c.nextLocked(ch, "ExecIf", "1?Set(WCB_CAUSE="+strconv.Itoa(cause)+")")
	}
	c.setStepLocked(asterisk.TalkVar, "0")
	if status == "ANSWER" {
		c.nextLocked(ch, "GotoIf", "0?talked")
		c.setStepLocked(asterisk.TalkVar, strconv.Itoa(talkMS))
	} else {
		c.nextLocked(ch, "GotoIf", "1?talked")
	}
	c.nextLocked(ch, "ExecIf", "0?Set("+asterisk.TalkVar+"=0)")
	uf := wcbproto.UserfieldPrefix + strconv.Itoa(cause) + wcbproto.UserfieldIDPrefix + st.id
	c.nextLocked(ch, "Set", "CDR(userfield)="+uf)
	if c.refused == asterisk.RefusedOptOut {
		uf += wcbproto.UserfieldConsentPrefix + string(callback.ReasonCalleeOptedOut)
		c.nextLocked(ch, "ExecIf", "1?Set(CDR(userfield)="+uf+")")
	} else {
		c.nextLocked(ch, "ExecIf", "0?Set(CDR(userfield)=)")
	}
	c.setUserfieldLocked(uf)
	c.setTalkLocked(talkMS)
	c.setStepLocked("WCB_USERFIELD", "set")
	c.userfieldSet = true
	if cal := c.callee; cal != nil && !cal.gone {
		c.hangupLocked(cal, legCause, sip)
	}
	c.userEventLocked(ch, wcbproto.StageDialEnd, wcbproto.HeaderDialStatus, status,
		wcbproto.HeaderCause, strconv.Itoa(cause), wcbproto.HeaderAnsweredMS, strconv.Itoa(answeredMS),
		wcbproto.HeaderTalkMS, strconv.Itoa(talkMS))
	var prompt callback.Prompt
	if status == "ANSWER" {
		prompt = callback.PromptPartnerHangup
		if talkMS >= st.limitMS-limitSlackMS {
			prompt = callback.PromptTimeoutHangup
		}
	} else {
		_, prompt = wcbproto.CalleeOutcome(status, cause)
	}
	c.goodbyeLocked(prompt)
}

// goodbyeLocked is the dialplan's end ("prompt" and "done" labels): the
// prompt UserEvent and Playback (none when prompt is ""), Hangup() and the
// h extension. Called with s.mu held; it releases it.
func (c *call) goodbyeLocked(prompt callback.Prompt) {
	s := c.s
	ch := c.caller
	if prompt != "" {
		c.nextLocked(ch, "GotoIf", "0?done")
		c.userEventLocked(ch, wcbproto.StagePrompt, wcbproto.HeaderPrompt, string(prompt))
	} else {
		c.nextLocked(ch, "GotoIf", "1?done")
	}
	s.mu.Unlock()
	if prompt != "" && !c.playback(prompt) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.nextLocked(ch, "Hangup", "")
	if c.hangupCause == 0 {
		c.hangupCause = wcbproto.CauseNormalClearing
	}
	c.hangupRequestLocked(ch, true, wcbproto.CauseNormalClearing, 0)
	c.endCallerLocked()
}

// callerGone: the caller's leg hung up (BYE or AMI Hangup) while the
// dialplan ran; inDial says Dial was running (ringing or bridged).
func (c *call) callerGone(inDial bool) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, cal := c.caller, c.callee
	byAMI, cause := c.lastByAMI, c.lastCause
	bridged := ch.bridgeID != ""
	switch {
	case byAMI:
		c.hangupRequestLocked(ch, true, cause, 0)
	case inDial && !bridged:
		// A BYE while the callee rings carries no cause (fixture
		// caller-hangup-while-callee-rings-direct).
		c.hangupRequestLocked(ch, false, 0, 0)
	default:
		c.hangupRequestLocked(ch, false, wcbproto.CauseNormalClearing, 0)
	}
	switch {
	case inDial && bridged:
		c.leaveBridgeLocked([2]string{})
		c.hangupCause = wcbproto.CauseNormalClearing
	case inDial && c.announcing:
		// Dial reported ANSWER already; the announcement is cut short.
		c.hangupCause = wcbproto.CauseNormalClearing
	case inDial:
		c.emit(classCall, event("DialEnd", classCall, ch, cal, "DialStatus", "CANCEL"))
		c.hangupCause = 0 // what the fixture's h extension reads
	default:
		c.hangupCause = wcbproto.CauseNormalClearing
	}
	if byAMI && cause != 0 {
		c.hangupCause = cause
	}
	c.techCause = 0
	c.emit(classCall, event("SoftHangupRequest", classCall, ch, nil, "Cause", strconv.Itoa(wcbproto.CauseNormalClearing)))
	if inDial && cal != nil && !cal.gone {
		disp := "NO ANSWER"
		if bridged {
			disp = "ANSWERED"
		}
		c.runHLocked()
		c.closeRowLocked(disp)
		c.emitCDRsLocked()
		c.hangupLocked(cal, wcbproto.CauseNormalClearing, 0)
		c.emitCallerHangupLocked()
		return
	}
	c.runHLocked()
	c.closeRowLocked("ANSWERED")
	c.emitCDRsLocked()
	c.emitCallerHangupLocked()
}

// endCallerLocked runs the h extension after Hangup() and ends the leg.
func (c *call) endCallerLocked() {
	c.runHLocked()
	// Asterisk shows the leg's outgoing-line "application" once more as
	// the h extension's end (fixtures timeout-, callee-busy-direct).
	c.nextLocked(c.caller, "AppDial2", "(Outgoing Line)")
	c.closeRowLocked("ANSWERED")
	c.emitCDRsLocked()
	c.emitCallerHangupLocked()
}

// runHLocked runs "exten => h" on the caller's channel.
func (c *call) runHLocked() {
	ch := c.caller
	ch.exten, ch.priority = "h", 0
	cause := strconv.Itoa(c.hangupCause)
	if !c.userfieldSet {
		uf := wcbproto.UserfieldPrefix + cause + wcbproto.UserfieldIDPrefix + c.vars[wcbproto.VarID]
		c.nextLocked(ch, "ExecIf", "1?Set(CDR(userfield)="+uf+")")
		c.setUserfieldLocked(uf)
		// The talk so far when the caller hung up while bridged (the
		// dialplan's h extension computes it from the U() stamp).
		talkMS := 0
		if !c.connected.IsZero() {
			talkMS = int(c.now.Sub(c.connected) / time.Millisecond)
		}
		c.setTalkLocked(talkMS)
	} else {
		c.nextLocked(ch, "ExecIf", "0?Set(CDR(userfield)=)")
	}
	c.userEventLocked(ch, wcbproto.StageHangup, wcbproto.HeaderCause, cause)
}

func (c *call) emitCallerHangupLocked() {
	c.hangupLocked(c.caller, c.hangupCause, c.techCause)
}
