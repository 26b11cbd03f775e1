package sandbox

import "time"

// clock is the sandbox's simulated time: it runs 1/scale times as fast as the
// wall clock (scale 0.01 plays a 300 s call in 3 s). Everything the PBX
// reports (Uniqueids, CDR times and durations, Uptime) is in simulated time,
// so a fast test sees the same numbers a real call would produce.
type clock struct {
	scale     float64
	realStart time.Time
	simStart  time.Time
}

func newClock(scale float64, start time.Time) *clock {
	if !(scale > 0) { // also catches NaN
		scale = 1
	}
	return &clock{scale: scale, realStart: time.Now(), simStart: start}
}

// Now returns the simulated time.
func (c *clock) Now() time.Time {
	return c.simStart.Add(time.Duration(float64(time.Since(c.realStart)) / c.scale))
}

// Real converts a simulated duration to the wall-clock duration it takes.
func (c *clock) Real(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * c.scale)
}
