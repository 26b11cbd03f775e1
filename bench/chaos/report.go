package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// countNames are the counts the soak checks; each must be 0.
var countNames = []string{
	"requests_lost", "not_final", "originates_doubled",
	"cdrs_lost", "cdrs_doubled", "wrong_states", "billsec_off",
	"cdrs_lost_kill", "wrong_states_kill", "billsec_off_kill",
	"cdrs_lost_drop", "wrong_states_drop", "billsec_off_drop", "not_final_drop",
	"wrong_states_pbx", "billsec_off_pbx", "cdrs_lost_pbx", "not_final_kill", "not_final_pbx", "not_placed",
}

// infoNames are counts the soak prints and explains but that are not
// faults of the service (infoText).
var infoNames = []string{"originates_cut"}

var infoText = map[string]string{
	"originates_cut": "accepted, stored, final failed/network_error: an AMI drop or a kill -9 cut its Originate in flight " +
		"and the PBX's own log shows it never took it (nothing rang). The service marks an Originate sent before " +
		"sending it, so a restart never rings a call twice; one cut in flight cannot be known to have arrived and " +
		"ends network_error, or pbx_lost when the PBX restarted meanwhile (docs/design.md §6). " +
		"Not a lost request, not a wrong state",
}

func knownCount(name string) bool {
	for _, n := range countNames {
		if n == name {
			return true
		}
	}
	return false
}

// Report is the soak's outcome. Counts suffixed _kill are of calls whose
// life crossed a kill -9 of the service (from the kill until it was ready
// again); _pbx of calls the PBX restart took (it was asked to place them
// and never finished them: its own log says which); _drop of calls that
// were up when the AMI link was dropped; the plain counts are of every
// other call (database outages included). not_placed counts accepted
// requests never rung (their wait in the queue ran out).
type Report struct {
	Options   options
	Submitted int // requests the service accepted (201)
	Retried   int // submissions refused (service down, 503) and sent again
	Untouched int // final, placed calls no kill, PBX restart or drop touched: what the plain counts cover
	Orphans   int // requests in the database the client never got an id for (the service died answering)
	SpoolRuns int // times the service logged that the database refused a write and it began spooling
	Faults    map[string]int
	DropsLive int // AMI drops that cut the link while at least one placed call was up
	Duration  string

	Counts  map[string]int
	Samples map[string][]string // a few request ids per nonzero count
	Classes map[string]int      // calls per callee class

	assert string
}

func (r *Report) add(count, sample string) {
	r.Counts[count]++
	if len(r.Samples[count]) < 5 {
		r.Samples[count] = append(r.Samples[count], sample)
	}
}

// Failures lists the asserted counts that are not 0.
func (r *Report) Failures(assert string) []string {
	var bad []string
	for _, name := range splitList(assert) {
		if n := r.Counts[name]; n != 0 {
			bad = append(bad, fmt.Sprintf("%s = %d (e.g. %s)", name, n, strings.Join(r.Samples[name], ", ")))
		}
	}
	return bad
}

func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "chaos soak: %d calls, db %s, seed %d, %s\n", o.N, dbKind(o.DB), o.Seed, r.Duration)
	var faults []string
	for k, v := range r.Faults {
		faults = append(faults, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(faults)
	fmt.Fprintf(w, "faults: %s\n", strings.Join(faults, ", "))
	fmt.Fprintf(w, "AMI drops of a live link %d, of which hit live calls %d\n", r.Faults["drop"], r.DropsLive)
	fmt.Fprintf(w, "requests accepted %d, submissions retried %d, orphans %d, times the service began spooling %d\n", r.Submitted, r.Retried, r.Orphans, r.SpoolRuns)
	var classes []string
	for k, v := range r.Classes {
		classes = append(classes, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(classes)
	fmt.Fprintf(w, "calls by class: %s; placed calls no kill, PBX restart or AMI drop touched: %d\n", strings.Join(classes, ", "), r.Untouched)
	for _, name := range countNames {
		line := fmt.Sprintf("  %-20s %d", name, r.Counts[name])
		if s := r.Samples[name]; len(s) > 0 {
			line += "   e.g. " + strings.Join(s, ", ")
		}
		fmt.Fprintln(w, line)
	}
	for _, name := range infoNames {
		line := fmt.Sprintf("  %-20s %d   (not a fault: %s)", name, r.Counts[name], infoText[name])
		if s := r.Samples[name]; len(s) > 0 {
			line += "   e.g. " + strings.Join(s, ", ")
		}
		fmt.Fprintln(w, line)
	}
}

func dbKind(dsn string) string {
	if dsn == "" {
		return "sqlite (temp)"
	}
	kind, _, _ := strings.Cut(dsn, ":")
	return kind
}
