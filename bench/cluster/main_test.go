package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"webcallback/internal/testenv"
)

// TestRun places a few calls on two instances and two PBX nodes and
// checks the report's counts: every call admitted and finished, one
// Originate each, every call on a node.
func TestRun(t *testing.T) {
	dsn := testenv.ClusterDSN(t, "postgres", "bench")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-db", dsn, "-instances", "2", "-nodes", "2", "-calls", "10", "-c", "5", "-scale", "0.001"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP: map[201:10]", "Originates at the PBX 10 for 10 calls admitted (doubled: 0)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// One line per node; its calls and Originates agree and add up to 10.
	var calls, origs int
	for _, line := range strings.Split(out.String(), "\n") {
		var addr string
		var c, o int
		if n, _ := fmt.Sscanf(line, "node %s %d calls, %d Originates", &addr, &c, &o); n == 3 {
			if c != o {
				t.Errorf("%q: calls and Originates differ", line)
			}
			calls, origs = calls+c, origs+o
		}
	}
	if calls != 10 || origs != 10 {
		t.Errorf("per-node lines add up to %d calls, %d Originates; want 10:\n%s", calls, origs, out.String())
	}
}

func TestRefusesSQLite(t *testing.T) {
	if err := run(context.Background(), []string{"-db", "sqlite:x.db"}, &bytes.Buffer{}); err == nil {
		t.Error("a SQLite database was accepted")
	}
}
