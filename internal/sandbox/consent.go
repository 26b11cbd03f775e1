package sandbox

import (
	"strconv"
	"time"

	"webcallback/deploy/asterisk"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

// This file plays the dialplan's consent stages (--caller-confirm,
// --callee-announce): the caller's "press 1" after Welcome in [webcallback]
// and the callee's announcement in [webcallback-connected], by the
// test-number plan of docs/design.md §4.

// Timings of a party's key press.
const (
	// keyDelay: an answering party of the plan presses its key this long
	// into the prompt that asks for it.
	keyDelay = time.Second
	// keyPressMS is how long the key is held (DTMFEnd's DurationMs).
	keyPressMS = 120
	// sayDigitLength is how long SayDigits takes per digit (core sounds).
	sayDigitLength = 500 * time.Millisecond
)

// consentKey is the key a party of the plan presses when asked: none for
// 1388888xxxx (listens, never presses), 9 for 1389999xxxx (never call me
// again; as a caller, not the 1 asked for), 1 for everyone else.
func consentKey(number string) string {
	d := nationalDigits(number)
	if len(d) >= 7 {
		switch d[:7] {
		case "1388888":
			return ""
		case "1389999":
			return "9"
		}
	}
	return "1"
}

// readArgs is the data of the dialplan's Read() of a consent key.
func readArgs(p callback.Prompt) string {
	return asterisk.KeyVar + "," + string(p) + ",1,," + strconv.Itoa(asterisk.KeyAttempts) + "," +
		strconv.Itoa(int(asterisk.KeyWait/time.Second))
}

// read runs Read() on ch: the party presses key keyDelay into the prompt,
// or, for key "", never: the prompt plays KeyAttempts times, each followed
// by KeyWait. It returns what ended the wait early, if anything.
func (c *call) read(ch *channel, p callback.Prompt, key string) interruption {
	s := c.s
	s.mu.Lock()
	c.nextLocked(ch, "Read", readArgs(p))
	s.mu.Unlock()
	d := keyDelay
	if key == "" {
		d = time.Duration(asterisk.KeyAttempts) * (promptLength[p] + asterisk.KeyWait)
	}
	if r := c.wait(d); r != intrNone {
		return r
	}
	s.mu.Lock()
	status := "OK"
	if key == "" {
		status = "TIMEOUT"
	} else {
		// The key as the channel driver reports it (class dtmf; the kit's
		// manager.conf filters these out, a client may ask for them).
		c.emit(classDTMF, event("DTMFBegin", classDTMF, ch, nil, "Digit", key, "Direction", "Received"))
		c.emit(classDTMF, event("DTMFEnd", classDTMF, ch, nil, "Digit", key, "DurationMs", strconv.Itoa(keyPressMS), "Direction", "Received"))
	}
	c.varSetLocked(ch, asterisk.KeyVar, key)
	c.varSetLocked(ch, "READSTATUS", status)
	s.mu.Unlock()
	return intrNone
}

// confirm runs the caller's consent stage after Welcome. It reports whether
// the dialplan goes on to dial the callee; otherwise the call is over.
func (c *call) confirm(st settings) bool {
	s := c.s
	ch := c.caller
	s.mu.Lock()
	c.gotoIfLocked(ch, !st.confirm, "confirmed")
	if !st.confirm {
		s.mu.Unlock()
		return true
	}
	c.userEventLocked(ch, wcbproto.StageConfirming)
	s.mu.Unlock()
	key := consentKey(c.req.number)
	if c.stopped(c.read(ch, callback.PromptConfirmCall, key)) {
		return false
	}
	s.mu.Lock()
	c.gotoIfLocked(ch, key == "1", "confirmed")
	if key == "1" {
		s.mu.Unlock()
		return true
	}
	uf := wcbproto.UserfieldPrefix + strconv.Itoa(wcbproto.CauseNormalClearing) + wcbproto.UserfieldIDPrefix + st.id +
		wcbproto.UserfieldConsentPrefix + string(callback.ReasonCallerNoConfirm)
	c.nextLocked(ch, "Set", "CDR(userfield)="+uf)
	c.setUserfieldLocked(uf)
	c.setStepLocked("WCB_USERFIELD", "set")
	c.userfieldSet = true
	c.userEventLocked(ch, wcbproto.StageNoConfirm)
	c.setStepLocked("WCB_PROMPT", string(callback.PromptNoConfirm))
	c.nextLocked(ch, "Goto", "prompt")
	c.goodbyeLocked(callback.PromptNoConfirm)
	return false
}

// announce runs the callee's announcement in U() (the language is set).
// It reports whether the callee accepted and the bridge follows; otherwise
// it has finished the call (the caller's dialplan after Dial, or the
// caller's hangup).
func (c *call) announce(st settings) bool {
	s := c.s
	cal := c.callee
	s.mu.Lock()
	c.gotoIfLocked(cal, !st.announce, "accepted")
	if !st.announce {
		s.mu.Unlock()
		return true
	}
	c.announcing = true
	c.nextLocked(cal, "Playback", string(callback.PromptCalleeAnnounce))
	s.mu.Unlock()
	r := c.wait(promptLength[callback.PromptCalleeAnnounce])
	if r == intrNone {
		s.mu.Lock()
		c.nextLocked(cal, "ExecIf", boolDigit(st.caller != "")+"?SayDigits("+st.caller+")")
		s.mu.Unlock()
		r = c.wait(time.Duration(len(st.caller)) * sayDigitLength)
	}
	key := consentKey(st.callee)
	if r == intrNone {
		r = c.read(cal, callback.PromptCalleeChoice, key)
	}
	if r == intrNone && key == "9" {
		s.mu.Lock()
		c.gotoIfLocked(cal, false, "accepted")
		c.gotoIfLocked(cal, true, "optout")
		c.nextLocked(cal, "Set", "MASTER_CHANNEL("+asterisk.RefusedVar+")="+asterisk.RefusedOptOut)
		c.varSetLocked(c.caller, asterisk.RefusedVar, asterisk.RefusedOptOut)
		c.refused = asterisk.RefusedOptOut
		c.userEventLocked(cal, wcbproto.StageOptOut)
		c.nextLocked(cal, "Playback", string(callback.PromptOptedOut))
		s.mu.Unlock()
		r = c.wait(promptLength[callback.PromptOptedOut])
	}
	switch r {
	case intrCaller:
		c.callerGone(true)
		return false
	case intrShutdown:
		c.shutdown()
		return false
	case intrCallee:
		// The callee hung up in the announcement: U() ends, Dial returns
		// with nothing stamped.
		s.mu.Lock()
		cause := c.lastCause
		if cause == 0 {
			cause = wcbproto.CauseNormalClearing
		}
		c.hangupRequestLocked(cal, c.lastByAMI, cause, 0)
		if c.refused == "" {
			c.refused = "gone"
		}
		c.announcing = false
		s.mu.Unlock()
		c.afterDial(st, "NOANSWER", wcbproto.CauseNormalClearing, 0, c.answeredMS(), 0)
		return false
	}
	s.mu.Lock()
	switch key {
	case "1":
		c.gotoIfLocked(cal, true, "accepted")
		c.announcing = false
		s.mu.Unlock()
		return true
	case "9":
	default: // no key, or another: not accepted
		c.gotoIfLocked(cal, false, "accepted")
		c.gotoIfLocked(cal, false, "optout")
		c.nextLocked(cal, "Set", "MASTER_CHANNEL("+asterisk.RefusedVar+")="+asterisk.RefusedNoKey)
		c.varSetLocked(c.caller, asterisk.RefusedVar, asterisk.RefusedNoKey)
		c.refused = asterisk.RefusedNoKey
	}
	// GOSUB_RESULT=CONTINUE: Dial hangs up the callee and the caller's
	// dialplan goes on after Dial.
	c.nextLocked(cal, "Set", "GOSUB_RESULT=CONTINUE")
	c.varSetLocked(cal, "GOSUB_RESULT", "CONTINUE")
	c.nextLocked(cal, "Return", "")
	c.hangupRequestLocked(cal, true, wcbproto.CauseNormalClearing, 0)
	c.announcing = false
	s.mu.Unlock()
	c.afterDial(st, "NOANSWER", wcbproto.CauseNormalClearing, 0, c.answeredMS(), 0)
	return false
}

// answeredMS is ANSWEREDTIME_MS now: from the caller's answer.
func (c *call) answeredMS() int { return int(c.now.Sub(c.rowAnswer()) / time.Millisecond) }
