package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"webcallback/internal/testenv"
)

// assertedCI is every count the soak makes (issue 10): requests lost,
// Originates doubled, CDRs lost or doubled, wrong final states and billsec
// off by more than 1 s of simulated talk time must all be 0, for the calls
// an AMI drop, a kill -9 of the service or the PBX restart touched too.
var assertedCI = strings.Join(countNames, ",")

// TestChaosSoakSmall is the soak at CI scale: a few dozen calls through
// AMI drops, one kill -9 of the service, one database outage longer than
// the service's write timeout (so writes go through the spool) and one PBX
// restart, on SQLite; every count must be 0.
func TestChaosSoakSmall(t *testing.T) {
	testenv.Long(t, "the chaos soak at CI scale, about a minute")
	var out bytes.Buffer
	rep, err := run(context.Background(), []string{"-n", "20", "-drops", "2", "-kills", "1", "-outages", "1",
		"-outage-min", "6s", "-outage-max", "6s", "-pbx-restarts", "1", "-rate", "2", "-final-wait", "45s", "-seed", "3",
		"-assert", assertedCI}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Faults["kill"] != 1 || rep.Faults["outage"] != 1 || rep.Faults["pbx"] != 1 || rep.Faults["drop"] != 2 {
		t.Fatalf("faults carried out: %v", rep.Faults)
	}
	if rep.Submitted != 20 {
		t.Fatalf("%d of 20 requests accepted", rep.Submitted)
	}
	if bad := rep.Failures(assertedCI); len(bad) > 0 {
		t.Fatal("chaos soak: " + strings.Join(bad, "; "))
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"}, {"-kills", "-1"}, {"-outage-min", "0s"}, {"-outage-min", "10s", "-outage-max", "5s"},
		{"-rate", "0"}, {"-db", "oracle://x"}, {"-assert", "nonsense"}, {"-final-wait", "0s"},
	} {
		if _, err := parseOptions(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
