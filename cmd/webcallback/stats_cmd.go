package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"webcallback/internal/config"
	"webcallback/internal/policy"
	"webcallback/internal/store"
)

func init() {
	register("stats", "per-number statistics: show, rebuild, export", runStats)
}

func runStats(ctx context.Context, args []string) error {
	return statsCommand(ctx, args, os.Stdout, os.Stderr)
}

const statsUsage = `usage: webcallback stats <subcommand> [settings]

  rebuild           recompute the per-number table from the cdr table (the result
                    equals what the monitor built incrementally)
  show <number>     print a number's counters, manual override and every quota
                    (counter, limit, refused or not, when it resets): why the
                    service refuses it (give serve's --config for its quotas)
  list              print the per-number table, most recent caller first (--limit)
  export            write CSV to stdout: --what numbers (per-number table, default),
                    --what cdr (Asterisk Master.csv format; --from/--to, YYYY-MM-DD
                    in --timezone) or --what donotcall (the do-not-call list)
  purge             delete requests and CDRs older than --retention

`

// statsCommand runs one stats subcommand against --db.
func statsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, statsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return config.BadSetting(errors.New("missing subcommand"))
	}
	sub, args := args[0], args[1:]
	l := config.NewLoader("stats " + sub)
	l.FS.SetOutput(stderr)
	what := l.FS.String("what", "numbers", "export: numbers, cdr or donotcall")
	from := l.FS.String("from", "", "export --what cdr: first day, YYYY-MM-DD")
	to := l.FS.String("to", "", "export --what cdr: last day, YYYY-MM-DD (inclusive)")
	limit := l.FS.Int("limit", 100, "list: rows to print")
	l.FS.Usage = func() {
		fmt.Fprint(stderr, statsUsage)
		l.PrintHelp(stderr)
	}
	if err := l.Parse(args); err != nil {
		return err
	}
	// Flags may also follow the number of "show <number>".
	var positional []string
	for l.FS.NArg() > 0 {
		positional = append(positional, l.FS.Arg(0))
		if err := l.FS.Parse(l.FS.Args()[1:]); err != nil {
			return config.BadSetting(err)
		}
	}
	if err := l.S.Validate(); err != nil {
		return config.BadSetting(err)
	}
	s := l.S
	st, err := openSettingsStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	if s.Migrate {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrating %s: %w", config.RedactDSN(s.DB), err)
		}
	}
	wantArgs := map[string]int{"rebuild": 0, "show": 1, "list": 0, "export": 0, "purge": 0}
	n, known := wantArgs[sub]
	if !known {
		fmt.Fprint(stderr, statsUsage)
		return config.BadSetting(fmt.Errorf("unknown subcommand %q", sub))
	}
	if len(positional) != n {
		return config.BadSetting(fmt.Errorf("stats %s takes %d argument(s), got %q", sub, n, positional))
	}
	switch sub {
	case "rebuild":
		start := time.Now()
		if err := st.RebuildNumberStats(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "per-number table rebuilt in %v\n", time.Since(start).Round(time.Millisecond))
	case "show":
		return showNumber(ctx, st, positional[0], s, stdout)
	case "list":
		rows, err := st.ListNumberStats(ctx, *limit, 0)
		if err != nil {
			return err
		}
		printStats(stdout, rows, s.Location())
	case "export":
		return exportCSV(ctx, st, *what, *from, *to, s.Location(), stdout)
	case "purge":
		if s.Retention <= 0 {
			return errors.New("purge needs --retention (e.g. --retention 180d)")
		}
		before := time.Now().Add(-s.Retention)
		r, c, err := st.Purge(ctx, before)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %d requests and %d CDRs older than %s\n", r, c, before.In(s.Location()).Format(time.DateTime))
	}
	return nil
}

// statsReader is what the stats command reads of the store ([*store.DB]
// is one).
type statsReader interface {
	NumberStats(ctx context.Context, number string, now time.Time) (*store.NumberStats, error)
	ListNumberStats(ctx context.Context, limit, offset int) ([]store.NumberStats, error)
	ListDoNotCall(ctx context.Context, limit, offset int) ([]store.DoNotCall, error)
	Quotas(ctx context.Context, number string, rules *store.Rules, now time.Time) ([]store.Quota, error)
	cdrSearcher
}

// showNumber prints the counters of a number as typed: its E.164 form (our
// requests' callers) and, when different, its plain digits (foreign CDR
// rows are counted under src digits).
func showNumber(ctx context.Context, st statsReader, typed string, s *config.Settings, w io.Writer) error {
	keys := []string{}
	if n, err := policy.ParseNumber(typed, s.Region, s.Policy.InternationalPrefix); err == nil {
		keys = append(keys, n.E164)
	}
	if d := onlyDigits(typed); d != "" && (len(keys) == 0 || d != keys[0]) {
		keys = append(keys, d)
	}
	if len(keys) == 0 {
		return fmt.Errorf("%q is not a phone number", typed)
	}
	var rows []store.NumberStats
	for _, k := range keys {
		ns, err := st.NumberStats(ctx, k, time.Now())
		if err != nil {
			return err
		}
		if ns.Calls > 0 || ns.Blocked || ns.Allowed || k == keys[0] {
			rows = append(rows, *ns)
		}
	}
	printStats(w, rows, s.Location())
	fmt.Fprintln(w)
	return printQuotas(ctx, st, keys[0], s, w)
}

// printQuotas says why the service would refuse number now: every quota of
// the settings' rules (serve's, given the same --config), counted as the
// service counts them, with when each resets.
func printQuotas(ctx context.Context, st statsReader, number string, s *config.Settings, w io.Writer) error {
	rules := s.Rules()
	if rules == nil {
		fmt.Fprintln(w, "quotas: none (--limits off)")
		return nil
	}
	qs, err := st.Quotas(ctx, number, rules, time.Now())
	if err != nil {
		return err
	}
	loc := s.Location()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "QUOTA\tUSED\tLIMIT\tSTATE\tRESETS (%s)\n", loc)
	for _, q := range qs {
		state, reset, used, limit := "ok", "never", fmt.Sprint(q.Used), fmt.Sprint(q.Limit)
		if q.Refused {
			state = "REFUSED"
		}
		if q.ResetAt != nil {
			reset = q.ResetAt.In(loc).Format(time.DateTime)
		}
		if q.Rule == store.RuleCallerCooldown {
			// Used is the seconds since the last request, Limit the cooldown.
			used, limit = "-", (time.Duration(q.Limit) * time.Second).String()
			if q.Used >= 0 {
				used = (time.Duration(q.Used) * time.Second).String() + " ago"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", q.Rule, used, limit, state, reset)
	}
	if len(qs) == 0 {
		fmt.Fprintln(tw, "(no quota set)")
	}
	return tw.Flush()
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func printStats(w io.Writer, rows []store.NumberStats, loc *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NUMBER\tCALLS\tANSWERED\tBILLSEC\tTODAY\tTODAY ANSWERED\tTODAY BILLSEC\tLAST CALL (%s)\tOVERRIDE\n", loc)
	for _, n := range rows {
		last, over := "-", "-"
		if n.LastCallAt != nil {
			last = n.LastCallAt.In(loc).Format(time.DateTime)
		}
		if n.Blocked {
			over = "block"
		} else if n.Allowed {
			over = "allow"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", n.Number, n.Calls, n.Answered, n.Billsec,
			n.TodayCalls, n.TodayAnswered, n.TodayBillsec, last, over)
	}
	tw.Flush()
}

// exportCSV streams the per-number table or the CDRs in pages, so an
// export of millions of rows needs no more memory than one page.
func exportCSV(ctx context.Context, st statsReader, what, from, to string, loc *time.Location, w io.Writer) error {
	const page = 5000
	switch what {
	case "numbers":
		for off := 0; ; off += page {
			rows, err := st.ListNumberStats(ctx, page, off)
			if err != nil {
				return err
			}
			if off == 0 {
				err = store.WriteNumberStatsCSV(w, rows)
			} else {
				err = store.AppendNumberStatsCSV(w, rows)
			}
			if err != nil || len(rows) < page {
				return err
			}
		}
	case "donotcall":
		if _, err := io.WriteString(w, strings.Join(store.DoNotCallCSVColumns, ",")+"\n"); err != nil {
			return err
		}
		for off := 0; ; off += page {
			rows, err := st.ListDoNotCall(ctx, page, off)
			if err != nil {
				return err
			}
			if err := store.AppendDoNotCallCSV(w, rows); err != nil || len(rows) < page {
				return err
			}
		}
	case "cdr":
		f := store.CDRFilter{Limit: page}
		var err error
		if f.From, err = parseDay(from, loc, 0); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		if f.To, err = parseDay(to, loc, 1); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		for ; ; f.Offset += page {
			rows, _, err := st.SearchCDRs(ctx, f)
			if err != nil {
				return err
			}
			if err := store.WriteCDRsCSV(w, rows); err != nil || len(rows) < page {
				return err
			}
		}
	}
	return fmt.Errorf("--what %q: want numbers, cdr or donotcall", what)
}

// parseDay reads YYYY-MM-DD in loc, plus addDays; "" = no bound.
func parseDay(v string, loc *time.Location, addDays int) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD", v)
	}
	return t.AddDate(0, 0, addDays), nil
}
