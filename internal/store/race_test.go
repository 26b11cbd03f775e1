//go:build race

package store

// raceEnabled: the race detector slows the pure-Go SQLite ~10x, so the
// big generated histories shrink under -race.
const raceEnabled = true
