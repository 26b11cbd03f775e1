//go:build race

package abusetest

// raceEnabled scales the floods down: the race detector makes each request
// some 30 times slower, and the properties do not depend on the count.
const raceEnabled = true
