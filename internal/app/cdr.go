package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"webcallback/ami"
	"webcallback/internal/config"
	"webcallback/internal/monitor"
)

const (
	// cdrSubscriptionBuffer is the monitor's AMI event buffer. It sees
	// every event, not only Cdrs, so it gets the engine's room for bursts:
	// a full buffer would hold up the AMI reader (ami.Subscription).
	cdrSubscriptionBuffer = 1 << 16
	// cdrPollInterval is how often the "table" source reads the cdr table.
	cdrPollInterval = 5 * time.Second
)

// startCDRMonitor starts the CDR ingestion that --cdr-source names, the
// one path of CDRs into st (docs/design.md §2; the engine ignores Cdr events):
// "ami" stores the Cdr events of c, "table" polls the cdr table that
// Asterisk fills itself (--cdr-table-db, else --db). serve (New) and call
// both run it.
//
// Call it before the engine starts: the AMI subscription is made here, so
// no Cdr of a call the engine places or adopts at start is missed.
//
// stop is the graceful end, for once the engine has stopped: it closes the
// subscription and waits until the Cdr events already received are stored
// (monitor.ConsumeAMI drains on close), or stops the table poll (its rows
// stay in the table; the saved position makes the next run read them).
// When stopCtx ends first, the drain is cut short and logged. Ending ctx
// stops the monitor at once, without a drain. stop is idempotent.
//
// stats reads the monitor's counters (for /metrics).
func startCDRMonitor(ctx context.Context, s *config.Settings, st monitor.Store, c *ami.Client, log *slog.Logger) (stop func(stopCtx context.Context), stats func() monitor.Stats) {
	mon := monitor.New(st, log)
	mon.Location = s.PBXLocation()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	end := cancel // how stop asks the worker to finish
	switch s.CDRSource {
	case "table":
		dsn := s.CDRTable // required by config.Validate for this source
		go func() {
			defer close(done)
			logStop(log, "cdr table poller", mon.PollTable(wctx, dsn, cdrPollInterval))
		}()
	default: // "ami", the default; config.Validate refuses anything else
		sub := c.Subscribe(cdrSubscriptionBuffer)
		end = sub.Close
		go func() {
			defer close(done)
			defer sub.Close()
			logStop(log, "cdr monitor", mon.ConsumeAMI(wctx, sub.C()))
		}()
	}
	var once sync.Once
	stop = func(stopCtx context.Context) {
		once.Do(func() {
			defer cancel()
			end()
			select {
			case <-done:
			case <-stopCtx.Done():
				log.Warn("storing the CDRs received was cut short; the ones not stored yet are lost",
					"err", stopCtx.Err())
				cancel()
				<-done
			}
		})
	}
	return stop, mon.Stats
}
