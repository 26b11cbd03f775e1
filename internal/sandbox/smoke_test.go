package sandbox

import (
	"testing"

	"webcallback/ami"
)

func TestSmoke(t *testing.T) {
	_, addr := startServer(t, Config{TimeScale: 0.001, Seed: 1})
	c := dialRaw(t, addr)
	c.login("")
	c.read() // FullyBooted
	c.send("Action", "Originate", "ActionID", "o1", "Channel", "PJSIP/13800001001@gateway", "Context", "webcallback", "Exten", "s", "Priority", "1",
		"CallerID", "<13800002002>", "Timeout", "30000", "ChannelId", "0b7e6a4c-1111-4222-8333-444455556666",
		"Variable", "WCB_ID=0b7e6a4c-1111-4222-8333-444455556666,WCB_CALLER=13800001001,WCB_CALLEE=13800002002,WCB_LIMIT_MS=15000,WCB_WARN_MS=5000", "Async", "true")
	msgs := c.until(func(m *ami.Message) bool { return m.Event() == "Hangup" && m.Get("Uniqueid") == "0b7e6a4c-1111-4222-8333-444455556666" })
	for _, m := range msgs {
		if m.Event() == "VarSet" {
			continue
		}
		t.Log(digest(m))
	}
}
