// Command cluster measures several service instances sharing one database
// and one or several sandbox PBX nodes (-nodes: every instance connects to
// all of them, --ami with one URL per node), built as `webcallback serve` builds them (app.New),
// in this process: it places calls through the instances' APIs in turn and
// reports calls/s, the setup latency (request created → Originate sent,
// from the stored history), the final states and the Originates the PBX
// received (never more than the calls admitted), and per node the calls
// placed on it and the Originates it received.
//
//	go run ./bench/cluster -db "$WEBCALLBACK_BENCH_MYSQL" -instances 3 -nodes 2 -calls 300 -c 30
//
// The database must be MariaDB/MySQL or PostgreSQL (SQLite serves one
// instance); it is migrated. The limits and the daily budget are off (a
// load test).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"webcallback/internal/amitap"
	"webcallback/internal/app"
	"webcallback/internal/callback"
	"webcallback/internal/config"
	"webcallback/internal/sandbox"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	db := fs.String("db", "", "mysql://... or postgres://... (required)")
	n := fs.Int("instances", 3, "service instances")
	nNodes := fs.Int("nodes", 1, "sandbox PBX nodes (each instance connects to all)")
	calls := fs.Int("calls", 200, "calls to place")
	conc := fs.Int("c", 20, "concurrent requests")
	scale := fs.Float64("scale", 0.01, "sandbox time scale (0.01: a call lasts a few hundred ms)")
	maxConc := fs.Int("max-concurrent", 100, "--max-concurrent of the service (per node)")
	maxCPS := fs.Float64("max-cps", 200, "--max-cps of the service (per node)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(*db, "mysql://") && !strings.HasPrefix(*db, "postgres") {
		return errors.New("-db must name a MariaDB/MySQL or PostgreSQL database")
	}
	if *n < 1 || *n > 16 || *nNodes < 1 || *nNodes > 16 || *calls < 1 || *calls > 100000 || *conc < 1 || *conc > 1000 {
		return errors.New("-instances 1-16, -nodes 1-16, -calls 1-100000, -c 1-1000")
	}

	// The nodes, each behind a tap counting its Originates; the taps'
	// addresses are the nodes' names (--ami).
	var taps []*amitap.Tap
	var amis []string
	for i := range *nNodes {
		pbx := sandbox.New(sandbox.Config{Username: "wcb", Secret: "bench-secret", TimeScale: *scale, Seed: int64(i + 1)})
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go pbx.Serve(pl)
		defer pbx.Close()
		tap, err := amitap.New(pl.Addr().String())
		if err != nil {
			return err
		}
		defer tap.Close()
		taps = append(taps, tap)
		amis = append(amis, "tcp://wcb:bench-secret@"+tap.Addr())
	}

	// Each instance's spool in a directory of the run's own, removed after.
	spools, err := os.MkdirTemp("", "wcb-bench-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spools)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var urls []string
	var apps []*app.App
	stamp := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	for i := range *n {
		l := config.NewLoader("serve")
		l.FS.SetOutput(io.Discard)
		if err := l.Parse([]string{"--db", *db, "--ami", strings.Join(amis, ","), "--config=",
			"--instance", fmt.Sprintf("bench%s-%d", stamp, i), "--limits", "off", "--pow", "off", "--daily-minutes", "0", "--lang", "en",
			"--max-concurrent", strconv.Itoa(*maxConc), "--max-cps", strconv.FormatFloat(*maxCPS, 'g', -1, 64),
			"--queue-size", strconv.Itoa(*calls), "--queue-wait", "60s", "--spool-dir", filepath.Join(spools, strconv.Itoa(i))}); err != nil {
			return err
		}
		a, err := app.New(ctx, l.S, slog.New(slog.DiscardHandler))
		if err != nil {
			return fmt.Errorf("instance %d: %w", i, err)
		}
		defer a.Close(context.Background())
		hl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go a.Serve(ctx, hl)
		urls = append(urls, "http://"+hl.Addr().String())
		apps = append(apps, a)
	}

	start := time.Now()
	ids := make(chan string, *calls)
	codes := map[int]int{}
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*calls) {
					return
				}
				body := fmt.Sprintf(`{"caller":"139%08d","callee":"138555%05d"}`, i, i%100000)
				resp, err := http.Post(urls[i%int64(len(urls))]+"/api/v1/callbacks", "application/json", strings.NewReader(body))
				code := 0
				if err == nil {
					var r callback.Request
					json.NewDecoder(resp.Body).Decode(&r)
					resp.Body.Close()
					code = resp.StatusCode
					if code == http.StatusCreated {
						ids <- r.ID
					}
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(ids)
	submitted := time.Since(start)

	// Wait for every admitted call's end, read from the shared store.
	states := map[string]int{}
	perNode := map[string]int{}
	var setup []time.Duration
	for id := range ids {
		for {
			r, err := apps[0].Store.GetRequest(ctx, id)
			if err == nil && r.State.Final() {
				states[string(r.State)+"/"+string(r.Reason)]++
				perNode[r.Node]++
				for _, tr := range r.History {
					if tr.State == callback.StateCallingCaller {
						setup = append(setup, tr.At.Sub(r.CreatedAt))
						break
					}
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	done := time.Since(start)
	sort.Slice(setup, func(i, j int) bool { return setup[i] < setup[j] })
	pct := func(p float64) time.Duration {
		if len(setup) == 0 {
			return 0
		}
		return setup[min(len(setup)-1, int(p*float64(len(setup))))].Round(time.Millisecond)
	}
	fmt.Fprintf(out, "instances %d, calls %d, concurrency %d: submitted in %v (%.0f requests/s), all final in %v (%.1f calls/s)\n",
		*n, *calls, *conc, submitted.Round(time.Millisecond), float64(*calls)/submitted.Seconds(), done.Round(time.Millisecond),
		float64(codes[http.StatusCreated])/done.Seconds())
	fmt.Fprintf(out, "HTTP: %v\nfinal: %v\nsetup (created → Originate) p50 %v p90 %v p99 %v\n", codes, states, pct(0.5), pct(0.9), pct(0.99))
	originates := 0
	for _, tap := range taps {
		originates += tap.Originates()
	}
	fmt.Fprintf(out, "Originates at the PBX %d for %d calls admitted (doubled: %d)\n", originates, codes[http.StatusCreated],
		max(0, originates-codes[http.StatusCreated]))
	for _, tap := range taps {
		fmt.Fprintf(out, "node %s: %d calls, %d Originates\n", tap.Addr(), perNode[tap.Addr()], tap.Originates())
	}
	return nil
}
