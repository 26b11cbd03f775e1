package sandbox

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
)

// BenchmarkConcurrentCalls runs b.N connected calls (15 s limit, both legs
// answer), up to 200 at a time, at time scale 0.0005 over one AMI
// connection, with every event class on and with the engine's classes,
// and reports the events and calls the sandbox delivers per wall-clock
// second.
func BenchmarkConcurrentCalls(b *testing.B) {
	for _, events := range []string{"on", "call,cdr,user"} {
		b.Run("events="+events, func(b *testing.B) { benchCalls(b, events) })
	}
}

func benchCalls(b *testing.B, events string) {
	_, addr := startServer(b, Config{TimeScale: 0.0005, Seed: 1})
	c := dialRaw(b, addr)
	c.nc.SetDeadline(time.Time{})
	c.login(events)
	const inFlight = 200
	slots := make(chan struct{}, inFlight)
	done := make(chan int) // events read
	go func() {
		count, ended := 0, 0
		for ended < b.N {
			m, err := c.r.ReadMessage()
			if err != nil {
				b.Errorf("read: %v", err)
				break
			}
			if m.Event() != "" {
				count++
			}
			if m.Event() == "Hangup" && strings.HasPrefix(m.Get("Uniqueid"), "bench-") {
				ended++
				<-slots
			}
		}
		done <- count
	}()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		slots <- struct{}{}
		id := fmt.Sprintf("bench-%d", i)
		msg, _ := ami.NewMessage("Action", "Originate", "ActionID", id, "Channel", "PJSIP/13800001001@gateway",
			"Context", "webcallback", "Exten", "s", "ChannelId", id, "Async", "true",
			"Variable", "WCB_ID="+id+",WCB_CALLEE=13800002002,WCB_LIMIT_MS=15000,WCB_WARN_MS=5000").AppendTo(nil)
		if _, err := c.nc.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	n := <-done
	elapsed := time.Since(start)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(n)/float64(b.N), "events/call")
}
