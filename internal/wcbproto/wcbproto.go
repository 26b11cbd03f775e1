// Package wcbproto names what the engine, the sandbox PBX and the dialplan in
// deploy/asterisk must agree on: the context, the channel variables the
// engine sets on Originate and the UserEvents the dialplan emits. A test in
// each of those packages checks its side against these names, so they cannot
// drift apart.
package wcbproto

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
)

// Vars lists every variable above, in the order the engine writes them.
var Vars = []string{VarID, VarCaller, VarCallee, VarCalleeCID, VarLimitMS, VarWarnMS, VarWarnCallee, VarRingS, VarLang}

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
	StageAnswered  = "answered"  // caller answered; Welcome follows (first priority of the context)
	StageDialing   = "dialing"   // Dial of the callee starts
	StageConnected = "connected" // callee answered (Dial's U() subroutine on the callee channel)
	StageDialEnd   = "dialend"   // Dial returned (callee leg over, caller still up)
	StagePrompt    = "prompt"    // a final prompt is about to be played to the caller
	StageHangup    = "hangup"    // the h extension ran: the caller leg is gone
)

// Stages lists every stage above.
var Stages = []string{StageAnswered, StageDialing, StageConnected, StageDialEnd, StagePrompt, StageHangup}

// UserfieldPrefix starts CDR(userfield), as in the original: "Hangupcause:16;wcb:<id>".
const (
	UserfieldPrefix   = "Hangupcause:"
	UserfieldIDPrefix = ";wcb:"
)
