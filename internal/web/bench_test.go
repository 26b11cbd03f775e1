package web_test

import (
	"io"
	"net/http"
	"testing"
	"webcallback/internal/web/webtest"
)

// Benchmarks of the hot paths over a real loopback socket:
//
//	go test -run XXX -bench . -benchtime 2s ./internal/web/
func BenchmarkIndexPage(b *testing.B) {
	benchGET(b, "/")
}

func BenchmarkGetRequest(b *testing.B) {
	e := webtest.New(b, webtest.Options{})
	r := e.Create(webtest.NumCaller, webtest.NumNoAnswer)
	benchGETOn(b, e, "/api/v1/callbacks/"+r.ID)
}

func BenchmarkStaticJS(b *testing.B) {
	benchGET(b, "/static/app.js?v=1")
}

func benchGET(b *testing.B, path string) {
	benchGETOn(b, webtest.New(b, webtest.Options{}), path)
}

func benchGETOn(b *testing.B, e *webtest.Env, path string) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(e.URL + path)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%s: %s", path, resp.Status)
			}
			b.SetBytes(n)
		}
	})
}
