package policy

import (
	"sync/atomic"
	"time"

	"webcallback/internal/policy/ratelimit"
)

// shareLimits makes every limiter count in b (Config.Shared): several
// instances then give one address, subnet, number or prefix the allowance
// of one. A failing b is logged at most once a minute; the limiters then
// count in memory until it answers again.
func (g *Guard) shareLimits(b ratelimit.Backend) {
	var lastLog atomic.Int64
	onErr := func(err error) {
		now := time.Now().Unix()
		if last := lastLog.Load(); now-last >= 60 && lastLog.CompareAndSwap(last, now) {
			g.log.Warn("shared rate limits unavailable; counting per instance meanwhile", "err", err)
		}
	}
	for name, l := range map[string]*ratelimit.Limiter{
		"ip": g.ip, "subnet": g.subnet, "caller": g.caller, "callee": g.callee, "prefix": g.prefix,
	} {
		l.Share(name, b, onErr)
	}
}
