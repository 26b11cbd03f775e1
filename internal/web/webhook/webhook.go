// Package webhook posts a callback request's status changes to an
// operator's URL: initiated, ringing, answered, completed. Each body is
// signed with HMAC-SHA256 over "<timestamp>.<body>" (header
// X-Webcallback-Signature: t=<unix>,v1=<hex>), so the receiver can check it
// came from us and is fresh. Delivery is asynchronous and bounded: a slow
// or dead receiver never blocks a call, failed posts are retried with
// exponential backoff, and when the queue is full new events are dropped
// and counted.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"webcallback/internal/callback"
)

// Event names, as in the body's "event" field.
const (
	EventInitiated = "initiated" // the PBX is ringing the caller
	EventRinging   = "ringing"   // the caller answered; the callee is ringing
	EventAnswered  = "answered"  // the callee answered: connected
	EventCompleted = "completed" // final: completed, failed, canceled or rejected (see request.state)
)

// Headers of every post.
const (
	HeaderSignature = "X-Webcallback-Signature"
	HeaderEvent     = "X-Webcallback-Event"
	HeaderDelivery  = "X-Webcallback-Delivery" // unique per event, the same across retries
)

// EventOf maps a state to the event it triggers, "" for none.
func EventOf(s callback.State) string {
	switch s {
	case callback.StateCallingCaller:
		return EventInitiated
	case callback.StateCallingCallee:
		return EventRinging
	case callback.StateConnected:
		return EventAnswered
	}
	if s.Final() {
		return EventCompleted
	}
	return ""
}

// Config of a Sender.
type Config struct {
	URL    string // http:// or https://
	Secret string // HMAC key; "" sends unsigned posts (the operator's choice)
	// BaseURL, when set, adds "url": <BaseURL>/api/v1/callbacks/<id> to bodies.
	BaseURL string
	Client  *http.Client
	Logger  *slog.Logger
	// Registerer receives the delivery counters (nil = not exported).
	Registerer prometheus.Registerer

	Workers     int           // concurrent posts (default 4)
	Queue       int           // events waiting, over all workers (default 1000)
	MaxAttempts int           // per event (default 6)
	Backoff     time.Duration // first retry delay, doubled per attempt with jitter (default 1 s)
	MaxBackoff  time.Duration // default 5 min
	Now         func() time.Time
}

// Body is what each post carries.
type Body struct {
	Event     string            `json:"event"`
	Delivery  string            `json:"delivery"`
	SentAt    time.Time         `json:"sent_at"`
	URL       string            `json:"url,omitempty"`
	Request   *callback.Request `json:"request"`
	Attempt   int               `json:"attempt"`
	requestID string
}

// Sender delivers events. Create with New, start with Run.
type Sender struct {
	cfg Config
	log *slog.Logger
	// queues has one queue per worker; a request's events always go to the
	// same one, so a receiver sees each call's events in order.
	queues []chan *Body
	sent   *prometheus.CounterVec // result: ok, retry, failed, dropped
	wg     sync.WaitGroup
}

// New checks cfg and returns a Sender.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: url %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1000
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.Queue = max(cfg.Queue/cfg.Workers, 1) // per worker
	s := &Sender{cfg: cfg, log: cfg.Logger.With("component", "webhook"), queues: make([]chan *Body, cfg.Workers),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webcallback_webhook_deliveries_total", Help: "Webhook posts by result: ok, retry, failed (gave up), dropped (queue full).",
		}, []string{"result"})}
	for i := range s.queues {
		s.queues[i] = make(chan *Body, cfg.Queue)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.sent); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("webhook: metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Run follows svc's transitions and delivers their events until ctx is
// done, then waits for the posts in flight.
func (s *Sender) Run(ctx context.Context, svc callback.Service) {
	updates, stop := svc.WatchAll()
	defer stop()
	for _, q := range s.queues {
		s.wg.Add(1)
		go s.worker(ctx, q)
	}
	defer s.wg.Wait()
	last := map[string]string{} // request id → last event sent: a repeated snapshot sends nothing
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-updates:
			if !ok {
				return
			}
			ev := EventOf(r.State)
			if ev == "" || last[r.ID] == ev {
				continue
			}
			if ev == EventCompleted {
				delete(last, r.ID)
			} else {
				last[r.ID] = ev
			}
			s.Enqueue(ev, r)
		}
	}
}

// Enqueue schedules one event; it never blocks.
func (s *Sender) Enqueue(event string, r *callback.Request) {
	b := &Body{Event: event, Delivery: r.ID + "." + event, Request: r.Clone(), requestID: r.ID}
	if s.cfg.BaseURL != "" {
		b.URL = s.cfg.BaseURL + "/api/v1/callbacks/" + url.PathEscape(r.ID)
	}
	h := fnv.New32a()
	h.Write([]byte(r.ID))
	select {
	case s.queues[h.Sum32()%uint32(len(s.queues))] <- b:
	default:
		s.sent.WithLabelValues("dropped").Inc()
		s.log.Warn("webhook queue full; event dropped", "id", r.ID, "event", event)
	}
}

func (s *Sender) worker(ctx context.Context, queue <-chan *Body) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-queue:
			s.deliver(ctx, b)
		}
	}
}

// deliver posts b until it succeeds, the attempts run out or ctx ends.
func (s *Sender) deliver(ctx context.Context, b *Body) {
	delay := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		b.Attempt = attempt
		err := s.post(ctx, b)
		if err == nil {
			s.sent.WithLabelValues("ok").Inc()
			return
		}
		if attempt >= s.cfg.MaxAttempts || ctx.Err() != nil || errors.Is(err, errPermanent) {
			s.sent.WithLabelValues("failed").Inc()
			s.log.Error("webhook delivery failed; giving up", "id", b.requestID, "event", b.Event, "attempts", attempt, "err", err)
			return
		}
		s.sent.WithLabelValues("retry").Inc()
		// Full jitter on an exponential delay: many instances retrying a
		// receiver that just came back do not arrive in one burst.
		wait := delay/2 + rand.N(delay/2+1)
		s.log.Warn("webhook delivery failed; will retry", "id", b.requestID, "event", b.Event, "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.sent.WithLabelValues("failed").Inc()
			return
		case <-t.C:
		}
		delay = min(delay*2, s.cfg.MaxBackoff)
	}
}

// errPermanent marks a response retrying cannot fix.
var errPermanent = errors.New("webhook: permanent failure")

func (s *Sender) post(ctx context.Context, b *Body) error {
	b.SentAt = s.cfg.Now().UTC()
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "webcallback-webhook/1")
	req.Header.Set(HeaderEvent, b.Event)
	req.Header.Set(HeaderDelivery, b.Delivery)
	if s.cfg.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(s.cfg.Secret, b.SentAt, data))
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		// The receiver refuses this body (bad URL, auth): the same body
		// again will not do better.
		return fmt.Errorf("%w: status %s", errPermanent, resp.Status)
	}
	return fmt.Errorf("webhook: post: status %s", resp.Status)
}

// Sign returns the signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header for body, as a receiver does: the MAC
// must match and the timestamp be within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("webhook: malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: signature timestamp out of tolerance")
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return errors.New("webhook: signature mismatch")
	}
	return nil
}
