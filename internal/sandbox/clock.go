package sandbox

import "time"

// clock is the sandbox's time scale: simulated time runs 1/scale times as
// fast as the wall clock (scale 0.01 plays a 300 s call in 3 s).
//
// Absolute times stay anchored to the wall clock: a call's own clock
// (call.now) starts at the wall-clock time the call starts and advances by
// exactly the simulated durations it waits. So CDR dates are today's, not
// days ahead after an hour at a small scale, while durations read as in a
// real-time call.
type clock struct {
	scale float64
	start time.Time // wall clock at New
}

func newClock(scale float64) *clock {
	if !(scale > 0) { // also catches NaN
		scale = 1
	}
	return &clock{scale: scale, start: time.Now()}
}

// Sim returns the simulated time since the server started, as a time: the
// call-rate limit counts calls per simulated second with it.
func (c *clock) Sim() time.Time { return c.Project(c.start) }

// Project returns where simulated time started at the wall-clock time
// origin has got to now.
func (c *clock) Project(origin time.Time) time.Time {
	return origin.Add(time.Duration(float64(time.Since(origin)) / c.scale))
}

// Real converts a simulated duration to the wall-clock duration it takes.
func (c *clock) Real(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * c.scale)
}
