package nodes

import "testing"

func TestChoose(t *testing.T) {
	up := func(load, max int) Candidate { return Candidate{Up: true, Load: load, Max: max} }
	down := func(load, max int) Candidate { return Candidate{Load: load, Max: max} }
	drained := func(c Candidate) Candidate { c.Draining = true; return c }
	for _, tc := range []struct {
		name  string
		cs    []Candidate
		start int
		want  int
	}{
		{"none", nil, 0, -1},
		{"one node", []Candidate{up(5, 10)}, 3, 0},
		{"least busy", []Candidate{up(5, 10), up(2, 10), up(3, 10)}, 0, 1},
		{"tie goes to start", []Candidate{up(2, 10), up(2, 10), up(2, 10)}, 2, 2},
		{"tie wraps from start", []Candidate{up(2, 10), up(2, 10), up(3, 10)}, 2, 0},
		{"negative start", []Candidate{up(1, 10), up(1, 10)}, -1, 1},
		{"full node skipped though least busy", []Candidate{up(4, 4), up(7, 20)}, 0, 1},
		{"no cap", []Candidate{up(50, 0), up(60, 10)}, 0, 0},
		{"down gets none", []Candidate{down(0, 10), up(9, 10)}, 0, 1},
		{"draining gets none", []Candidate{drained(up(0, 10)), up(9, 10)}, 0, 1},
		{"all full: least over its cap queues", []Candidate{up(12, 10), up(21, 20)}, 0, 1},
		{"all full but one down", []Candidate{down(0, 10), up(15, 10)}, 0, 1},
		{"all down: least busy not draining waits", []Candidate{down(3, 10), drained(down(0, 10)), down(2, 10)}, 0, 2},
		{"all draining", []Candidate{drained(up(0, 10)), drained(down(0, 10))}, 0, -1},
		{"draining and down only", []Candidate{drained(up(0, 10)), down(5, 10)}, 0, 1},
	} {
		if got := Choose(tc.cs, tc.start); got != tc.want {
			t.Errorf("%s: Choose = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestChooseSpreads: idle nodes with the caller's rotation share the calls evenly.
func TestChooseSpreads(t *testing.T) {
	cs := []Candidate{{Up: true, Max: 100}, {Up: true, Max: 100}, {Up: true, Max: 100}}
	counts := make([]int, len(cs))
	for i := range 30 {
		j := Choose(cs, i)
		counts[j]++
		cs[j].Load++
	}
	for j, n := range counts {
		if n != 10 {
			t.Errorf("node %d got %d of 30 calls, want 10 (%v)", j, n, counts)
		}
	}
}
