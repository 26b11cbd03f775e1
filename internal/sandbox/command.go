package sandbox

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"webcallback/ami"
)

// asteriskVersion is the version the sandbox reports (the fixtures').
const asteriskVersion = "22.10.1"

// command is the Command action for the read-only CLI commands an operator
// or a health check uses. Replies are Asterisk 14+'s: one Output: header
// per line, no "--END COMMAND--".
func (c *conn) command(m *ami.Message) bool {
	cmd := strings.Join(strings.Fields(m.Get("Command")), " ")
	lines, ok := c.s.cli(cmd)
	status := "Success"
	if !ok {
		status = "Error"
	}
	r := response(status, m.ActionID(), "Message", "Command output follows")
	for _, l := range lines {
		r.Add("Output", l)
	}
	c.reply(r)
	switch strings.ToLower(cmd) {
	case "core stop now", "core restart now":
		// After the reply is queued: Asterisk answers, then stops (its
		// hang-ups, Shutdown and FIN come behind the reply, never before).
		go c.s.StopNow(strings.HasPrefix(strings.ToLower(cmd), "core restart"))
	}
	return true
}

// cli runs a CLI command; ok is false for an unknown one.
func (s *Server) cli(cmd string) (lines []string, ok bool) {
	switch strings.ToLower(cmd) {
	case "core show version":
		return []string{fmt.Sprintf("Asterisk %s built by webcallback @ sandbox on a %s running %s (webcallback sandbox PBX)",
			asteriskVersion, runtime.GOARCH, runtime.GOOS)}, true
	case "core show uptime", "core show uptime seconds":
		up := time.Since(s.clock.start)
		if strings.HasSuffix(cmd, "seconds") {
			n := int64(up / time.Second)
			return []string{fmt.Sprintf("System uptime: %d", n), fmt.Sprintf("Last reload: %d", n)}, true
		}
		return []string{"System uptime: " + humanDuration(up), "Last reload: " + humanDuration(up)}, true
	case "core show channels":
		return s.showChannels(), true
	case "core stop now", "core restart now":
		return nil, true // the stop itself follows the reply (conn.command)
	}
	return []string{fmt.Sprintf("No such command '%s' (type 'core show help %s' for other possible commands)", cmd, cmd)}, false
}

// showChannels is "core show channels".
func (s *Server) showChannels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	const format = "%-64.64s %-32.32s %-7.7s %-50.50s"
	out := []string{fmt.Sprintf(format, "Channel", "Location", "State", "Application(Data)")}
	calls := 0
	for _, ch := range s.sortedChannelsLocked() {
		loc := fmt.Sprintf("%s@%s:%d", ch.exten, ch.context, ch.priority)
		out = append(out, fmt.Sprintf(format, ch.name, loc, stateDesc(ch.state), ch.app+"("+ch.appData+")"))
		if ch.call != nil && ch == ch.call.caller {
			calls++
		}
	}
	out = append(out,
		plural(len(s.chans), "active channel"),
		plural(calls, "active call"),
		plural(s.processed, "call")+" processed")
	return out
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// humanDuration writes d as Asterisk does ("1 hour, 2 minutes, 3 seconds").
func humanDuration(d time.Duration) string {
	sec := int(d / time.Second)
	var parts []string
	for _, u := range []struct {
		n    int
		name string
	}{{86400, "day"}, {3600, "hour"}, {60, "minute"}} {
		if sec >= u.n {
			parts = append(parts, plural(sec/u.n, u.name))
			sec %= u.n
		}
	}
	if sec > 0 || len(parts) == 0 {
		parts = append(parts, plural(sec, "second"))
	}
	return strings.Join(parts, ", ")
}
