package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"webcallback/internal/callflow"
	"webcallback/internal/config"
	"webcallback/internal/monitor"
	"webcallback/internal/nodes"
	"webcallback/internal/store/spooled"
)

// serviceCollectors are the engine's and the database writers' series, the
// ones an operator alerts on beside the web's (deploy/prometheus/alerts.yml):
// the queue filling up, refusals for capacity, failed database writes.
// They read the counters at scrape time.
func serviceCollectors(s *config.Settings, stats func() callflow.Stats, cdr func() monitor.Stats, sp *spooled.Store) []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, labels prometheus.Labels, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	return []prometheus.Collector{
		gauge("webcallback_engine_queued", "Requests waiting for capacity (see webcallback_engine_queue_capacity).",
			func() float64 { return float64(stats().Queued) }),
		gauge("webcallback_engine_queue_capacity", "Requests that may wait for capacity (--queue-size); beyond, system_busy.",
			func() float64 { return float64(s.QueueSize) }),
		gauge("webcallback_engine_active_calls", "Calls holding a capacity slot (see webcallback_engine_max_concurrent).",
			func() float64 { return float64(stats().Active) }),
		gauge("webcallback_engine_max_concurrent", "Callbacks that may be in progress at once per PBX node (--max-concurrent; see webcallback_node_max_concurrent).",
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

// nodeCollector is the per-node series (label node: the AMI host:port,
// never the secret): whether its AMI link is up, whether it drains, the
// calls in progress on it and the Originates this instance sent it. It
// reads the pool (and its drains from the database) at scrape time.
type nodeCollector struct{ pool *nodes.Pool }

var (
	nodeUpDesc = prometheus.NewDesc("webcallback_node_up",
		"1 when the AMI link to the Asterisk node is connected.", []string{"node"}, nil)
	nodeDrainingDesc = prometheus.NewDesc("webcallback_node_draining",
		"1 when an admin drained the node: its live calls finish, it gets no new ones.", []string{"node"}, nil)
	nodeLiveDesc = prometheus.NewDesc("webcallback_node_live_calls",
		"Calls this instance follows on the node, queued ones included.", []string{"node"}, nil)
	nodeCallsDesc = prometheus.NewDesc("webcallback_node_service_calls",
		"Calls in progress on the node for the whole service (a shared database), else this instance's.", []string{"node"}, nil)
	nodeMaxDesc = prometheus.NewDesc("webcallback_node_max_concurrent",
		"The node's channel cap (its URL's max_concurrent, else --max-concurrent).", []string{"node"}, nil)
	nodeOriginatesDesc = prometheus.NewDesc("webcallback_node_originates_total",
		"Originates this instance sent to the node.", []string{"node"}, nil)
)

func (nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeUpDesc, nodeDrainingDesc, nodeLiveDesc, nodeCallsDesc, nodeMaxDesc, nodeOriginatesDesc} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, n := range c.pool.Status(ctx) {
		for _, m := range []struct {
			d *prometheus.Desc
			t prometheus.ValueType
			v float64
		}{
			{nodeUpDesc, prometheus.GaugeValue, b(n.Up)}, {nodeDrainingDesc, prometheus.GaugeValue, b(n.Draining)},
			{nodeLiveDesc, prometheus.GaugeValue, float64(n.Live)}, {nodeCallsDesc, prometheus.GaugeValue, float64(n.Calls)},
			{nodeMaxDesc, prometheus.GaugeValue, float64(n.MaxConcurrent)}, {nodeOriginatesDesc, prometheus.CounterValue, float64(n.Originated)},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, m.t, m.v, n.Node)
		}
	}
}
