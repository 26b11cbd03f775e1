package httpguard

import (
	"log/slog"
	"net/http"
	"time"
)

// Timeouts of NewServer. A client must send its headers within ReadHeader
// (slowloris) and its body within Read of the handler starting (slow POST),
// whatever it asks for; a response must be written within Write unless the
// handler declares it a stream (Stream); an idle keep-alive connection is
// closed after Idle.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultTimeouts are the timeouts of NewServer.
var DefaultTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 30 * time.Second, Idle: 60 * time.Second}

// MaxHeaderBytes bounds the request line and headers.
const MaxHeaderBytes = 16 << 10

// NewServer returns an http.Server for h on addr with DefaultTimeouts.
func NewServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	return NewServerTimeouts(addr, h, logger, DefaultTimeouts)
}

// NewServerTimeouts is NewServer with other timeouts.
//
// http.Server's ReadTimeout and WriteTimeout cannot be lifted for one
// response, and an expired read deadline cancels the request's context,
// which would cut every Server-Sent Events stream. So they stay zero and
// every request gets its own read and write deadlines when its handler
// starts, set through http.ResponseController; only the handler, by
// calling Stream once it has a stream to send, lifts them. What a client
// writes in its headers (Accept: text/event-stream, say) changes nothing.
func NewServerTimeouts(addr string, h http.Handler, logger *slog.Logger, t Timeouts) *http.Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           deadlines(h, t),
		ReadHeaderTimeout: t.ReadHeader,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),
	}
}

func deadlines(h http.Handler, t Timeouts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Errors mean the ResponseWriter cannot (httptest's recorder): then
		// the request simply has no deadline.
		rc := http.NewResponseController(w)
		now := time.Now()
		if t.Read > 0 {
			_ = rc.SetReadDeadline(now.Add(t.Read))
		}
		if t.Write > 0 {
			_ = rc.SetWriteDeadline(now.Add(t.Write))
		}
		h.ServeHTTP(w, r)
	})
}

// Stream lifts the request's deadlines for a response that streams (SSE):
// from now on the handler bounds each write itself (SetWriteDeadline per
// frame) and ends the stream when it is done or the client is gone. The
// read deadline is lifted only when the request has no body: an expired
// read deadline would cancel the stream's context, while a request that
// still owes a body keeps its bound and so cannot hold a stream open by
// trickling it. Call it after the handler has decided to stream, never
// before (a refused request keeps its deadlines).
func Stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if r.Body == nil || r.Body == http.NoBody {
		_ = rc.SetReadDeadline(time.Time{})
	}
	_ = rc.SetWriteDeadline(time.Time{})
}
