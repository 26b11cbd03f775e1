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
	// cdrGrace is how long the engine waits for the CDR rows of a call that
	// ended unseen before failing it as network_error (callflow.Config).
	cdrGrace = 10 * time.Second
)

// ownCDRTable reports that the PBX writes its CDRs into the cdr table of
// --db itself (--cdr-source table, no --cdr-table-db).
func ownCDRTable(s *config.Settings) bool { return s.CDRSource == "table" && s.CDRTable == "" }

// startCDRMonitor starts the CDR ingestion that --cdr-source names, the
// one path of CDRs into st (docs/design.md §2; the engine ignores Cdr events):
// "ami" stores the Cdr events of c, "table" ingests the cdr table that
// Asterisk fills itself: the rows it writes into --db's own cdr table
// (monitor.PollOwnTable), or those of --cdr-table-db (monitor.PollTable).
// With "table", AMI Cdr events are not stored at all. serve (New) and call
// both run it.
//
// Call it before the engine starts: the AMI subscription is made here, so
// no Cdr of a call the engine places or adopts at start is missed.
//
// stop is the graceful end, for once the engine has stopped: it closes the
// subscription and waits until the Cdr events already received are stored
// (monitor.ConsumeAMI drains on close), or stops the table poll after a
// last pass over the service's own cdr table (rows of --cdr-table-db stay
// there; the saved position makes the next run read them).
// When stopCtx ends first, the drain is cut short and logged. Ending ctx
// stops the monitor at once, without a drain. stop is idempotent.
//
// stats reads the monitor's counters (for /metrics).
func startCDRMonitor(ctx context.Context, s *config.Settings, mon *monitor.Monitor, c *ami.Client, log *slog.Logger) (stop func(stopCtx context.Context), stats func() monitor.Stats) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	end := cancel // how stop asks the worker to finish
	switch s.CDRSource {
	case "table":
		pollCtx, endPoll := context.WithCancel(wctx)
		end = endPoll
		go func() {
			defer close(done)
			if ownCDRTable(s) {
				err := mon.PollOwnTable(pollCtx, cdrPollInterval)
				if wctx.Err() == nil {
					// A graceful stop: ingest the rows the PBX wrote since the
					// last poll, so the stopped service's records are whole
					// (the saved position would only defer them to the next
					// start). stopCtx ending cuts it short (wctx).
					if ferr := mon.IngestOwnTable(wctx); ferr != nil {
						log.Warn("ingesting the cdr table at stop; the next start reads the rest", "err", ferr)
					}
				}
				logStop(log, "cdr table ingestion", err)
				return
			}
			logStop(log, "cdr table poller", mon.PollTable(pollCtx, s.CDRTable, cdrPollInterval))
		}()
	default: // "ami"; config.Validate refuses anything else
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
