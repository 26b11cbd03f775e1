package callflow

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"webcallback/ami"
	"webcallback/internal/callback"
	"webcallback/internal/wcbproto"
)

// originateActionID is the ActionID of a request's Originate: the only key a
// failed OriginateResponse carries back.
func originateActionID(id string) string { return "wcb-orig-" + id }

// errBadRequest reports a request the engine refuses to put on the wire.
var errBadRequest = errors.New("callflow: request unsafe to originate")

// maxDialDigits bounds a dial string (E.164 is 15 digits; trunk prefixes add a few).
const maxDialDigits = 32

// digitsOnly reports whether s is 1..maxDialDigits ASCII digits. It is the
// last line of defense: the policy layer normalised the numbers already, but
// nothing but digits may reach a Channel or Variable header, where "&", ",",
// "|", "/", "@", ";" or a line break would change what Asterisk does.
func digitsOnly(s string) bool {
	if s == "" || len(s) > maxDialDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// originate builds the one Originate of a request: async, into the fixed
// context, ChannelId = request id so every event of the call carries it.
func (cfg *Config) originate(r *callback.Request) (*ami.Message, error) {
	if !callback.ValidID(r.ID) {
		return nil, fmt.Errorf("%w: id %q", errBadRequest, r.ID)
	}
	if !digitsOnly(r.CallerDial) || !digitsOnly(r.CalleeDial) {
		return nil, fmt.Errorf("%w: %s: dial strings must be 1-%d digits", errBadRequest, r.ID, maxDialDigits)
	}
	lang := r.Lang
	if !wcbproto.ValidLang(lang) {
		lang = cfg.Lang
	}
	// Caller ID each side sees: the other party (as the original), or our
	// DID for trunks that refuse foreign caller IDs (403).
	callerSees, calleeSees := r.CalleeDial, r.CallerDial
	if cfg.CallerIDMode == CallerIDDID {
		callerSees, calleeSees = cfg.DID, cfg.DID
	}
	warnCallee := "no"
	if cfg.WarnCallee {
		warnCallee = "yes"
	}
	vars := []string{
		wcbproto.VarID, r.ID,
		wcbproto.VarCaller, r.CallerDial,
		wcbproto.VarCallee, r.CalleeDial,
		wcbproto.VarCalleeCID, calleeSees,
		wcbproto.VarLimitMS, ms(cfg.Limit),
		wcbproto.VarWarnMS, ms(cfg.Warning),
		wcbproto.VarWarnCallee, warnCallee,
		wcbproto.VarRingS, strconv.Itoa(int((cfg.CalleeRing + time.Second - 1) / time.Second)),
		wcbproto.VarLang, lang,
		wcbproto.VarConfirm, flag(cfg.CallerConfirm),
		wcbproto.VarAnnounce, flag(cfg.CalleeAnnounce),
	}
	m := ami.NewMessage(
		"Action", "Originate",
		"ActionID", originateActionID(r.ID),
		"Channel", "PJSIP/"+r.CallerDial+"@"+cfg.Trunk,
		"Context", wcbproto.Context,
		"Exten", wcbproto.Exten,
		"Priority", wcbproto.Priority,
		"CallerID", "<"+callerSees+">",
		"Timeout", ms(cfg.CallerRing),
		"ChannelId", r.ID,
		"Async", "true",
	)
	// One Variable header per variable: no value can split another.
	for i := 0; i < len(vars); i += 2 {
		m.Add("Variable", vars[i]+"="+vars[i+1])
	}
	for _, h := range m.Headers {
		if err := ami.CheckHeader(h.Key, h.Value); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errBadRequest, r.ID, err)
		}
	}
	return m, nil
}

// flag is a boolean WCB_* value: "1" or "0".
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func ms(d time.Duration) string { return strconv.FormatInt(int64(d/time.Millisecond), 10) }

// hangupAction hangs up one channel, by name when known, else by the
// Uniqueid Asterisk also accepts in Hangup's Channel header.
func hangupAction(channel string, cause int) *ami.Message {
	return ami.NewMessage("Action", "Hangup", "Channel", channel, "Cause", strconv.Itoa(cause))
}
