package chart

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

// wellFormed parses s as XML.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return
			}
			t.Fatalf("not well-formed: %v\n%.300s", err, s)
		}
	}
}

func TestCharts(t *testing.T) {
	nan := math.NaN()
	labels := []string{"01-02 10h", "01-02 11h", `<script>&"`}
	for name, svg := range map[string]string{
		"bars":        StackedBars("Calls", labels, []Series{{"ok", "#1a7f37", []float64{1, 2, 3}}, {"bad", "red", []float64{0, 5, 1}}}),
		"bars empty":  StackedBars("Calls", nil, nil),
		"hbars":       HBars("Outcomes", []string{"callee_busy", "<b>"}, []float64{3, 1}, "#0969da"),
		"hbars empty": HBars("Outcomes", nil, nil, "blue"),
		"lines":       TwoLines("Q", labels, Series{"ASR", "green", []float64{50, nan, 100}}, Series{"ACD", "x\" onload=\"", []float64{10, nan, math.Inf(1)}}, "%", "s"),
		"lines one":   TwoLines("Q", labels[:1], Series{"ASR", "green", []float64{1}}, Series{"ACD", "blue", nil}, "%", "s"),
	} {
		t.Run(name, func(t *testing.T) {
			wellFormed(t, svg)
			if strings.Contains(svg, "<script") || strings.Contains(svg, "style=") || strings.Contains(svg, "onload") {
				t.Fatalf("unsafe SVG: %s", svg)
			}
			if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Fatalf("NaN/Inf in coordinates: %s", svg)
			}
		})
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 1: 1, 3: 5, 7: 10, 12: 20, 0.5: 1, 150: 200, 1000: 1000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func FuzzStackedBars(f *testing.F) {
	f.Add("a<b", 1.5, -2.0)
	f.Add("", math.NaN(), math.Inf(-1))
	f.Fuzz(func(t *testing.T, label string, a, b float64) {
		svg := StackedBars(label, []string{label, label}, []Series{{label, label, []float64{a, b}}})
		if strings.Contains(svg, "NaN") {
			t.Fatalf("NaN in %s", svg)
		}
	})
}
