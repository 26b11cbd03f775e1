package httpguard

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Timeouts of NewServer. A client must send its headers within ReadHeader
// (slowloris) and its body within Read (slow POST); a response must be
// written within Write; an idle keep-alive connection is closed after Idle.
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
// http.Server's ReadTimeout and WriteTimeout would cut every Server-Sent
// Events stream (and an expired read deadline cancels the request's
// context), so they stay zero and each request that does not ask for
// text/event-stream gets its own read and write deadlines instead. SSE
// requests have no body; their writes are bounded by the handler's own
// keep-alive writes failing when the client stops reading.
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
		if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			// Errors mean the ResponseWriter cannot (httptest): then the
			// request simply has no deadline.
			rc := http.NewResponseController(w)
			now := time.Now()
			if t.Read > 0 {
				_ = rc.SetReadDeadline(now.Add(t.Read))
			}
			if t.Write > 0 {
				_ = rc.SetWriteDeadline(now.Add(t.Write))
			}
		}
		h.ServeHTTP(w, r)
	})
}
