package deploy_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// alertRules is the shape of a Prometheus rules file.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRulesUseRealMetrics: every series an alert of
// deploy/prometheus/alerts.yml names is exported by a running service at
// /metrics (after one call, so the labelled series exist), with the labels
// the rule selects on; and the alerts that matter are there.
func TestAlertRulesUseRealMetrics(t *testing.T) {
	var rules alertRules
	if err := yaml.Unmarshal([]byte(read(t, "prometheus/alerts.yml")), &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	svc := startService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One call to its end, so the labelled series have samples.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, svc.URL+"/api/v1/callbacks",
		strings.NewReader(`{"caller":"13800001001","callee":"13811112222"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	resp, err = http.Get(svc.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	labels := map[string]map[string]bool{} // series → its label names
	for name, f := range families {
		set := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				set[l.GetName()] = true
			}
		}
		labels[name] = set
	}

	series := regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	promql := map[string]bool{"sum": true, "by": true, "rate": true, "increase": true, "and": true, "or": true,
		"unless": true, "on": true, "ignoring": true, "max": true, "min": true, "avg": true, "clamp_min": true}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v: want alert, expr, a severity and a summary", r)
			}
			// Drop range selectors ([5m]) and the by (...) lists first.
			expr := regexp.MustCompile(`\[[^\]]*\]|by \([^)]*\)`).ReplaceAllString(r.Expr, "")
			for _, m := range series.FindAllStringSubmatch(expr, -1) {
				name := m[1]
				// PromQL's words, and up, which Prometheus records itself.
				if promql[name] || name == "up" || !strings.Contains(name, "_") {
					continue
				}
				have, ok := labels[name]
				if !ok {
					t.Errorf("alert %s: %s is not in /metrics", r.Alert, name)
					continue
				}
				for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
					if !have[lm[1]] {
						t.Errorf("alert %s: %s has no label %q", r.Alert, name, lm[1])
					}
				}
			}
		}
	}
	sort.Strings(alerts)
	for _, want := range []string{"WebcallbackAMIDown", "WebcallbackDatabaseWriteErrors", "WebcallbackRefusalSpike",
		"WebcallbackQueueFilling", "WebcallbackSystemBusy"} {
		if _, found := sort.Find(len(alerts), func(i int) int { return strings.Compare(want, alerts[i]) }); !found {
			t.Errorf("no alert %s (have %v)", want, alerts)
		}
	}
}
