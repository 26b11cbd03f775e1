package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// assertedCI are the counts this CI-scale soak requires to be 0: what the
// service guarantees today through AMI drops, database outages, kill -9s
// and a PBX restart. The counts of calls whose life crossed a kill, a PBX
// restart or an AMI drop (_kill, _pbx, _drop, not_placed) are printed, not
// asserted: their truth needs the CDR table source and pbx_lost (issue 10,
// the CDR half).
const assertedCI = "requests_lost,not_final,originates_doubled,cdrs_lost,cdrs_doubled,wrong_states,billsec_off"

// TestChaosSoakSmall is the soak at CI scale: a few dozen calls through
// AMI drops, one kill -9 of the service, one database outage longer than
// the service's write timeout (so writes go through the spool) and one PBX
// restart, on SQLite.
func TestChaosSoakSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos soak takes about a minute")
	}
	var out bytes.Buffer
	rep, err := run(context.Background(), []string{"-n", "20", "-drops", "2", "-kills", "1", "-outages", "1",
		"-outage-min", "6s", "-outage-max", "6s", "-pbx-restarts", "1", "-rate", "2", "-final-wait", "45s", "-seed", "3",
		"-assert", assertedCI}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Faults["kill"] != 1 || rep.Faults["outage"] != 1 || rep.Faults["pbx"] != 1 || rep.Faults["drop"]+rep.Faults["drop_while_down"] != 2 {
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
