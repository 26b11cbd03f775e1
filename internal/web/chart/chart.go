// Package chart draws the admin dashboard's charts as self-contained SVG:
// no script, no style attribute (the page's CSP forbids inline style),
// only presentation attributes, so the SVG can be placed in the page or
// opened on its own. Every label is escaped; sizes are fixed, so the cost of
// a chart is bounded by the number of points it is given.
package chart

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Geometry of every chart, in SVG user units; the SVG scales to its box.
const (
	width   = 720
	height  = 260
	padL    = 52
	padR    = 52
	padT    = 28
	padB    = 40
	maxBars = 2000 // more points than pixels make no sense; bounds the output
)

// Series is one named, coloured row of values.
type Series struct {
	Name   string
	Color  string // a CSS colour name or #rrggbb
	Values []float64
}

// svg accumulates one document.
type svg struct{ b strings.Builder }

func newSVG(title string) *svg {
	s := &svg{}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="12">`,
		width, height, esc(title))
	fmt.Fprintf(&s.b, `<title>%s</title><rect width="%d" height="%d" fill="#ffffff"/>`, esc(title), width, height)
	fmt.Fprintf(&s.b, `<text x="%d" y="18" font-weight="bold" fill="#1f2328">%s</text>`, padL, esc(title))
	return s
}

func (s *svg) String() string { return s.b.String() + "</svg>" }

func (s *svg) text(x, y float64, anchor, fill, t string) {
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s">%s</text>`, x, y, anchor, attr(fill), esc(t))
}

func (s *svg) rect(x, y, w, h float64, fill, tip string) {
	fmt.Fprintf(&s.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">`, x, y, w, h, attr(fill))
	if tip != "" {
		fmt.Fprintf(&s.b, `<title>%s</title>`, esc(tip))
	}
	s.b.WriteString(`</rect>`)
}

func (s *svg) line(x1, y1, x2, y2 float64, stroke string) {
	fmt.Fprintf(&s.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`, x1, y1, x2, y2, attr(stroke))
}

// legend draws the series names top right.
func (s *svg) legend(series []Series) {
	x := float64(width - padR)
	for i := len(series) - 1; i >= 0; i-- {
		w := 14.0
		for _, r := range series[i].Name {
			w += 7
			if r >= 0x1100 { // CJK and other wide glyphs
				w += 5
			}
		}
		x -= w + 10
		s.rect(x, 9, 10, 10, series[i].Color, "")
		s.text(x+14, 18, "start", "#1f2328", series[i].Name)
	}
}

// yAxis draws gridlines and labels for 0..top on the left (or right).
func (s *svg) yAxis(top float64, right bool, unit string) {
	ph := float64(height - padT - padB)
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := float64(height-padB) - ph*float64(i)/4
		if !right {
			s.line(padL, y, width-padR, y, "#d0d7de")
			s.text(padL-6, y+4, "end", "#57606a", num(v)+unit)
		} else {
			s.text(width-padR+6, y+4, "start", "#57606a", num(v)+unit)
		}
	}
}

// xLabels writes up to 8 evenly spaced labels under the plot.
func (s *svg) xLabels(labels []string, xAt func(i int) float64) {
	n := len(labels)
	step := max(1, (n+7)/8)
	for i := 0; i < n; i += step {
		s.text(xAt(i), height-padB+16, "middle", "#57606a", labels[i])
	}
}

// StackedBars draws one bar per label, the series stacked (e.g. connected
// and failed calls per hour).
func StackedBars(title string, labels []string, series []Series) string {
	s := newSVG(title)
	n := min(len(labels), maxBars)
	top := 0.0
	for i := 0; i < n; i++ {
		sum := 0.0
		for _, se := range series {
			sum += at(se.Values, i)
		}
		top = math.Max(top, sum)
	}
	top = math.Max(niceCeil(top), 4) // whole calls: ticks at least 1 apart
	s.yAxis(top, false, "")
	pw, ph := float64(width-padL-padR), float64(height-padT-padB)
	if n == 0 {
		s.text(width/2, height/2, "middle", "#57606a", "—")
		return s.String()
	}
	slot := pw / float64(n)
	bw := math.Max(1, slot*0.8)
	for i := 0; i < n; i++ {
		y := float64(height - padB)
		for _, se := range series {
			v := at(se.Values, i)
			if v <= 0 {
				continue
			}
			h := ph * v / top
			y -= h
			s.rect(padL+slot*float64(i)+(slot-bw)/2, y, bw, h, se.Color, fmt.Sprintf("%s %s: %s", labels[i], se.Name, num(v)))
		}
	}
	s.xLabels(labels[:n], func(i int) float64 { return padL + slot*(float64(i)+0.5) })
	s.legend(series)
	return s.String()
}

// HBars draws one horizontal bar per label (e.g. calls by outcome).
func HBars(title string, labels []string, values []float64, color string) string {
	s := newSVG(title)
	n := min(len(labels), 12) // the chart has room for 12 rows
	if n == 0 {
		s.text(width/2, height/2, "middle", "#57606a", "—")
		return s.String()
	}
	top := 0.0
	for i := 0; i < n; i++ {
		top = math.Max(top, at(values, i))
	}
	top = math.Max(top, 1)
	const labelW = 170
	rowH := float64(height-padT-10) / float64(n)
	pw := float64(width - labelW - 60)
	for i := 0; i < n; i++ {
		v := at(values, i)
		y := padT + rowH*float64(i)
		s.text(labelW-8, y+rowH*0.65, "end", "#1f2328", labels[i])
		w := pw * v / top
		s.rect(labelW, y+rowH*0.15, math.Max(w, 0), rowH*0.7, color, labels[i]+": "+num(v))
		s.text(labelW+w+6, y+rowH*0.65, "start", "#57606a", num(v))
	}
	return s.String()
}

// TwoLines draws two series over the same labels with their own scales:
// left on the left axis, right on the right (e.g. ASR % and ACD s). NaN
// values (no calls that hour) leave gaps.
func TwoLines(title string, labels []string, left, right Series, leftUnit, rightUnit string) string {
	s := newSVG(title)
	n := min(len(labels), maxBars)
	topOf := func(v []float64) float64 {
		t := 0.0
		for i := 0; i < n; i++ {
			if x := gapAt(v, i); !math.IsNaN(x) {
				t = math.Max(t, x)
			}
		}
		return niceCeil(t)
	}
	lt, rt := math.Max(topOf(left.Values), 4), math.Max(topOf(right.Values), 4)
	s.yAxis(lt, false, leftUnit)
	s.yAxis(rt, true, rightUnit)
	if n == 0 {
		s.text(width/2, height/2, "middle", "#57606a", "—")
		return s.String()
	}
	pw, ph := float64(width-padL-padR), float64(height-padT-padB)
	xAt := func(i int) float64 {
		if n == 1 {
			return padL + pw/2
		}
		return padL + pw*float64(i)/float64(n-1)
	}
	for _, c := range []struct {
		se  Series
		top float64
	}{{left, lt}, {right, rt}} {
		var path strings.Builder
		pen := "M"
		for i := 0; i < n; i++ {
			v := gapAt(c.se.Values, i)
			if math.IsNaN(v) {
				pen = "M"
				continue
			}
			y := float64(height-padB) - ph*v/c.top
			fmt.Fprintf(&path, "%s%.1f %.1f ", pen, xAt(i), y)
			pen = "L"
			fmt.Fprintf(&s.b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s %s: %s</title></circle>`,
				xAt(i), y, attr(c.se.Color), esc(labels[i]), esc(c.se.Name), num(v))
		}
		if path.Len() > 0 {
			fmt.Fprintf(&s.b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(path.String()), attr(c.se.Color))
		}
	}
	s.xLabels(labels[:n], xAt)
	s.legend([]Series{left, right})
	return s.String()
}

// at is v[i], or 0 when missing, NaN or infinite.
func at(v []float64, i int) float64 {
	if i < len(v) && !math.IsInf(v[i], 0) && !math.IsNaN(v[i]) {
		return v[i]
	}
	return 0
}

// gapAt is v[i] for line charts: NaN (a gap) when missing, NaN or infinite.
func gapAt(v []float64, i int) float64 {
	if i < len(v) && !math.IsInf(v[i], 0) {
		return v[i]
	}
	return math.NaN()
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, at least 1.
func niceCeil(v float64) float64 {
	if !(v > 1) { // also NaN
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func esc(s string) string { return html.EscapeString(s) }

// attr keeps a colour to the characters colours use, so a bad value cannot
// break out of the attribute.
func attr(c string) string {
	for _, r := range c {
		if !(r == '#' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "gray"
		}
	}
	return c
}
