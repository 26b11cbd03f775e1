package sandbox

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"webcallback/ami"
)

// Channel states as AMI reports them.
const (
	stateDown    = 0
	stateRinging = 5
	stateUp      = 6
)

func stateDesc(st int) string {
	switch st {
	case stateDown:
		return "Down"
	case stateRinging:
		return "Ringing"
	case stateUp:
		return "Up"
	}
	return "Unknown"
}

// channel is one simulated PJSIP channel. Its fields are guarded by
// Server.mu: the call goroutine changes them, Status and CoreShowChannels
// read them.
type channel struct {
	name, uniqueid, linkedid string
	state                    int
	cidNum, cidName          string
	connNum, connName        string
	language                 string
	context, exten           string
	priority                 int
	app, appData             string
	created                  time.Time // simulated
	bridgeID                 string
	dialed                   string // DNID: the number this leg dialled
	call                     *call
	gone                     bool
}

// unknown is how Asterisk shows an unset caller ID part.
func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// appendSnapshot appends the channel's state headers as
// ast_manager_build_channel_state_string does, keys prefixed with prefix
// ("" or "Dest").
func (ch *channel) appendSnapshot(m *ami.Message, prefix string) {
	m.Headers = append(m.Headers,
		ami.Header{Key: prefix + "Channel", Value: ch.name},
		ami.Header{Key: prefix + "ChannelState", Value: strconv.Itoa(ch.state)},
		ami.Header{Key: prefix + "ChannelStateDesc", Value: stateDesc(ch.state)},
		ami.Header{Key: prefix + "CallerIDNum", Value: orUnknown(ch.cidNum)},
		ami.Header{Key: prefix + "CallerIDName", Value: orUnknown(ch.cidName)},
		ami.Header{Key: prefix + "ConnectedLineNum", Value: orUnknown(ch.connNum)},
		ami.Header{Key: prefix + "ConnectedLineName", Value: orUnknown(ch.connName)},
		ami.Header{Key: prefix + "Language", Value: ch.language},
		ami.Header{Key: prefix + "AccountCode", Value: ""},
		ami.Header{Key: prefix + "Context", Value: ch.context},
		ami.Header{Key: prefix + "Exten", Value: ch.exten},
		ami.Header{Key: prefix + "Priority", Value: strconv.Itoa(ch.priority)},
		ami.Header{Key: prefix + "Uniqueid", Value: ch.uniqueid},
		ami.Header{Key: prefix + "Linkedid", Value: ch.linkedid},
	)
}

// event starts an event message: Event, Privilege, then the snapshots of
// the given channels (the second one, if any, as Dest*).
func event(name string, class eventClass, ch, dest *channel, kv ...string) *ami.Message {
	m := &ami.Message{Headers: make([]ami.Header, 0, 2+14*2+len(kv)/2)}
	m.Add("Event", name)
	m.Add("Privilege", class.privilege())
	if ch != nil {
		ch.appendSnapshot(m, "")
	}
	if dest != nil {
		dest.appendSnapshot(m, "Dest")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	return m
}

// newChannelLocked creates a channel on the trunk, registers it and emits
// Newchannel. uniqueid "" generates one as Asterisk does ("<epoch>.<n>").
// The caller holds s.mu.
func (s *Server) newChannelLocked(c *call, uniqueid, linkedid string) *channel {
	s.chanSeq++
	now := c.now
	if uniqueid == "" {
		uniqueid = s.genUniqueidLocked(now)
	}
	if linkedid == "" {
		linkedid = uniqueid
	}
	ch := &channel{
		name:     fmt.Sprintf("PJSIP/%s-%08x", s.cfg.Trunk, s.chanSeq),
		uniqueid: uniqueid,
		linkedid: linkedid,
		language: "en",
		context:  "from-" + s.cfg.Trunk,
		exten:    "s",
		priority: 1,
		created:  now,
		call:     c,
	}
	s.chans[ch.name] = ch
	s.byID[ch.uniqueid] = ch
	// state stateDown: counted as not up
	s.emitLocked(classCall, event("Newchannel", classCall, ch, nil))
	return ch
}

func (s *Server) genUniqueidLocked(now time.Time) string {
	s.idSeq++
	return strconv.FormatInt(now.Unix(), 10) + "." + strconv.Itoa(s.idSeq)
}

// uniqueidInUseLocked reports whether a pre-assigned ChannelId is taken.
func (s *Server) uniqueidInUseLocked(id string) bool {
	_, ok := s.byID[id]
	return ok
}

// removeChannelLocked forgets a hung-up channel.
func (s *Server) removeChannelLocked(ch *channel) {
	if ch.state == stateUp {
		s.nUp--
	}
	ch.gone = true
	delete(s.chans, ch.name)
	delete(s.byID, ch.uniqueid)
}

// setStateLocked changes a channel's state, keeping the count of Up
// channels the device state is computed from.
func (s *Server) setStateLocked(ch *channel, st int) {
	if ch.state == stateUp {
		s.nUp--
	}
	if st == stateUp {
		s.nUp++
	}
	ch.state = st
}

// updateDeviceStateLocked recomputes PJSIP/<trunk>'s device state from its
// channels and emits DeviceStateChange when it changed.
func (s *Server) updateDeviceStateLocked() {
	up := s.nUp
	ringing := len(s.chans) - up
	st := "NOT_INUSE"
	switch {
	case ringing > 0 && up > 0:
		st = "RINGINUSE"
	case ringing > 0:
		st = "RINGING"
	case up > 0:
		st = "INUSE"
	}
	if st == s.devState {
		return
	}
	s.devState = st
	s.emitLocked(classCall, ami.NewMessage("Event", "DeviceStateChange", "Privilege", classCall.privilege(),
		"Device", "PJSIP/"+s.cfg.Trunk, "State", st))
}

// bridgeEvent is a Bridge* event without a channel.
func bridgeEvent(name, id string, n int) *ami.Message {
	return withBridge(ami.NewMessage("Event", name, "Privilege", classCall.privilege()), id, n)
}

// withBridge inserts the bridge headers after Privilege, where Asterisk
// puts them (before the channel snapshot).
func withBridge(m *ami.Message, id string, n int) *ami.Message {
	br := []ami.Header{
		{Key: "BridgeUniqueid", Value: id}, {Key: "BridgeType", Value: "basic"},
		{Key: "BridgeTechnology", Value: "simple_bridge"}, {Key: "BridgeCreator", Value: "<unknown>"},
		{Key: "BridgeName", Value: "<unknown>"}, {Key: "BridgeNumChannels", Value: strconv.Itoa(n)},
		{Key: "BridgeVideoSourceMode", Value: "none"},
	}
	h := make([]ami.Header, 0, len(m.Headers)+len(br))
	h = append(h, m.Headers[:2]...)
	h = append(h, br...)
	h = append(h, m.Headers[2:]...)
	m.Headers = h
	return m
}

// age is how long the channel has existed in simulated time, projected
// from its call's clock to this moment. The caller holds s.mu.
func (ch *channel) age() time.Duration {
	c := ch.call
	return max(0, c.s.clock.Project(c.start).Sub(ch.created))
}

// variable returns a channel variable as Status reports it: the caller
// leg has the Originate's variables (the WCB_* ones as the dialplan
// re-filtered them once it ran); other names and legs read empty.
func (ch *channel) variable(name string) string {
	c := ch.call
	if ch != c.caller {
		return ""
	}
	if v, ok := c.vars[name]; ok {
		return v
	}
	for _, h := range c.req.vars {
		if strings.TrimLeft(h.Key, "_") == name {
			return h.Value
		}
	}
	return ""
}
