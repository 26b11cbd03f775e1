package asterisk

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	// ref renders a dialplan variable reference: {{ref "X"}} → ${X}.
	"ref":    func(name string) string { return "${" + name + "}" },
	"header": header,
	"esc":    confEscape,
}).ParseFS(templateFS, "templates/*.tmpl"))

// Files lists the files Render returns, in the order an operator installs them.
var Files = []string{"modules.conf", "logger.conf", "pjsip.conf", "extensions.conf", "manager.conf", "cdr.conf", "cdr_manager.conf"}

// Render returns the Asterisk configuration for s: file name (as in Files)
// → contents. It refuses settings that do not validate. Missing secrets are
// rendered as commented-out placeholders (see Settings.Missing).
func Render(s Settings) (map[string][]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("asterisk config: %w", err)
	}
	data := newRenderData(s)
	out := make(map[string][]byte, len(Files))
	for _, name := range append(append([]string{}, Files...), s.CDR.cdrFiles()...) {
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, name+".tmpl", data); err != nil {
			return nil, fmt.Errorf("asterisk config: render %s: %w", name, err)
		}
		out[name] = b.Bytes()
	}
	return out, nil
}

// header is the comment block that opens every file.
func header(file, what string) string {
	return fmt.Sprintf(";\n; %s - %s\n;\n; Rendered by 'webcallback asterisk-config' from the service's settings:\n; change a setting and render again rather than edit this file.", file, what)
}

// WarningSeconds are the warnings, in seconds before the limit, with a
// prompt of their own (WarningPrompt) recorded in deploy/sounds. The
// rendered dialplan also knows the configured --call-warning, whatever it
// is: asterisk-config --install composes its prompt from recorded words
// (sounds.TimeLeftWAV). A warning the dialplan does not know (the service
// and the kit disagree) plays PromptTimeAlmostUp, never core sounds.
var WarningSeconds = []int{10, 15, 20, 30, 60}

// PromptTimeAlmostUp says "your call time is almost over", without a number.
const PromptTimeAlmostUp = "TimeAlmostUp"

// WarningPrompt names the prompt that says "you have <seconds> seconds left".
func WarningPrompt(seconds int) string { return fmt.Sprintf("TimeLeft%d", seconds) }

// Prompts lists every sound file shipped in deploy/sounds that the
// dialplan plays: the callback.Prompt* names, the recorded warnings and
// the generic one.
func Prompts() []string {
	p := []string{
		string(callback.PromptWelcome), string(callback.PromptTimeoutHangup), string(callback.PromptPartnerHangup),
		string(callback.PromptPartnerBusy), string(callback.PromptPartnerAway), string(callback.PromptSystemBusy),
		string(callback.PromptInvalidNumber), PromptTimeAlmostUp,
		string(callback.PromptConfirmCall), string(callback.PromptNoConfirm), string(callback.PromptCalleeAnnounce),
		string(callback.PromptCalleeChoice), string(callback.PromptOptedOut),
	}
	for _, s := range WarningSeconds {
		p = append(p, WarningPrompt(s))
	}
	return p
}

// warningSeconds are the warnings the dialplan names a prompt for: the
// recorded ones and the configured one (whole seconds; 0 = none).
func warningSeconds(s Settings) []int {
	secs := slices.Clone(WarningSeconds)
	if w := int(s.CallWarning / time.Second); w > 0 && !slices.Contains(secs, w) {
		secs = append(secs, w)
		slices.Sort(secs)
	}
	return secs
}

// The dialplan measures talk time itself: ANSWEREDTIME_MS counts from the
// caller's answer on Asterisk 22, not from the callee's.
const (
	// ConnectedVar is set on the caller's channel (MASTER_CHANNEL) by
	// [webcallback-connected], Dial's U() subroutine, when the callee
	// answered: NowMS at that moment.
	ConnectedVar = "WCB_CONNECTED_MS"
	// TalkVar is the talk time in ms after Dial returned (0 if the callee
	// never answered): the dialend UserEvent's wcbproto.HeaderTalkMS and
	// what decides TimeoutHangup (>= limit - 1000).
	TalkVar = "WCB_TALK_MS"
	// NowMS reads the clock in ms since the epoch. STRFTIME without an
	// epoch takes the time with microseconds (ast_tvnow); %3q prints its
	// milliseconds, %s the seconds. ${EPOCH} as the epoch would zero them.
	NowMS = "${STRFTIME(,,%s%3q)}"
)

// Consent (--caller-confirm, --callee-announce): the keys asked for with
// Read().
const (
	// KeyVar holds the key pressed (Read's variable).
	KeyVar = "WCB_KEY"
	// KeyAttempts is Read's attempts: the prompt is played again once when
	// no key comes. A wrong key ends the question at once.
	KeyAttempts = 2
	// KeyWait is how long Read waits for the key after each prompt.
	KeyWait = 5 * time.Second
	// RefusedVar is set on the caller's channel (MASTER_CHANNEL) by the
	// callee's announcement when the callee did not accept: RefusedOptOut
	// (pressed 9) or RefusedNoKey.
	RefusedVar    = "WCB_REFUSED"
	RefusedOptOut = "optout"
	RefusedNoKey  = "nokey"
)

// DialStatuses are the values Dial leaves in ${DIALSTATUS}. The dialplan
// has a cause table for each but ANSWER.
var DialStatuses = []string{"ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL", "DONTCALL", "TORTURE", "INVALIDARGS"}

// MaxCause is the largest Q.850 cause value (7 bits).
const MaxCause = 127

type causeException struct {
	Cause  int
	Prompt callback.Prompt
}

type causeTable struct {
	Status, StatusUpper string
	Default             callback.Prompt
	Exceptions          []causeException
}

// causeTables evaluates wcbproto.CalleeOutcome for every DIALSTATUS but
// ANSWER and every cause 0..MaxCause. Each table's default is its most
// common prompt (a pattern extension, which also covers causes above 127);
// the other causes get an exact extension.
func causeTables() []causeTable {
	var tables []causeTable
	for _, st := range DialStatuses {
		if st == "ANSWER" {
			continue
		}
		prompts := make([]callback.Prompt, MaxCause+1)
		count := map[callback.Prompt]int{}
		for c := range prompts {
			_, prompts[c] = wcbproto.CalleeOutcome(st, c)
			count[prompts[c]]++
		}
		// Most common first; ties broken by name so the output is stable.
		keys := make([]callback.Prompt, 0, len(count))
		for p := range count {
			keys = append(keys, p)
		}
		sort.Slice(keys, func(i, j int) bool {
			if count[keys[i]] != count[keys[j]] {
				return count[keys[i]] > count[keys[j]]
			}
			return keys[i] < keys[j]
		})
		t := causeTable{Status: strings.ToLower(st), StatusUpper: st, Default: keys[0]}
		for c, p := range prompts {
			if p != t.Default {
				t.Exceptions = append(t.Exceptions, causeException{c, p})
			}
		}
		tables = append(tables, t)
	}
	return tables
}

type warning struct {
	MS     int
	Prompt string
}

// renderData is what the templates see.
type renderData struct {
	S                                   Settings
	Context, Exten, Priority, UserEvent string
	VarList                             string
	V                                   struct{ ID, Caller, Callee, CalleeCID, LimitMS, WarnMS, WarnCallee, RingS, Lang, Confirm, Announce string }
	H                                   struct{ ID, Stage, DialStatus, Cause, AnsweredMS, TalkMS, Prompt string }
	ConnectedVar, TalkVar, NowMS        string
	Stage                               struct{ Answered, Confirming, NoConfirm, Dialing, Connected, OptOut, DialEnd, Prompt, Hangup string }
	Prompt                              struct{ Welcome, TimeoutHangup, PartnerHangup, SystemBusy, ConfirmCall, NoConfirm, CalleeAnnounce, CalleeChoice, OptedOut callback.Prompt }
	Reason                              struct{ NoConfirm, OptedOut callback.Reason }
	UserfieldPrefix, UserfieldIDPrefix  string
	UserfieldConsentPrefix              string
	CauseNormal                         int
	KeyVar, RefusedVar                  string
	KeyAttempts, KeyWaitS               int
	Refused                             struct{ OptOut, NoKey string }
	CauseInvalidFormat                  int
	LimitMS, WarnMS, RingS              int64
	WarnCallee                          string
	Warnings                            []warning
	WarningFallback                     string
	CauseTables                         []causeTable

	// The CDR database backend (cdrdb.go).
	CDR           CDRDatabase
	CDRPassword   string // escaped; "" = placeholder
	CauseNoAnswer int

	// manager.conf and pjsip.conf
	AMIBindAddr, AMIBindPort, AMIPermit string
	AMISecret                           string // escaped; "" = placeholder
	RegisterPassword                    string // escaped; "" = placeholder
	SIPBind                             string
	GatewayHost                         string
	GatewayHostPort                     string
	RegisterHost                        string
	RegisterServer                      string
	FromDomain                          string
	EventFilter                         string
	Events                              []string

	// modules.conf
	Modules []Module
}

// AMIEvents are the events the manager.conf user is sent (an eventfilter
// whitelist); everything else (Newexten, VarSet, RTCP, ...) is dropped by
// Asterisk before it reaches the wire. Responses to actions, including the
// events of lists (CoreShowChannel, Status), are not filtered.
var AMIEvents = []string{
	"FullyBooted", "Shutdown", "Reload",
	"OriginateResponse", "Newchannel", "Newstate", "DialBegin", "DialEnd",
	"BridgeEnter", "BridgeLeave", "Hangup", "UserEvent", "Cdr",
}

func newRenderData(s Settings) *renderData {
	d := &renderData{
		S:       s,
		Context: wcbproto.Context, Exten: wcbproto.Exten, Priority: wcbproto.Priority,
		UserEvent:              wcbproto.UserEvent,
		VarList:                strings.Join(wcbproto.Vars, "=...,") + "=...",
		UserfieldPrefix:        confEscape(wcbproto.UserfieldPrefix),
		UserfieldIDPrefix:      confEscape(wcbproto.UserfieldIDPrefix),
		UserfieldConsentPrefix: confEscape(wcbproto.UserfieldConsentPrefix),
		CauseNormal:            wcbproto.CauseNormalClearing,
		KeyVar:                 KeyVar, RefusedVar: RefusedVar, KeyAttempts: KeyAttempts, KeyWaitS: int(KeyWait / time.Second),
		CauseInvalidFormat: wcbproto.CauseInvalidFormat,
		LimitMS:            s.CallLimit.Milliseconds(),
		WarnMS:             s.CallWarning.Milliseconds(),
		RingS:              int64(s.CalleeRing / time.Second),
		WarnCallee:         "no",
		CauseTables:        causeTables(),
		AMISecret:          confEscape(s.AMISecret),
		RegisterPassword:   confEscape(s.RegisterPassword),
		SIPBind:            s.SIPBind,
		GatewayHost:        s.GatewayHost,
		GatewayHostPort:    net.JoinHostPort(s.GatewayHost, strconv.Itoa(s.GatewayPort)),
		AMIPermit:          s.amiPermit(),
		Events:             AMIEvents,
		CDR:                s.CDR,
		CDRPassword:        confEscape(s.CDR.Password),
		CauseNoAnswer:      wcbproto.CauseNoAnswer,
		Modules:            append(Modules[:len(Modules):len(Modules)], s.CDR.Modules()...),
	}
	if s.WarnCallee {
		d.WarnCallee = "yes"
	}
	d.V.ID, d.V.Caller, d.V.Callee, d.V.CalleeCID = wcbproto.VarID, wcbproto.VarCaller, wcbproto.VarCallee, wcbproto.VarCalleeCID
	d.V.LimitMS, d.V.WarnMS, d.V.WarnCallee = wcbproto.VarLimitMS, wcbproto.VarWarnMS, wcbproto.VarWarnCallee
	d.V.RingS, d.V.Lang = wcbproto.VarRingS, wcbproto.VarLang
	d.V.Confirm, d.V.Announce = wcbproto.VarConfirm, wcbproto.VarAnnounce
	d.Stage.Confirming, d.Stage.NoConfirm, d.Stage.OptOut = wcbproto.StageConfirming, wcbproto.StageNoConfirm, wcbproto.StageOptOut
	d.Prompt.ConfirmCall, d.Prompt.NoConfirm, d.Prompt.OptedOut = callback.PromptConfirmCall, callback.PromptNoConfirm, callback.PromptOptedOut
	d.Prompt.CalleeAnnounce, d.Prompt.CalleeChoice = callback.PromptCalleeAnnounce, callback.PromptCalleeChoice
	d.Reason.NoConfirm, d.Reason.OptedOut = callback.ReasonCallerNoConfirm, callback.ReasonCalleeOptedOut
	d.Refused.OptOut, d.Refused.NoKey = RefusedOptOut, RefusedNoKey
	d.H.ID, d.H.Stage, d.H.DialStatus = wcbproto.HeaderID, wcbproto.HeaderStage, wcbproto.HeaderDialStatus
	d.H.Cause, d.H.AnsweredMS, d.H.TalkMS, d.H.Prompt = wcbproto.HeaderCause, wcbproto.HeaderAnsweredMS, wcbproto.HeaderTalkMS, wcbproto.HeaderPrompt
	d.ConnectedVar, d.TalkVar, d.NowMS = ConnectedVar, TalkVar, NowMS
	d.Stage.Answered, d.Stage.Dialing, d.Stage.Connected = wcbproto.StageAnswered, wcbproto.StageDialing, wcbproto.StageConnected
	d.Stage.DialEnd, d.Stage.Prompt, d.Stage.Hangup = wcbproto.StageDialEnd, wcbproto.StagePrompt, wcbproto.StageHangup
	d.Prompt.Welcome, d.Prompt.TimeoutHangup = callback.PromptWelcome, callback.PromptTimeoutHangup
	d.Prompt.PartnerHangup, d.Prompt.SystemBusy = callback.PromptPartnerHangup, callback.PromptSystemBusy
	for _, sec := range warningSeconds(s) {
		d.Warnings = append(d.Warnings, warning{sec * 1000, WarningPrompt(sec)})
	}
	d.WarningFallback = PromptTimeAlmostUp
	d.AMIBindAddr, d.AMIBindPort = splitHostPort(s.AMIBind)
	d.RegisterHost, _ = splitHostPort(s.RegisterServer)
	d.RegisterServer = s.RegisterServer
	d.FromDomain = s.FromDomain
	if d.FromDomain == "" {
		d.FromDomain = d.RegisterHost
	}
	// One anchored regex: legacy eventfilter syntax, which Asterisk 20 and 22
	// both read (the newer name()/action() form is 20.12+/22.2+ only).
	d.EventFilter = "^Event: (" + strings.Join(AMIEvents, "|") + ")[[:space:]]"
	return d
}

// Languages are the prompt languages (CHANNEL(language) values); the
// prompts live in deploy/sounds/<lang>/ and install to
// /var/lib/asterisk/sounds/<lang>/.
var Languages = wcbproto.Languages

// SoundFormats are the file formats of every prompt, as Asterisk names them
// (file extensions): it plays the one that needs no transcoding.
var SoundFormats = []string{"wav", "ulaw", "alaw", "gsm"}
