// Command chaos is the chaos soak (issue 10): it places calls against the
// sandbox PBX through the real service while it breaks things, then checks
// every record against what the sandbox was told to do.
//
// The service runs as a subprocess built from ./cmd/webcallback (so kill -9
// is a real one), the sandbox PBX standalone (`webcallback sandbox`, so it
// survives the service's deaths), with an AMI proxy in between (the AMI
// connection drops, and the count of Originates per request). Faults:
// random AMI connection drops, kill -9s of the service (restarted at once),
// database outages (internal/dbfault: the database refuses writes) and
// PBX restarts ("core stop now" on the sandbox, which hangs its calls up
// in real Asterisk 22's order, then a start). Every drop waits for a live
// link first, so each one cuts something.
//
// It prints, and with -assert fails on, the counts: requests lost,
// Originates doubled, CDRs lost or doubled, wrong final states, billsec off
// by more than 1 s from the simulated talk time; calls whose life crossed a
// kill of the service, an AMI drop or the PBX restart are counted apart
// (and must be 0 too).
//
//	go run ./bench/chaos                       # full scale, SQLite in a temp dir
//	go run ./bench/chaos -db mysql://wcb:pass@127.0.0.1:3306/wcb
//	go run ./bench/chaos -n 30 -drops 3 -kills 1 -outages 1 -outage-min 2s -outage-max 3s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if rep.assert != "" {
		if bad := rep.Failures(rep.assert); len(bad) > 0 {
			fmt.Fprintln(os.Stderr, "chaos: FAILED:", strings.Join(bad, "; "))
			os.Exit(1)
		}
	}
}

// options are the soak's settings.
type options struct {
	N           int
	Drops       int
	Kills       int
	Outages     int
	OutageMin   time.Duration
	OutageMax   time.Duration
	PBXRestarts int
	Rate        float64 // calls submitted per second (at least)
	FinalWait   time.Duration
	DB          string // --db of the service; "" = SQLite in the work directory
	Seed        int64
	Dir         string // work directory; "" = a temp one, removed after
	Bin         string // the webcallback binary; "" = build ./cmd/webcallback
	Verbose     bool
	Assert      string
}

func parseOptions(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&o.N, "n", 1000, "calls to place")
	fs.IntVar(&o.Drops, "drops", 100, "AMI connection drops")
	fs.IntVar(&o.Kills, "kills", 5, "kill -9s of the service (each restarted at once)")
	fs.IntVar(&o.Outages, "outages", 3, "database outages")
	fs.DurationVar(&o.OutageMin, "outage-min", 10*time.Second, "shortest database outage")
	fs.DurationVar(&o.OutageMax, "outage-max", 60*time.Second, "longest database outage")
	fs.IntVar(&o.PBXRestarts, "pbx-restarts", 1, "PBX restarts: core stop now on the sandbox PBX, then a start")
	fs.Float64Var(&o.Rate, "rate", 4, "calls submitted per second, at least (they spread over the whole fault schedule)")
	fs.DurationVar(&o.FinalWait, "final-wait", 2*time.Minute, "after the last call is placed, how long to wait for every request to be final")
	fs.StringVar(&o.DB, "db", "", "the service's database (--db); empty = SQLite in the work directory. A server database is emptied of calls first")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the fault schedule and the call mix")
	fs.StringVar(&o.Dir, "dir", "", "work directory (logs, SQLite, spool); empty = a temporary one, removed afterwards")
	fs.StringVar(&o.Bin, "bin", "", "webcallback binary; empty = go build ./cmd/webcallback")
	fs.BoolVar(&o.Verbose, "v", false, "print each fault as it happens")
	fs.StringVar(&o.Assert, "assert", "", "comma-separated counts that must be 0 (exit 1 otherwise): "+strings.Join(countNames, ","))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.N < 1 || o.N > 100000:
		return o, fmt.Errorf("-n %d: want 1 to 100000", o.N)
	case o.Drops < 0 || o.Kills < 0 || o.Outages < 0 || o.PBXRestarts < 0:
		return o, fmt.Errorf("fault counts must be 0 or more")
	case o.OutageMin <= 0 || o.OutageMax < o.OutageMin:
		return o, fmt.Errorf("-outage-min/-outage-max: want 0 < min <= max")
	case o.FinalWait <= 0:
		return o, fmt.Errorf("-final-wait must be positive")
	case !(o.Rate > 0) || o.Rate > 500:
		return o, fmt.Errorf("-rate %v: want (0, 500]", o.Rate)
	}
	if o.DB != "" && !strings.HasPrefix(o.DB, "sqlite:") && !strings.HasPrefix(o.DB, "mysql://") &&
		!strings.HasPrefix(o.DB, "postgres://") && !strings.HasPrefix(o.DB, "postgresql://") {
		return o, fmt.Errorf("-db: want sqlite:<path>, mysql://... or postgres://...")
	}
	for _, name := range splitList(o.Assert) {
		if !knownCount(name) {
			return o, fmt.Errorf("-assert: unknown count %q (known: %s)", name, strings.Join(countNames, ", "))
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
