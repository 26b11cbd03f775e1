package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"webcallback/internal/callback"
)

// Benchmarks of the two hot paths on a database already holding a big CDR
// history (the issue asks for 1M and 10M rows):
//
//	WEBCALLBACK_BENCH_ROWS=1000000 go test -run '^$' -bench . -benchtime 2000x ./internal/store/
//
// SQLite keeps its database in $WEBCALLBACK_BENCH_DIR (default the temp
// dir) as wcb-bench-<rows>.db and reuses it across runs; MariaDB/MySQL
// runs when WEBCALLBACK_BENCH_MYSQL names a database it may wipe (.ci/db.sh
// creates wcbbench), PostgreSQL with WEBCALLBACK_BENCH_POSTGRES. The
// history is bulk-loaded (multi-row INSERTs), then RebuildNumberStats
// builds the per-number tables, as an operator importing an old cdr table
// would.

func benchRows() int {
	n, err := strconv.Atoi(os.Getenv("WEBCALLBACK_BENCH_ROWS"))
	if err != nil || n <= 0 {
		return 100000
	}
	return n
}

func benchBackends(b *testing.B) []backend {
	dir := os.Getenv("WEBCALLBACK_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	return []backend{
		{name: "sqlite", dsn: "sqlite:" + filepath.Join(dir, fmt.Sprintf("wcb-bench-%d.db", benchRows()))},
		{name: "mysql", dsn: os.Getenv("WEBCALLBACK_BENCH_MYSQL"), env: "WEBCALLBACK_BENCH_MYSQL"},
		{name: "postgres", dsn: os.Getenv("WEBCALLBACK_BENCH_POSTGRES"), env: "WEBCALLBACK_BENCH_POSTGRES"},
	}
}

// benchStore opens b and makes sure it holds exactly rows CDRs.
func benchStore(tb *testing.B, b backend, rows int) *DB {
	if b.dsn == "" {
		tb.Skipf("%s not set: no %s benchmark", b.env, b.name)
	}
	s, err := OpenWith(context.Background(), b.dsn, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	// A marker, not COUNT(*): the ingest benchmarks add rows to a reused database.
	marker := fmt.Sprint(rows)
	if have, err := s.CDRCursor(ctx, "bench:rows"); err != nil {
		tb.Fatal(err)
	} else if have == marker {
		return s
	}
	resetDB(tb, s)
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if err := bulkHistory(ctx, s, rows); err != nil {
		tb.Fatal(err)
	}
	loaded := time.Since(start)
	if err := s.RebuildNumberStats(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := s.SetCDRCursor(ctx, "bench:rows", marker); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("%s: bulk-loaded %d CDRs in %v, rebuilt the per-number table in %v", b.name, rows, loaded.Round(time.Second),
		(time.Since(start) - loaded).Round(time.Second))
	return s
}

// bulkHistory writes rows CDRs (two per call: Dial and Hangup, as our
// dialplan leaves them) over 30 days for 200k caller numbers, and one
// callback request per call of our numbers, with multi-row INSERTs.
func bulkHistory(ctx context.Context, s *DB, rows int) error {
	rng := rand.New(rand.NewPCG(42, 42))
	const per = 500
	end := day0
	var cdrArgs, reqArgs []any
	nCDR, nReq := 0, 0
	flush := func(force bool) error {
		if nCDR > 0 && (force || nCDR >= per) {
			row := "(" + placeholders(len(cdrCols)) + ")"
			q := "INSERT INTO cdr (" + strings.Join(cdrCols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", nCDR), ", ")
			if _, err := s.db.ExecContext(ctx, s.d.q(q), cdrArgs...); err != nil {
				return fmt.Errorf("bulk cdr: %w", err)
			}
			cdrArgs, nCDR = cdrArgs[:0], 0
		}
		if nReq > 0 && (force || nReq >= per) {
			row := "(" + placeholders(22) + ")"
			q := "INSERT INTO callback_request (" + requestCols + ", history_n) VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", nReq), ", ")
			if _, err := s.db.ExecContext(ctx, s.d.q(q), reqArgs...); err != nil {
				return fmt.Errorf("bulk requests: %w", err)
			}
			reqArgs, nReq = reqArgs[:0], 0
		}
		return nil
	}
	for call := 0; call*2 < rows; call++ {
		caller := fmt.Sprintf("+86138%08d", rng.IntN(200000))
		start := end.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Second)
		id := fmt.Sprintf("b%07d-0000-4000-8000-000000000000", call)
		r := &callback.Request{ID: id, Caller: caller, Callee: "+8613800009999", State: callback.StateCompleted,
			CreatedAt: start, UpdatedAt: start, Billsec: rng.IntN(300)}
		reqArgs = append(reqArgs, append(requestArgs(r), 0)...)
		nReq++
		for i, c := range fixtureCall(id, start) {
			c.Src = caller[1:]
			if i == 0 && rng.IntN(3) == 0 {
				c.Disposition = "NO ANSWER"
			}
			cc := cleanCDR(c)
			dedup := dedupKey(&cc, cc.CallDate.In(s.loc).Format(calldateLayout))
			cdrArgs = append(cdrArgs, s.calldateArg(cc.CallDate), cc.CLID, cc.Src, cc.Dst, cc.DContext, cc.Channel, cc.DstChannel,
				cc.LastApp, cc.LastData, cc.Duration, cc.Billsec, cc.Disposition, cc.AMAFlags, cc.AccountCode, cc.UniqueID,
				cc.UserField, cc.LinkedID, cc.Sequence, cc.PeerAccount, id, id, dedup, talkArg(cc.TalkSec))
			nCDR++
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	return flush(true)
}

// BenchmarkIngestCDR is the monitor's AMI path: one new CDR row per
// transaction (InsertCDR), on top of the big history.
func BenchmarkIngestCDR(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(fmt.Sprintf("%s/%d", be.name, benchRows()), func(b *testing.B) {
			s := benchStore(b, be, benchRows())
			ctx := context.Background()
			seq := time.Now().UnixNano()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := fixtureCall(fmt.Sprintf("bench-%d-%d", seq, i), day0)[i%2]
				c.Src = fmt.Sprintf("139%08d", i%50000)
				if _, err := s.InsertCDR(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cdr/s")
		})
	}
}

// BenchmarkIngestCDRBatch is the table-polling path: 500 rows per
// transaction.
func BenchmarkIngestCDRBatch(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(fmt.Sprintf("%s/%d", be.name, benchRows()), func(b *testing.B) {
			s := benchStore(b, be, benchRows())
			ctx := context.Background()
			seq := time.Now().UnixNano()
			batch := make([]*CDR, 0, 500)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := fixtureCall(fmt.Sprintf("batch-%d-%d", seq, i/2), day0)[i%2]
				c.Src = fmt.Sprintf("139%08d", i%50000)
				batch = append(batch, c)
				if len(batch) == cap(batch) || i == b.N-1 {
					if _, err := s.InsertCDRs(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cdr/s")
		})
	}
}

// BenchmarkIngestPBXCDRs is the default CDR path: the PBX writes each row
// into the cdr table (WritePBXCDR, as Asterisk's database backend), the
// monitor ingests them 500 per transaction (IngestPBXCDRs). It reports
// both rates.
func BenchmarkIngestPBXCDRs(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(fmt.Sprintf("%s/%d", be.name, benchRows()), func(b *testing.B) {
			s := benchStore(b, be, benchRows())
			ctx := context.Background()
			seq := time.Now().UnixNano()
			talk := 15
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				c := fixtureCall(fmt.Sprintf("pbx-%d-%d", seq, i/2), day0)[i%2]
				c.Src, c.Sequence, c.RequestID = fmt.Sprintf("139%08d", i%50000), i+1, ""
				if i%2 == 1 {
					c.TalkSec = &talk
				}
				if err := s.WritePBXCDR(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			written := time.Since(start)
			ingestStart := time.Now()
			for n := 0; n < b.N; {
				got, _, _, err := s.IngestPBXCDRs(ctx, 500)
				if err != nil {
					b.Fatal(err)
				}
				if got == 0 {
					b.Fatalf("ingested %d of %d rows", n, b.N)
				}
				n += got
			}
			b.ReportMetric(float64(b.N)/written.Seconds(), "written/s")
			b.ReportMetric(float64(b.N)/time.Since(ingestStart).Seconds(), "ingested/s")
		})
	}
}

// BenchmarkAdmit is the eligibility check plus reservation with the
// default rules, for callers that mostly have history, on top of the big
// history. ns/op is its latency.
func BenchmarkAdmit(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(fmt.Sprintf("%s/%d", be.name, benchRows()), func(b *testing.B) {
			s := benchStore(b, be, benchRows())
			ctx := context.Background()
			rules := DefaultRules()
			seq := time.Now().UnixNano()
			var n atomic.Int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := n.Add(1)
				r := &callback.Request{ID: fmt.Sprintf("adm-%d-%d", seq, k), Caller: fmt.Sprintf("+86138%08d", (k*7919)%200000),
					Callee: fmt.Sprintf("+86139%08d", k%100000), State: callback.StateQueued}
				if _, err := s.Admit(ctx, r, &rules, day0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
