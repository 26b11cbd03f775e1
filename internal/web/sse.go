package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/httpguard"
)

// SSE timing. A heartbeat comment keeps proxies and NAT from closing an
// idle stream; each write has its own deadline so a stalled client cannot
// pin a goroutine, even though the server's WriteTimeout is off for streams.
const (
	sseHeartbeat    = 15 * time.Second
	sseWriteTimeout = 10 * time.Second
	sseRetryMS      = 2000
)

// sseWriter writes one text/event-stream response.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the stream's headers and the reconnection delay. From
// here the response is a stream: the request's read and write deadlines
// are lifted (httpguard.Stream) and each frame gets its own write deadline.
// Whether the client sent Accept: text/event-stream changes nothing: curl
// and scripts get the same stream as a browser's EventSource.
func startSSE(w http.ResponseWriter, r *http.Request) (*sseWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events through at once
	w.WriteHeader(http.StatusOK)
	httpguard.Stream(w, r)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	return s, s.write("retry: " + strconv.Itoa(sseRetryMS) + "\n\n")
}

func (s *sseWriter) write(frame string) error {
	// Not every ResponseWriter supports deadlines (httptest's recorder does
	// not); the stream then relies on the request context alone.
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := s.w.Write([]byte(frame)); err != nil {
		return fmt.Errorf("sse write: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("sse flush: %w", err)
	}
	return nil
}

// event sends one event. data must be a single line (compact JSON is).
func (s *sseWriter) event(id, name string, data []byte) error {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	b.WriteString("event: " + name + "\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return s.write(b.String())
}

// heartbeat sends a comment line, which EventSource ignores.
func (s *sseWriter) heartbeat() error { return s.write(": ping\n\n") }

// lastEventID reads the Last-Event-ID a reconnecting EventSource sends (or
// ?last_event_id= for clients that cannot set headers); -1 when absent.
func lastEventID(r *http.Request) int {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// acquireStream takes a place for one stream of r's client, or answers
// 503 too_many_streams and returns nil. The caller defers the release
// it returns.
func (s *server) acquireStream(w http.ResponseWriter, r *http.Request) (release func()) {
	ip := s.clientIP(r)
	if s.streams.Acquire(ip) != "" {
		s.refused.AddDetail("too_many_streams", ip.String())
		s.writeError(w, r, newError(requestLang(r, s.cfg.DefaultLang), "too_many_streams"))
		return nil
	}
	s.metrics.streams.Inc()
	return func() {
		s.metrics.streams.Dec()
		s.streams.Release(ip)
	}
}

// pump runs a stream: emit for each update, a heartbeat when idle, until
// the client leaves, the updates end, a write fails or emit says stop.
func pump(r *http.Request, sw *sseWriter, updates <-chan *callback.Request, emit func(*callback.Request) bool) {
	tick := time.NewTicker(sseHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if sw.heartbeat() != nil {
				return
			}
		case req, ok := <-updates:
			if !ok || !emit(req) {
				return
			}
		}
	}
}
