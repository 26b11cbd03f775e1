package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"webcallback/internal/store"
	"webcallback/internal/web/chart"
)

// maxStatsRange bounds the hours one stats or chart request covers.
const maxStatsRange = 93 * 24 * time.Hour

// statsView is GET /api/v1/admin/stats: totals over [from, to) and the
// hourly buckets behind the charts.
type statsView struct {
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Requests  int               `json:"requests"`
	Connected int               `json:"connected"`
	Failed    int               `json:"failed"`
	Billsec   int               `json:"billsec"`
	ASR       float64           `json:"asr"` // answer-seizure ratio: connected / requests
	ACD       float64           `json:"acd"` // average call duration of connected calls, seconds
	ByReason  map[string]int    `json:"by_reason"`
	Hours     []store.HourStats `json:"hours"`
}

// statsRange reads from/to (default: the last 24 hours).
func (s *server) statsRange(r *http.Request) (from, to time.Time, err error) {
	q := s.newQuery(r)
	to = q.time("to", s.now().Truncate(time.Hour).Add(time.Hour))
	from = q.time("from", to.Add(-24*time.Hour))
	if q.err != nil {
		return from, to, q.err
	}
	if !from.Before(to) || to.Sub(from) > maxStatsRange {
		return from, to, badRequest(q.lang, "from must be before to, at most 93 days apart")
	}
	return from, to, nil
}

func (s *server) loadStats(r *http.Request) (*statsView, error) {
	from, to, err := s.statsRange(r)
	if err != nil {
		return nil, err
	}
	hours, err := s.st.StatsByHour(r.Context(), from, to)
	if err != nil {
		return nil, fmt.Errorf("stats by hour: %w", err)
	}
	v := &statsView{From: from, To: to, ByReason: map[string]int{}, Hours: nonNil(hours)}
	for _, h := range hours {
		v.Requests += h.Requests
		v.Connected += h.Connected
		v.Failed += h.Failed
		v.Billsec += h.Billsec
		for k, n := range h.ByReason {
			v.ByReason[k] += n
		}
	}
	v.ASR, v.ACD = ratio(v.Connected, v.Requests), ratio(v.Billsec, v.Connected)
	if math.IsNaN(v.ASR) {
		v.ASR = 0
	}
	if math.IsNaN(v.ACD) {
		v.ACD = 0
	}
	return v, nil
}

// ratio is a/b, NaN when b is zero (a gap in a chart, not a fake 0).
func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func (s *server) handleAdminStats(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	v, err := s.loadStats(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// Charts by name: /api/v1/admin/charts/{chart}.
var chartNames = []string{"calls.svg", "outcomes.svg", "quality.svg"}

// handleAdminChart renders one dashboard chart as SVG on the server, so
// the page needs no charting code.
func (s *server) handleAdminChart(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	lang := requestLang(r, s.cfg.DefaultLang)
	name := r.PathValue("chart")
	known := false
	for _, c := range chartNames {
		known = known || c == name
	}
	if !known {
		s.writeError(w, r, newError(lang, "not_found"))
		return
	}
	v, err := s.loadStats(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(renderChart(name, lang, s.cfg.Location, v)))
}

// renderChart draws chart name from v, in lang, hours in loc.
func renderChart(name, lang string, loc *time.Location, v *statsView) string {
	labels := make([]string, len(v.Hours))
	for i, h := range v.Hours {
		labels[i] = h.Hour.In(loc).Format("01-02 15h")
	}
	t := func(key string) string { return msg(lang, key) }
	reason := func(r string) string {
		if k := "adm.reason." + r; messages[lang][k] != "" {
			return messages[lang][k]
		}
		return r
	}
	switch name {
	case "calls.svg":
		con, fail := make([]float64, len(v.Hours)), make([]float64, len(v.Hours))
		for i, h := range v.Hours {
			con[i], fail[i] = float64(h.Connected), float64(h.Failed)
		}
		return chart.StackedBars(t("adm.chart.calls")+" ("+loc.String()+")", labels, []chart.Series{
			{Name: t("adm.connected"), Color: "#1a7f37", Values: con},
			{Name: t("adm.failed"), Color: "#cf222e", Values: fail},
		})
	case "outcomes.svg":
		type kv struct {
			k string
			n int
		}
		var rows []kv
		for k, n := range v.ByReason {
			rows = append(rows, kv{k, n})
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].n > rows[j].n || rows[i].n == rows[j].n && rows[i].k < rows[j].k })
		ls, vs := make([]string, len(rows)), make([]float64, len(rows))
		for i, r := range rows {
			ls[i], vs[i] = reason(r.k), float64(r.n)
		}
		return chart.HBars(t("adm.chart.outcomes"), ls, vs, "#0969da")
	case "quality.svg":
		asr, acd := make([]float64, len(v.Hours)), make([]float64, len(v.Hours))
		for i, h := range v.Hours {
			asr[i], acd[i] = 100*ratio(h.Connected, h.Requests), ratio(h.Billsec, h.Connected)
		}
		return chart.TwoLines(t("adm.chart.quality")+" ("+loc.String()+")", labels,
			chart.Series{Name: t("adm.chart.asr"), Color: "#1a7f37", Values: asr},
			chart.Series{Name: t("adm.chart.acd"), Color: "#8250df", Values: acd}, "%", t("adm.seconds"))
	}
	return ""
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
