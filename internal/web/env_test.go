package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"webcallback/internal/app"
	"webcallback/internal/app/apptest"
	"webcallback/internal/callback"
	"webcallback/internal/policy"
	"webcallback/internal/web"
)

// Test numbers of the sandbox's plan (docs/design.md §4).
const (
	numCaller   = "13800001001"
	numAnswers  = "13800002002" // answers, stays up to the limit
	numBusy     = "13811112222" // 486
	numNoAnswer = "13822220001" // rings until canceled
	num503      = "13833330000"
	numHangup   = "13855550001" // answers, hangs up 1 s later
	num404      = "13866660000"
	num603      = "13877770000"
	adminToken  = "test-admin-token-0123456789"
)

// env is the whole service on loopback as `webcallback serve` assembles
// it (app.New): the sandbox PBX, a real AMI client, the real engine and
// CDR monitor on a real SQLite store, the policy guard and the web handler
// behind a real HTTP server.
type env struct {
	t      testing.TB
	URL    string
	Client *http.Client
}

type envOpts struct {
	scale      float64       // sandbox time scale (default 0.01)
	limit      time.Duration // talk limit (default 20 s: 0.2 s at scale 0.01)
	adminToken string        // "-" = none
	maxStreams int
	streamsIP  int // per-address stream bound (0 = the default)
	webhookURL string
	limits     bool          // policy limits on (the eligibility quotas stay off)
	calleeRing time.Duration // how long the friend's phone rings (default 1 h)
	pow        string        // policy proof of work (default off)
	announce   bool          // --callee-announce on
	// quotas keeps serve's default eligibility quotas (one connected call
	// per caller a day, a minute between two requests of a caller, 3 rings
	// of a callee a day...) and turns the limits on: the README's demo as a
	// fresh service runs it.
	quotas bool
	extra  []string // more serve flags, last (they win)
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	if o.scale == 0 {
		o.scale = 0.01
	}
	if o.limit == 0 {
		o.limit = 20 * time.Second
	}
	if o.calleeRing == 0 {
		o.calleeRing = time.Hour // numNoAnswer rings until the test ends it
	}
	switch o.adminToken {
	case "":
		o.adminToken = adminToken
	case "-":
		o.adminToken = ""
	}
	if o.pow == "" {
		o.pow = policy.PoWOff
	}
	limits := "off"
	if o.limits || o.quotas {
		limits = "on"
	}
	var log *slog.Logger
	if os.Getenv("WEB_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	flags := []string{
		"--sandbox-time-scale", strconv.FormatFloat(o.scale, 'g', -1, 64), "--sandbox-seed", "1",
		"--call-limit", o.limit.String(), "--call-warning", (o.limit / 4).String(),
		"--callee-ring", o.calleeRing.String(), "--max-cps", "1000", "--lang", "en",
		"--limits", limits, "--pow", o.pow, "--pow-difficulty", "8", "--daily-minutes", "0",
		"--admin-token", o.adminToken, "--webhook-url", o.webhookURL, "--webhook-secret", "hook-secret",
	}
	if o.announce {
		flags = append(flags, "--callee-announce", "on")
	}
	if !o.quotas {
		flags = append(flags, "--caller-connected-per-day", "0", "--caller-attempts-per-day", "0", "--caller-cooldown", "0s", "--callee-per-day", "0")
	}
	flags = append(flags, o.extra...)
	maxStreams := app.WithWeb(func(c *web.Config, _ *web.Deps) { c.MaxStreams, c.MaxStreamsPerIP = o.maxStreams, o.streamsIP })
	svc := apptest.Start(t, log, flags, maxStreams)
	return &env{t: t, URL: svc.URL,
		Client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the response with its body read.
func (e *env) do(method, path string, body string, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

func (e *env) admin(method, path, body string, hdr ...string) (*http.Response, []byte) {
	return e.do(method, path, body, append([]string{"Authorization", "Bearer " + adminToken}, hdr...)...)
}

// create posts a callback and returns the request object.
func (e *env) create(caller, callee string) *callback.Request {
	e.t.Helper()
	resp, b := e.do("POST", "/api/v1/callbacks", `{"caller":"`+caller+`","callee":"`+callee+`"}`)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("create %s→%s: %s %s", caller, callee, resp.Status, b)
	}
	var r callback.Request
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return &r
}

// sseEvent is one parsed event.
type sseEvent struct {
	ID, Name string
	Req      callback.Request
	Raw      string
}

// stream opens an SSE stream and delivers its events until it ends.
func (e *env) stream(path string, hdr ...string) <-chan sseEvent {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("stream %s: %s %s %s", path, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Raw != "" {
					_ = json.Unmarshal([]byte(ev.Raw), &ev.Req)
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Raw += line[6:]
			}
		}
	}()
	return ch
}

// until reads events until one matches, failing after a generous timeout.
func until(t testing.TB, ch <-chan sseEvent, what string, ok func(sseEvent) bool) []sseEvent {
	t.Helper()
	var seen []sseEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("stream ended before %s; saw %v", what, names(seen))
			}
			seen = append(seen, ev)
			if ok(ev) {
				return seen
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s; saw %v", what, names(seen))
		}
	}
}

func names(evs []sseEvent) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Name+":"+string(e.Req.State))
	}
	return s
}

// errorBody is the API's error object.
type errorBody struct {
	Error struct {
		Code, Message, Field string
		RetryAt              *time.Time `json:"retry_at"`
	}
}

func decodeError(t testing.TB, b []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an error body: %s (%v)", b, err)
	}
	return e
}
