package abusetest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRefusals measures refusals per second on the public endpoint
// under a flood, over real HTTP on loopback with the whole service behind
// it. Each sub-benchmark first exhausts what its flood may get through,
// then times refusals only:
//
//   - one_source: serve's defaults, one address: per-address limit (429);
//   - many_sources_pow: 1000 addresses via X-Forwarded-For, proof of work
//     switched on by the load (429 with a challenge);
//   - invalid_number: limits off, every body a bad number (400): the
//     parser's cost.
func BenchmarkRefusals(b *testing.B) {
	tests := []struct {
		name    string
		flags   []string
		sources int
		body    func(i int) string
		status  int
	}{
		{"one_source", nil, 1, func(i int) string { return string(distinctBody(i)) }, 429},
		{"many_sources_pow", nil, 1000, func(i int) string { return string(distinctBody(i)) }, 429},
		{"invalid_number", []string{"--limits", "off"},
			1, func(i int) string { return fmt.Sprintf(`{"caller":"13800001001","callee":"1390000%d&evil"}`, i) }, 400},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			e := newEnv(b, envOpts{flags: tt.flags})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var n atomic.Int64
			post := func() int {
				i := int(n.Add(1))
				req, _ := http.NewRequest("POST", e.URL+"/api/v1/callbacks", strings.NewReader(tt.body(i)))
				req.Header.Set("Content-Type", "application/json")
				if tt.sources > 1 {
					req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", i%tt.sources/250, i%250+1))
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			// Let through what may pass: until every source has been
			// refused in a row (each /24 of many_sources has its own
			// per-subnet allowance, and proof of work switches on only
			// once enough of them got through).
			for run := 0; run < max(tt.sources, 200); {
				if post() == tt.status {
					run++
				} else {
					run = 0
				}
			}
			var wrong atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if post() != tt.status {
						wrong.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "refusals/s")
			if w := wrong.Load(); w > 0 {
				b.Fatalf("%d answers were not %d", w, tt.status)
			}
		})
	}
}
