package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"webcallback/internal/callback"
)

// metrics are the web's Prometheus series. Call outcomes and setup
// latencies come from the engine's WatchAll feed, so they count every call
// whichever way it was placed (API, form, CLI on the same engine).
type metrics struct {
	httpRequests *prometheus.CounterVec   // route, code
	httpDuration *prometheus.HistogramVec // route
	submissions  *prometheus.CounterVec   // outcome: accepted or an error code
	outcomes     *prometheus.CounterVec   // state, reason of finished calls
	setup        *prometheus.HistogramVec // stage: caller_answered, connected
	streams      prometheus.Gauge
	refusals     *prometheus.CounterVec // kind: error code or connection bound
}

// amiStates are the values of the AMI state series; the current one is 1.
var amiStates = []string{"connected", "connecting", "disconnected", "unknown"}

func newMetrics(reg *prometheus.Registry, amiState func() string, live func() int, log *slog.Logger) (*metrics, error) {
	m := &metrics{
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webcallback_web_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "webcallback_web_http_request_duration_seconds", Help: "Time to the response's end (streams: their whole life).",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 300},
		}, []string{"route"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webcallback_web_submissions_total", Help: "Callback requests submitted on the web, by outcome: accepted or the error code.",
		}, []string{"outcome"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webcallback_web_calls_finished_total", Help: "Finished callback requests by final state and reason.",
		}, []string{"state", "reason"}),
		setup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "webcallback_web_call_setup_seconds", Help: "Time from the request to the caller answering (stage caller_answered) and to the callee answering (stage connected).",
			Buckets: []float64{1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 90},
		}, []string{"stage"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webcallback_web_sse_streams", Help: "Open Server-Sent Event streams.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webcallback_refusals_total", Help: "Requests and connections refused, by kind: the API error code, admin_unauthorized, admin_locked_out, conns_per_ip, conns_total, too_many_streams.",
		}, []string{"kind"}),
	}
	cs := []prometheus.Collector{m.httpRequests, m.httpDuration, m.submissions, m.outcomes, m.setup, m.streams, m.refusals,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webcallback_web_live_calls", Help: "Callback requests in progress on this instance (not final).",
		}, func() float64 { return float64(live()) })}
	if amiState != nil {
		cs = append(cs, &amiCollector{state: amiState, desc: prometheus.NewDesc("webcallback_web_ami_state",
			"AMI connection state as the web sees it: 1 for the current state.", []string{"state"}, nil)})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				// A second web.New on one registry (tests, reload):
				// the first one's series stay; ours are not exported.
				log.Warn("metric already registered; keeping the existing one", "err", err)
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

// amiCollector reads the state at scrape time.
type amiCollector struct {
	state func() string
	desc  *prometheus.Desc
}

func (c *amiCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *amiCollector) Collect(ch chan<- prometheus.Metric) {
	cur := c.state()
	known := false
	for _, s := range amiStates {
		v := 0.0
		if s == cur {
			v, known = 1, true
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, s)
	}
	if !known && cur != "" {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, cur)
	}
}

// handler serves /metrics from reg.
func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// instrument counts requests of one route. route is the pattern, not the
// URL, so ids do not make new series.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.httpRequests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code; Unwrap keeps Flush and
// deadlines reachable for http.ResponseController (SSE).
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// feed follows every transition of every call until ctx is done and counts
// outcomes and setup latencies. Each call is counted once per stage even
// when the feed repeats a snapshot.
func (m *metrics) feed(ctx context.Context, svc callback.Service, now func() time.Time) {
	updates, stop := svc.WatchAll()
	defer stop()
	type seen struct {
		answered, connected bool
		at                  time.Time
	}
	calls := map[string]*seen{}
	sweep := time.NewTicker(10 * time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			// A lost final update (slow reader) must not leak an entry.
			for id, c := range calls {
				if now().Sub(c.at) > 2*time.Hour {
					delete(calls, id)
				}
			}
		case r, ok := <-updates:
			if !ok {
				return
			}
			c := calls[r.ID]
			if c == nil {
				c = &seen{at: now()}
				calls[r.ID] = c
			}
			if r.AnsweredAt != nil && !c.answered {
				c.answered = true
				m.setup.WithLabelValues("caller_answered").Observe(r.AnsweredAt.Sub(r.CreatedAt).Seconds())
			}
			if r.ConnectedAt != nil && !c.connected {
				c.connected = true
				m.setup.WithLabelValues("connected").Observe(r.ConnectedAt.Sub(r.CreatedAt).Seconds())
			}
			if r.State.Final() {
				m.outcomes.WithLabelValues(string(r.State), string(r.Reason)).Inc()
				delete(calls, r.ID)
			}
		}
	}
}
