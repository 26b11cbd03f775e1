// Package wcbproto names what the engine, the sandbox PBX and the dialplan in
// deploy/asterisk must agree on: the context, the channel variables the
// engine sets on Originate and the UserEvents the dialplan emits. A test in
// each of those packages checks its side against these names, so they cannot
// drift apart.
package wcbproto

import (
	"fmt"
	"strings"
	"time"
)

// Context is the one dialplan context every callback is originated into.
// It is fixed: never taken from input.
const Context = "webcallback"

// Exten and Priority where the Originate starts.
const (
	Exten    = "s"
	Priority = "1"
)

// Channel variables set by the engine in the Originate's Variable header.
// Every value is digits, a UUID or a short token; the engine refuses anything else.
const (
	VarID         = "WCB_ID"          // request id (UUID), also the Originate ChannelId
	VarCaller     = "WCB_CALLER"      // caller digits as dialled on the trunk
	VarCallee     = "WCB_CALLEE"      // callee digits as dialled on the trunk
	VarCalleeCID  = "WCB_CALLEE_CID"  // caller ID shown to the callee (the caller's number or our DID)
	VarLimitMS    = "WCB_LIMIT_MS"    // talk limit in ms (default 300000)
	VarWarnMS     = "WCB_WARN_MS"     // warning before the end in ms (default 20000; 0 = none)
	VarWarnCallee = "WCB_WARN_CALLEE" // "yes" plays the warning to the callee too
	VarRingS      = "WCB_RING_S"      // callee ring timeout in seconds
	VarLang       = "WCB_LANG"        // prompt language: "zh" or "en" (CHANNEL(language))
	VarConfirm    = "WCB_CONFIRM"     // "1": the caller presses 1 before the callee is dialled (--caller-confirm)
	VarAnnounce   = "WCB_ANNOUNCE"    // "1": the callee hears who calls and presses 1 to talk or 9 to opt out (--callee-announce)
)

// Vars lists every variable above, in the order the engine writes them.
var Vars = []string{VarID, VarCaller, VarCallee, VarCalleeCID, VarLimitMS, VarWarnMS, VarWarnCallee, VarRingS, VarLang, VarConfirm, VarAnnounce}

// UserEvent is the name of the dialplan's UserEvent(WebCallback,...).
// On the wire: "Event: UserEvent" with "UserEvent: WebCallback".
const UserEvent = "WebCallback"

// Headers of the WebCallback UserEvent. Every one carries HeaderID and HeaderStage.
const (
	HeaderID         = "Id"         // ${WCB_ID}
	HeaderStage      = "Stage"      // one of the Stage* values
	HeaderDialStatus = "DialStatus" // stage dialend: ${DIALSTATUS}
	HeaderCause      = "Cause"      // stages dialend, hangup: ${HANGUPCAUSE} (Q.850 number)
	HeaderAnsweredMS = "AnsweredMs" // stage dialend: ${ANSWEREDTIME_MS}: time since the caller answered (Welcome and ringing included), not talk time
	HeaderTalkMS     = "TalkMs"     // stage dialend: talk time in ms, callee answer (Dial's U()) to Dial's return; 0 if never connected
	HeaderPrompt     = "Prompt"     // stage prompt: the file about to be played
)

// Stages, in the order a connected call emits them.
const (
	StageAnswered = "answered" // caller answered; Welcome follows (first priority of the context)
	// Consent (docs/design.md §6): with WCB_CONFIRM=1 the caller is asked
	// to press 1 after Welcome ("confirming"); any other key or none, twice,
	// ends the call before the callee is dialled ("noconfirm").
	StageConfirming = "confirming"
	StageNoConfirm  = "noconfirm"
	StageDialing    = "dialing"   // Dial of the callee starts
	StageConnected  = "connected" // callee answered (and, with WCB_ANNOUNCE=1, pressed 1): Dial's U() subroutine on the callee channel
	// StageOptOut: with WCB_ANNOUNCE=1 the callee pressed 9 (never call me
	// again) in the U() subroutine; the callee leg is hung up, the caller's
	// dialplan goes on after Dial.
	StageOptOut  = "optout"
	StageDialEnd = "dialend" // Dial returned (callee leg over, caller still up)
	StagePrompt  = "prompt"  // a final prompt is about to be played to the caller
	StageHangup  = "hangup"  // the h extension ran: the caller leg is gone
)

// Stages lists every stage above.
var Stages = []string{StageAnswered, StageConfirming, StageNoConfirm, StageDialing, StageConnected, StageOptOut, StageDialEnd, StagePrompt, StageHangup}

// UserfieldPrefix starts CDR(userfield), as in the original: "Hangupcause:16;wcb:<id>".
const (
	UserfieldPrefix   = "Hangupcause:"
	UserfieldIDPrefix = ";wcb:"
	// UserfieldConsentPrefix follows the id when consent ended the call:
	// ";consent:caller_no_confirm" or ";consent:callee_opted_out" (the
	// request's reason).
	UserfieldConsentPrefix = ";consent:"
)

// The call defaults the engine sends in the WCB_* variables and the
// dialplan falls back to when one is missing: one definition for the
// settings (internal/config), the engine, the policy, the web page and the
// Asterisk kit.
const (
	DefaultCallLimit   = 300 * time.Second // WCB_LIMIT_MS
	DefaultCallWarning = 20 * time.Second  // WCB_WARN_MS
	DefaultRing        = 30 * time.Second  // WCB_RING_S and the caller's Originate timeout
	DefaultLang        = "zh"              // WCB_LANG
	// MaxCallLimit caps the talk limit: a free call of more than an hour
	// is a mistake in the setting (e.g. 90d), not a policy.
	MaxCallLimit = time.Hour
	// MaxRing caps how long a phone rings (the caller's Originate timeout,
	// the friend's Dial timeout): more than an hour is a mistake too.
	MaxRing = time.Hour
	// DefaultTrunk is the PJSIP endpoint of the trunk.
	DefaultTrunk = "gateway"
)

// Languages are the prompt and page languages, the default first.
var Languages = []string{"zh", "en"}

// CheckLang is the one check of a language setting or request value.
func CheckLang(lang string) error {
	for _, l := range Languages {
		if lang == l {
			return nil
		}
	}
	return fmt.Errorf("language %q: want %s", lang, strings.Join(Languages, " or "))
}

// ValidLang reports whether CheckLang accepts lang.
func ValidLang(lang string) bool { return CheckLang(lang) == nil }

// CheckTrunk is the one check of a trunk name: it becomes a pjsip.conf
// section and the @<trunk> of every Dial and Originate, so 1-40 letters,
// digits, '-' or '_' (no '.', ';', '[', '@', '/', space or newline).
func CheckTrunk(name string) error {
	ok := name != "" && len(name) <= 40
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("trunk name %q: 1-40 letters, digits, '-' or '_'", name)
	}
	return nil
}

// CheckCallLimit is the one check of the talk limit (serve, call, the
// Asterisk kit): from 2 s to MaxCallLimit, in whole milliseconds, as
// WCB_LIMIT_MS and Dial's L() carry it.
func CheckCallLimit(limit time.Duration) error {
	if limit < 2*time.Second || limit > MaxCallLimit || limit%time.Millisecond != 0 {
		return fmt.Errorf("call limit %v: from 2s to %v, in whole milliseconds", limit, MaxCallLimit)
	}
	return nil
}

// CheckCallWarning is the one check of the spoken warning before the
// talk limit: 0 (none) or whole seconds below the limit, since the prompt
// tells the seconds left (TimeLeft<N>).
func CheckCallWarning(warning, limit time.Duration) error {
	if warning < 0 || warning >= limit || warning%time.Second != 0 {
		return fmt.Errorf("call warning %v: 0 or whole seconds below the call limit (%v)", warning, limit)
	}
	return nil
}

// CheckRing is the one check of a ring time (the caller's Originate
// timeout, the friend's Dial timeout): whole seconds, as WCB_RING_S and
// Dial carry it, from 1 s to MaxRing.
func CheckRing(ring time.Duration) error {
	if ring < time.Second || ring > MaxRing || ring%time.Second != 0 {
		return fmt.Errorf("ring time %v: whole seconds from 1s to %v", ring, MaxRing)
	}
	return nil
}

// RequestIDFromUserfield returns the <id> of "Hangupcause:16;wcb:<id>"
// (our dialplan's userfield), or "". The id ends at the next ";" or space;
// one that is not a plausible id (1-64 of [0-9A-Za-z.-]) is ignored.
func RequestIDFromUserfield(uf string) string {
	i := strings.Index(uf, UserfieldIDPrefix)
	if i < 0 {
		return ""
	}
	id := uf[i+len(UserfieldIDPrefix):]
	if j := strings.IndexAny(id, "; \t"); j >= 0 {
		id = id[:j]
	}
	if id == "" || len(id) > 64 {
		return ""
	}
	for k := 0; k < len(id); k++ {
		c := id[k]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return ""
		}
	}
	return id
}
