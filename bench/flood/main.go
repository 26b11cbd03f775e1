// Command flood sends a bounded flood of callback requests to one instance
// of the service on loopback and prints refusals per second, the status and
// error-code histograms and latency percentiles.
//
//	go run ./bench/flood -url http://127.0.0.1:8080 -n 10000 -c 50
//	go run ./bench/flood -n 10000 -c 50 -sources 1000 -spread bind
//
// With -spread xff the server must trust loopback as a proxy
// (--trusted-proxies 127.0.0.1/32); -spread bind uses real source
// addresses 127.x.y.1 (Linux). It refuses non-loopback targets.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"webcallback/bench/flood/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	var o load.Options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "base URL of the service (loopback only)")
	fs.StringVar(&o.Path, "path", "/api/v1/callbacks", "path to POST to")
	fs.IntVar(&o.N, "n", 10000, fmt.Sprintf("requests to send (max %d)", load.MaxRequests))
	fs.IntVar(&o.Concurrency, "c", 50, fmt.Sprintf("concurrent requests (max %d)", load.MaxConcurrency))
	fs.IntVar(&o.Sources, "sources", 1, "distinct client addresses")
	spread := fs.String("spread", "none", "how to spread sources: none, xff (X-Forwarded-For) or bind (127.x.y.1 sockets)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "per-request timeout (default 10s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Spread = load.Spread(*spread)
	if o.Sources > 1 && o.Spread == load.SpreadNone {
		return fmt.Errorf("-sources %d needs -spread xff or bind", o.Sources)
	}
	res, err := load.Run(ctx, o)
	if err != nil && res.Sent == 0 {
		return err
	}
	fmt.Fprint(out, res)
	return err
}
