package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	for host, ok := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.9.9.9": true,
		"10.0.0.1": false, "example.com": false, "": false, "0.0.0.0": false} {
		if err := loopbackOnly(host); (err == nil) != ok {
			t.Errorf("loopbackOnly(%q) = %v", host, err)
		}
	}
}

// TestRun loads a real SSE server on loopback: it counts held streams and
// events, and refuses other hosts and bad flags.
func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"abc"}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\nevent: state\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer func() { srv.CloseClientConnections(); srv.Close() }()
	var out bytes.Buffer
	if err := run([]string{"-url", srv.URL, "-n", "5", "-hold", "10ms", "-rate", "1000"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "held 5, failed 0") || !strings.Contains(out.String(), "created request abc") {
		t.Fatalf("output %q", out.String())
	}
	for _, args := range [][]string{{"-url", "http://192.0.2.1:80"}, {"-n", "0"}, {"-n", "60000"}, {"-url", "::"}} {
		if err := run(append(args, "-hold", "1ms"), &out); err == nil {
			t.Errorf("run(%v) accepted", args)
		}
	}
}
