package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"webcallback/internal/testenv"
)

// TestRun places a few calls on two instances and checks the report's
// counts: every call admitted and finished, one Originate each.
func TestRun(t *testing.T) {
	dsn := os.Getenv("WEBCALLBACK_TEST_CLUSTER_POSTGRES")
	testenv.Require(t, dsn != "", "WEBCALLBACK_TEST_CLUSTER_POSTGRES for the cluster bench")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-db", dsn, "-instances", "2", "-calls", "10", "-c", "5", "-scale", "0.001"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP: map[201:10]", "Originates at the PBX 10 for 10 calls admitted (doubled: 0)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRefusesSQLite(t *testing.T) {
	if err := run(context.Background(), []string{"-db", "sqlite:x.db"}, &bytes.Buffer{}); err == nil {
		t.Error("a SQLite database was accepted")
	}
}
