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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	tests := []struct {
		name string
		args []string
		want string // in the output, or in the error
		err  bool
	}{
		{"hold", []string{"-url", srv.URL, "-n", "5", "-sources", "2", "-for", "1s", "-trickle", "100ms", "-probe", "50ms", "-report", "500ms"}, "summary: peak open", false},
		{"headers", []string{"-url", srv.URL, "-mode", "headers", "-n", "2", "-for", "300ms", "-trickle", "100ms", "-report", "1s"}, "0 failed", false},
		{"off loopback", []string{"-url", "http://192.0.2.1:8080"}, "only targets loopback", true},
		{"too many", []string{"-url", srv.URL, "-n", "50001"}, "-n", true},
		{"too long", []string{"-url", srv.URL, "-for", "1h"}, "-for", true},
		{"mode", []string{"-url", srv.URL, "-mode", "fast"}, "-mode", true},
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
