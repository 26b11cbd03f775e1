package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"webcallback/internal/callflow"
	"webcallback/internal/config"
	"webcallback/internal/monitor"
	"webcallback/internal/store/spooled"
)

// serviceCollectors are the engine's and the database writers' series, the
// ones an operator alerts on beside the web's (deploy/prometheus/alerts.yml):
// the queue filling up, refusals for capacity, failed database writes.
// They read the counters at scrape time.
func serviceCollectors(s *config.Settings, e *callflow.Engine, cdr func() monitor.Stats, sp *spooled.Store) []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, labels prometheus.Labels, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	stats := func() callflow.Stats { return e.Stats() }
	return []prometheus.Collector{
		gauge("webcallback_engine_queued", "Requests waiting for capacity (see webcallback_engine_queue_capacity).",
			func() float64 { return float64(stats().Queued) }),
		gauge("webcallback_engine_queue_capacity", "Requests that may wait for capacity (--queue-size); beyond, system_busy.",
			func() float64 { return float64(s.QueueSize) }),
		gauge("webcallback_engine_active_calls", "Calls holding a capacity slot (see webcallback_engine_max_concurrent).",
			func() float64 { return float64(stats().Active) }),
		gauge("webcallback_engine_max_concurrent", "Callbacks that may be in progress at once (--max-concurrent).",
			func() float64 { return float64(s.MaxConcurrent) }),
		counter("webcallback_engine_busy_total", "Requests refused or expired for lack of capacity (system_busy: queue full or queue wait over).", nil,
			func() float64 { return float64(stats().Busy) }),
		counter("webcallback_db_write_errors_total", "Failed writes to the database, each retry counted.", prometheus.Labels{"writer": "requests"},
			func() float64 { return float64(stats().WriteErrors) }),
		counter("webcallback_db_write_errors_total", "Failed writes to the database, each retry counted.", prometheus.Labels{"writer": "cdrs"},
			func() float64 { return float64(cdr().WriteErrors) }),
		// The spool takes the writes the database refuses (requests, CDRs,
		// audit), so the writers above rarely see an error: this is where
		// an outage shows.
		counter("webcallback_db_write_errors_total", "Failed writes to the database, each retry counted.", prometheus.Labels{"writer": "spool"},
			func() float64 { return float64(sp.Stats().DBErrors) }),
		gauge("webcallback_spool_waiting", "Writes the database refused, kept on disk until it takes them (docs/design.md §7).",
			func() float64 { return float64(sp.Stats().Waiting) }),
		counter("webcallback_spool_rejected_total", "Spooled writes the database kept refusing while it took others, set aside in rejected/.", nil,
			func() float64 { return float64(sp.Stats().Rejected) }),
		counter("webcallback_cdrs_lost_total", "CDR rows left out because the store refused them as invalid (an outage loses none: they wait in the spool).", nil,
			func() float64 { return float64(cdr().Failed) }),
	}
}
