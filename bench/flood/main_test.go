package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":{"code":"rate_limited","message":"later"}}`))
	}))
	defer srv.Close()
	tests := []struct {
		name string
		args []string
		want string // in the output, or in the error
		err  bool
	}{
		{"flood", []string{"-url", srv.URL, "-n", "200", "-c", "10"}, "200 refused", false},
		{"bind sources", []string{"-url", srv.URL, "-n", "50", "-c", "5", "-sources", "10", "-spread", "bind"}, "rate_limited×50", false},
		{"off loopback", []string{"-url", "http://192.0.2.1:8080", "-n", "1"}, "only targets loopback", true},
		{"sources without spread", []string{"-url", srv.URL, "-sources", "5"}, "needs -spread", true},
		{"too many", []string{"-url", srv.URL, "-n", "2000000"}, "requests", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out)
			got := out.String()
			if err != nil {
				got = err.Error()
			}
			if (err != nil) != tt.err || !strings.Contains(got, tt.want) {
				t.Fatalf("run(%v) = %q, %v; want %q", tt.args, got, err, tt.want)
			}
		})
	}
}
