package sandbox

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"webcallback/ami"
	"webcallback/internal/wcbproto"
)

// Limits on Originate input, as Asterisk's (AST_MAX_PUBLIC_UNIQUEID).
const (
	maxUniqueidLen = 149
	maxVariables   = 64
)

type actionFunc func(c *conn, m *ami.Message) bool

// actions are the manager actions the sandbox implements, by lower-case
// name, with the synopsis ListCommands shows.
var actions map[string]struct {
	name, synopsis string
	fn             actionFunc
}

func init() {
	actions = map[string]struct {
		name, synopsis string
		fn             actionFunc
	}{}
	add := func(name, synopsis string, fn actionFunc) {
		actions[strings.ToLower(name)] = struct {
			name, synopsis string
			fn             actionFunc
		}{name, synopsis, fn}
	}
	add("Login", "Login Manager.", (*conn).login)
	add("Logoff", "Logoff Manager.", (*conn).logoff)
	add("Challenge", "Generate Challenge for MD5 Auth.", (*conn).challengeAction)
	add("Ping", "Keepalive command.", (*conn).ping)
	add("Events", "Control Event Flow.", (*conn).events)
	add("Originate", "Originate a call.", (*conn).originateAction)
	add("Hangup", "Hangup channel.", (*conn).hangupAction)
	add("Status", "List channel status.", (*conn).status)
	add("CoreShowChannels", "List currently active channels.", (*conn).coreShowChannels)
	add("CoreSettings", "Show PBX core settings (version etc).", (*conn).coreSettings)
	add("Command", "Execute Asterisk CLI Command.", (*conn).command)
	add("ListCommands", "List available manager commands.", (*conn).listCommands)
}

// handle runs one action. It returns false to close the connection.
func (c *conn) handle(m *ami.Message) bool {
	// Asterisk reads headers as C strings: a NUL ends the value there. A
	// stray CR ends it too here, so that nothing unencodable is echoed.
	for i, h := range m.Headers {
		if j := strings.IndexAny(h.Value, "\x00\r"); j >= 0 {
			m.Headers[i].Value = h.Value[:j]
		}
		if j := strings.IndexAny(h.Key, "\x00\r"); j >= 0 {
			m.Headers[i].Key = h.Key[:j]
		}
	}
	name := m.Get("Action")
	id := m.ActionID()
	if name == "" {
		c.reply(response("Error", id, "Message", "Missing action in request"))
		return true
	}
	lower := strings.ToLower(name)
	if !c.authed.Load() && lower != "login" && lower != "logoff" && lower != "challenge" {
		c.reply(response("Error", id, "Message", "Permission denied"))
		return true
	}
	a, ok := actions[lower]
	if !ok {
		c.reply(response("Error", id, "Message",
			"Invalid/unknown command: "+name+". Use Action: ListCommands to show available commands."))
		return true
	}
	return a.fn(c, m)
}

func (c *conn) logoff(m *ami.Message) bool {
	c.reply(response("Goodbye", m.ActionID(), "Message", "Thanks for all the fish."))
	return false
}

func (c *conn) challengeAction(m *ami.Message) bool {
	if !strings.EqualFold(m.Get("AuthType"), "MD5") {
		c.reply(response("Error", m.ActionID(), "Message", "Must specify AuthType"))
		return true
	}
	if c.challenge == "" {
		c.s.mu.Lock()
		c.challenge = strconv.FormatUint(c.s.rng.Uint64N(1<<31), 10)
		c.s.mu.Unlock()
	}
	c.reply(response("Success", m.ActionID(), "Challenge", c.challenge))
	return true
}

func (c *conn) ping(m *ami.Message) bool {
	now := time.Now()
	ts := fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
	c.reply(response("Success", m.ActionID(), "Ping", "Pong", "Timestamp", ts))
	return true
}

func (c *conn) events(m *ami.Message) bool {
	mask := parseEventMask(m.Get("EventMask"))
	c.s.mu.Lock()
	c.mask.Store(uint32(mask))
	c.s.updateWantLocked()
	c.s.mu.Unlock()
	state := "Off"
	if mask != 0 {
		state = "On"
	}
	c.reply(response("Success", m.ActionID(), "Events", state))
	return true
}

// originateAction validates an Originate and starts the call. Only the
// dialplan context webcallback, extension s, priority 1 exists, and only
// PJSIP channels on the configured trunk can be dialled.
func (c *conn) originateAction(m *ami.Message) bool {
	id := m.ActionID()
	fail := func(msg string) bool {
		c.reply(response("Error", id, "Message", msg))
		return true
	}
	chanReq := m.Get("Channel")
	if chanReq == "" {
		return fail("Channel not specified")
	}
	if v := m.Get("Application"); v != "" {
		// Asterisk would run the application; the sandbox only has the
		// dialplan, and the engine never originates to an application.
		return fail("Originate to an application is not supported by the sandbox PBX")
	}
	exten, ctx, prio := m.Get("Exten"), m.Get("Context"), m.Get("Priority")
	if prio == "" {
		prio = "1"
	}
	if ctx != wcbproto.Context || exten != wcbproto.Exten || prio != wcbproto.Priority {
		return fail("Extension does not exist.")
	}
	number, ok := pjsipNumber(chanReq, c.s.cfg.Trunk)
	if !ok {
		// Asterisk queues it, then fails to create the channel.
		return fail("Originate failed")
	}
	timeout := 30 * time.Second
	if v := m.Get("Timeout"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			return fail("Invalid timeout")
		}
		if ms > 0 {
			timeout = time.Duration(ms) * time.Millisecond
		}
	}
	chanID := m.Get("ChannelId")
	if len(chanID) > maxUniqueidLen {
		return fail(fmt.Sprintf("Uniqueid length exceeds maximum of %d", maxUniqueidLen))
	}
	var vars []ami.Header
	for _, v := range m.Values("Variable") {
		for _, kv := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(kv, "=")
			if k = strings.TrimSpace(k); k != "" {
				vars = append(vars, ami.Header{Key: k, Value: val})
			}
		}
	}
	if len(vars) > maxVariables {
		return fail("Too many variables")
	}
	cidName, cidNum := parseCallerID(m.Get("CallerID"))
	o := originate{
		actionID: id, channel: chanReq, number: number, cidNum: cidNum, cidName: cidName,
		timeout: timeout, channelID: chanID, vars: vars, async: isTrue(m.Get("Async")),
		result: make(chan bool, 1),
	}
	cl := &call{s: c.s, req: o, amiCaller: make(chan hangupReq, 1), amiCallee: make(chan hangupReq, 1)}

	c.s.mu.Lock()
	if c.s.closed || c.s.stopping {
		c.s.mu.Unlock()
		return fail("Originate failed")
	}
	if chanID != "" && c.s.uniqueidInUseLocked(chanID) {
		c.s.mu.Unlock()
		return fail("Originate failed")
	}
	c.s.calls.Add(1)
	c.s.processed++
	// The PBX's own record of what it was asked to place (the chaos soak
	// tells an Originate lost in flight from one it took by this line).
	c.s.log.Info("sandbox originate", "channelid", chanID)
	if o.async {
		c.replyLocked(response("Success", id, "Message", "Originate successfully queued"))
		go cl.run()
		c.s.mu.Unlock()
		return true
	}
	// Synchronous: the session blocks until the caller answers or the
	// attempt fails, and its events wait behind the response.
	c.s.enqueueLocked(outItem{conn: c, ctl: ctlPause})
	go cl.run()
	c.s.mu.Unlock()
	r := response("Error", id, "Message", "Originate failed")
	if <-o.result {
		r = response("Success", id, "Message", "Originate successfully queued")
	}
	c.control(ctlResume, r)
	return true
}

// pjsipNumber takes "PJSIP/<digits>@<trunk>" apart.
func pjsipNumber(ch, trunk string) (string, bool) {
	rest, ok := strings.CutPrefix(ch, "PJSIP/")
	if !ok {
		return "", false
	}
	num, tr, ok := strings.Cut(rest, "@")
	if !ok || tr != trunk || num == "" || len(num) > 32 {
		return "", false
	}
	for i := 0; i < len(num); i++ {
		if c := num[i]; !(c >= '0' && c <= '9' || c == '+' && i == 0) {
			return "", false
		}
	}
	return num, true
}

// parseCallerID splits `"Name" <number>`, `<number>` or `number`.
func parseCallerID(s string) (name, num string) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		num = s[i+1 : len(s)-1]
		name = strings.Trim(strings.TrimSpace(s[:i]), `"`)
		return name, num
	}
	return "", s
}

// isTrue is Asterisk's ast_true.
func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "y", "t", "1", "on":
		return true
	}
	return false
}

// hangupAction hangs up a channel by name, or every channel matching
// /regex/ (then with a ChannelHungup list, as Asterisk 22 does).
func (c *conn) hangupAction(m *ami.Message) bool {
	id := m.ActionID()
	name := m.Get("Channel")
	if name == "" {
		c.reply(response("Error", id, "Message", "No channel specified"))
		return true
	}
	cause := 0
	if v := m.Get("Cause"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 127 {
			cause = n
		}
	}
	s := c.s
	if !strings.HasPrefix(name, "/") {
		s.mu.Lock()
		ch, ok := s.chans[name]
		if ok {
			ch.call.interrupt(ch, cause)
		}
		s.mu.Unlock()
		if !ok {
			c.reply(response("Error", id, "Message", "No such channel"))
			return true
		}
		c.reply(response("Success", id, "Message", "Channel Hungup"))
		return true
	}
	pat := strings.TrimSuffix(strings.TrimPrefix(name, "/"), "/")
	if len(name) < 2 || !strings.HasSuffix(name, "/") {
		c.reply(response("Error", id, "Message", "Regex format invalid, Channel param should be /regex/"))
		return true
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		c.reply(response("Error", id, "Message", "Regex compile failed on: "+name))
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.replyLocked(response("Success", id, "EventList", "start", "Message", "Channels hung up will follow"))
	n := 0
	for _, ch := range s.sortedChannelsLocked() {
		if !re.MatchString(ch.name) {
			continue
		}
		ch.call.interrupt(ch, cause)
		n++
		ev := ami.NewMessage("Event", "ChannelHungup", "Channel", ch.name)
		if id != "" {
			ev.Add("ActionID", id)
		}
		c.replyLocked(ev)
	}
	c.replyLocked(listComplete("ChannelsHungupListComplete", id, n))
	return true
}

// listComplete is the closing event of an event list.
func listComplete(event, id string, n int) *ami.Message {
	m := ami.NewMessage("Event", event)
	if id != "" {
		m.Add("ActionID", id)
	}
	m.Add("EventList", "Complete")
	m.Add("ListItems", strconv.Itoa(n))
	return m
}

// sortedChannelsLocked lists the live channels, oldest first.
func (s *Server) sortedChannelsLocked() []*channel {
	out := make([]*channel, 0, len(s.chans))
	for _, ch := range s.chans {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// status is the Status action: one Status event per channel (or the one
// named), then StatusComplete, all under s.mu so no call event interleaves.
func (c *conn) status(m *ami.Message) bool {
	id := m.ActionID()
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.sortedChannelsLocked()
	if name := m.Get("Channel"); name != "" {
		ch, ok := s.chans[name]
		if !ok {
			c.replyLocked(response("Error", id, "Message", "No such channel"))
			return true
		}
		list = []*channel{ch}
	}
	c.replyLocked(response("Success", id, "EventList", "start", "Message", "Channel status will follow"))
	// Variables: a,b asks for channel variables (what the engine may use to
	// recognise its calls after a reconnect).
	var wanted []string
	for _, v := range strings.Split(m.Get("Variables"), ",") {
		if v = strings.TrimSpace(v); v != "" && len(wanted) < maxVariables {
			wanted = append(wanted, v)
		}
	}
	for _, ch := range list {
		ev := event("Status", classCall, ch, nil,
			"Type", "PJSIP", "DNID", ch.dialed,
			"EffectiveConnectedLineNum", orUnknown(ch.connNum), "EffectiveConnectedLineName", orUnknown(ch.connName),
			"TimeToHangup", "0", "BridgeID", ch.bridgeID, "Application", ch.app, "Data", ch.appData,
			"Nativeformats", "(ulaw)", "Readformat", "ulaw", "Readtrans", "", "Writeformat", "ulaw", "Writetrans", "",
			"Callgroup", "0", "Pickupgroup", "0", "Seconds", strconv.Itoa(int(ch.age()/time.Second)))
		ev.Headers[1].Value = "Call" // Asterisk writes this one capitalised and without ",all"
		for _, v := range wanted {
			ev.Add("Variable", v+"="+ch.variable(v))
		}
		if id != "" {
			ev.Add("ActionID", id)
		}
		c.replyLocked(ev)
	}
	done := listComplete("StatusComplete", id, len(list))
	done.Add("Items", strconv.Itoa(len(list)))
	c.replyLocked(done)
	return true
}

// coreShowChannels lists the channels as CoreShowChannel events.
func (c *conn) coreShowChannels(m *ami.Message) bool {
	id := m.ActionID()
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c.replyLocked(response("Success", id, "EventList", "start", "Message", "Channels will follow"))
	list := s.sortedChannelsLocked()
	for i := len(list) - 1; i >= 0; i-- { // Asterisk lists the newest first
		ch := list[i]
		ev := ami.NewMessage("Event", "CoreShowChannel")
		if id != "" {
			ev.Add("ActionID", id)
		}
		ch.appendSnapshot(ev, "")
		ev.Add("Application", ch.app)
		ev.Add("ApplicationData", ch.appData)
		ev.Add("Duration", clockDuration(ch.age()))
		ev.Add("BridgeId", ch.bridgeID)
		c.replyLocked(ev)
	}
	c.replyLocked(listComplete("CoreShowChannelsComplete", id, len(list)))
	return true
}

// clockDuration formats d as HH:MM:SS.
func clockDuration(d time.Duration) string {
	sec := int(d / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", sec/3600, sec/60%60, sec%60)
}

func (c *conn) coreSettings(m *ami.Message) bool {
	c.reply(response("Success", m.ActionID(),
		"AMIversion", "11.0.0", "AsteriskVersion", asteriskVersion, "SystemName", "",
		"CoreMaxCalls", "0", "CoreMaxLoadAvg", "0.000000", "CoreRunUser", "", "CoreRunGroup", "",
		"CoreMaxFilehandles", "0", "CoreRealTimeEnabled", "No", "CoreCDRenabled", "Yes",
		"CoreHTTPenabled", "No", "SoundsSearchCustomDir", "No"))
	return true
}

func (c *conn) listCommands(m *ami.Message) bool {
	r := response("Success", m.ActionID())
	names := make([]string, 0, len(actions))
	for k := range actions {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		a := actions[k]
		r.Add(a.name, a.synopsis+"  (Priv: <none>)")
	}
	c.reply(r)
	return true
}
