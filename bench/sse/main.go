// Command sse is a load tool for the service's Server-Sent Events: it
// opens N concurrent streams against one instance (loopback only: it
// refuses other hosts, so it cannot be pointed at someone else's server)
// and reports how many it holds, how fast they opened and how much memory
// the client side used.
//
//	go run ./bench/sse -url http://127.0.0.1:8080 -n 2000 -hold 10s
//
// With -id it follows one request's stream N times
// (/api/v1/callbacks/{id}/events); without, it first creates one request
// through the API (the sandbox makes it ring; start serve with --limits off
// and a long --call-limit so the stream stays open).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sse:", err)
		os.Exit(1)
	}
}

// result is what one run measured.
type result struct {
	Wanted, Opened, Failed int
	Events                 int64
	OpenP50, OpenP99, Max  time.Duration
	FirstErr               string
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sse", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of the service (loopback only)")
	n := fs.Int("n", 1000, "concurrent streams to open (max 50000)")
	id := fs.String("id", "", "request id to follow (default: create one)")
	caller := fs.String("caller", "13800001001", "caller of the created request")
	callee := fs.String("callee", "13822220001", "callee of the created request (rings, never answers)")
	hold := fs.Duration("hold", 5*time.Second, "how long to hold the streams once opened")
	rate := fs.Int("rate", 500, "streams opened per second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *n > 50000 {
		return errors.New("-n: 1 to 50000")
	}
	u, err := url.Parse(*base)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if err := loopbackOnly(u.Hostname()); err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 0, DisableCompression: true}}
	if *id == "" {
		if *id, err = create(client, *base, *caller, *callee); err != nil {
			return err
		}
		fmt.Fprintf(out, "created request %s\n", *id)
	}
	res := load(client, strings.TrimRight(*base, "/")+"/api/v1/callbacks/"+url.PathEscape(*id)+"/events", *n, *rate, *hold)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(out, "streams wanted %d, held %d, failed %d; open latency p50 %v p99 %v max %v; events %d; client heap %d MiB\n",
		res.Wanted, res.Opened, res.Failed, res.OpenP50, res.OpenP99, res.Max, res.Events, ms.HeapAlloc>>20)
	if res.FirstErr != "" {
		fmt.Fprintf(out, "first error: %s\n", res.FirstErr)
	}
	return nil
}

// loopbackOnly refuses any host that is not this machine.
func loopbackOnly(host string) error {
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing %q: this load tool only targets loopback", host)
	}
	return nil
}

func create(c *http.Client, base, caller, callee string) (string, error) {
	body, _ := json.Marshal(map[string]string{"caller": caller, "callee": callee})
	resp, err := c.Post(strings.TrimRight(base, "/")+"/api/v1/callbacks", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("create request: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create request: %s: %s", resp.Status, b)
	}
	var r struct{ ID string }
	if err := json.Unmarshal(b, &r); err != nil || r.ID == "" {
		return "", fmt.Errorf("create request: bad response %q", b)
	}
	return r.ID, nil
}

// load opens n streams at rate per second, holds them for hold after the
// last one opened (or failed), then closes them all.
func load(c *http.Client, url string, n, rate int, hold time.Duration) result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		failed   int
		firstErr string
		events   atomic.Int64
		wg       sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	var opened sync.WaitGroup
	for i := 0; i < n; i++ {
		<-tick.C
		wg.Add(1)
		opened.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			once := sync.OnceFunc(opened.Done)
			defer once()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := c.Do(req)
			if err == nil && resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				err = fmt.Errorf("status %s", resp.Status)
			}
			if err != nil {
				mu.Lock()
				failed++
				if firstErr == "" {
					firstErr = err.Error()
				}
				mu.Unlock()
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			first := true
			for sc.Scan() {
				if !strings.HasPrefix(sc.Text(), "data:") {
					continue
				}
				events.Add(1)
				if first {
					first = false
					mu.Lock()
					lat = append(lat, time.Since(start))
					mu.Unlock()
					once()
				}
			}
		}()
	}
	opened.Wait()
	time.Sleep(hold)
	mu.Lock()
	res := result{Wanted: n, Opened: len(lat), Failed: failed, FirstErr: firstErr, Events: events.Load()}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.OpenP50, res.OpenP99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	mu.Unlock()
	cancel()
	wg.Wait()
	return res
}
