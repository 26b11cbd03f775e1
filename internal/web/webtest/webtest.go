// Package webtest runs the whole service on loopback for the tests of
// its HTTP API and pages (internal/web's tests, the browser tests in e2e):
// the sandbox PBX, a real AMI client, the real engine and CDR monitor on a
// real SQLite store, the policy guard and the web handler behind a real
// HTTP server, as `webcallback serve` assembles them (app.New through
// apptest.Start), with helpers to call the API and read its event
// streams. For tests only.
package webtest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
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
	NumCaller       = "13800001001"
	NumAnswers      = "13800002002" // answers, stays up to the limit
	NumBusy         = "13811112222" // 486
	NumNoAnswer     = "13822220001" // rings until canceled
	Num503          = "13833330000"
	NumHangup       = "13855550001" // answers, hangs up 1 s later
	Num404          = "13866660000"
	Num603          = "13877770000"
	NumNeverPresses = "13888881001" // as a caller: answers, never presses 1
	NumOptsOut      = "13899992002" // as a callee: presses 9
	// AdminToken is the admin's bearer token unless Options.AdminToken
	// says otherwise.
	AdminToken = "test-admin-token-0123456789"
)

// Env is one service on loopback (see the package doc) and an HTTP client
// of it that does not follow redirects.
type Env struct {
	t      testing.TB
	URL    string
	Client *http.Client
}

// In is the same service seen from subtest t, so that a failure stops t
// (FailNow works only in the goroutine of the test it is called on).
func (e *Env) In(t testing.TB) *Env {
	c := *e
	c.t = t
	return &c
}

// Options are the service's settings that the tests vary; the zero value
// is a fast sandbox (time scale 0.01), a 20 s talk limit, no limits, no
// quotas, no proof of work, the admin token AdminToken.
type Options struct {
	Scale        float64       // sandbox time scale (default 0.01)
	Limit        time.Duration // talk limit (default 20 s: 0.2 s at scale 0.01)
	AdminToken   string        // "-" = none
	MaxStreams   int
	StreamsPerIP int // per-address stream bound (0 = the default)
	WebhookURL   string
	Limits       bool          // policy limits on (the eligibility quotas stay off)
	CalleeRing   time.Duration // how long the friend's phone rings (default 1 h)
	PoW          string        // policy proof of work (default off)
	Announce     bool          // --callee-announce on
	// Quotas keeps serve's default eligibility quotas (one connected call
	// per caller a day, a minute between two requests of a caller, 3 rings
	// of a callee a day...) and turns the limits on: the README's demo as a
	// fresh service runs it.
	Quotas bool
	Extra  []string // more serve flags, last (they win)
}

// New starts a service with o until the test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Scale == 0 {
		o.Scale = 0.01
	}
	if o.Limit == 0 {
		o.Limit = 20 * time.Second
	}
	if o.CalleeRing == 0 {
		o.CalleeRing = time.Hour // NumNoAnswer rings until the test ends it
	}
	switch o.AdminToken {
	case "":
		o.AdminToken = AdminToken
	case "-":
		o.AdminToken = ""
	}
	if o.PoW == "" {
		o.PoW = policy.PoWOff
	}
	limits := "off"
	if o.Limits || o.Quotas {
		limits = "on"
	}
	var log *slog.Logger
	if os.Getenv("WEB_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	flags := []string{
		"--sandbox-time-scale", strconv.FormatFloat(o.Scale, 'g', -1, 64), "--sandbox-seed", "1",
		"--call-limit", o.Limit.String(), "--call-warning", (o.Limit / 4).String(),
		"--callee-ring", o.CalleeRing.String(), "--max-cps", "1000", "--lang", "en",
		"--limits", limits, "--pow", o.PoW, "--pow-difficulty", "8", "--daily-minutes", "0",
		"--admin-token", o.AdminToken, "--webhook-url", o.WebhookURL, "--webhook-secret", "hook-secret",
	}
	if o.Announce {
		flags = append(flags, "--callee-announce", "on")
	}
	if !o.Quotas {
		flags = append(flags, "--caller-connected-per-day", "0", "--caller-attempts-per-day", "0", "--caller-cooldown", "0s", "--callee-per-day", "0")
	}
	flags = append(flags, o.Extra...)
	streams := app.WithWeb(func(c *web.Config, _ *web.Deps) { c.MaxStreams, c.MaxStreamsPerIP = o.MaxStreams, o.StreamsPerIP })
	svc := apptest.Start(t, log, flags, streams)
	return &Env{t: t, URL: svc.URL,
		Client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends a request and returns the response with its body read.
func (e *Env) Do(method, path string, body string, hdr ...string) (*http.Response, []byte) {
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

// Admin is Do with the admin's bearer token.
func (e *Env) Admin(method, path, body string, hdr ...string) (*http.Response, []byte) {
	return e.Do(method, path, body, append([]string{"Authorization", "Bearer " + AdminToken}, hdr...)...)
}

// Create posts a callback and returns the request object.
func (e *Env) Create(caller, callee string) *callback.Request {
	e.t.Helper()
	resp, b := e.Do("POST", "/api/v1/callbacks", `{"caller":"`+caller+`","callee":"`+callee+`"}`)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("create %s→%s: %s %s", caller, callee, resp.Status, b)
	}
	var r callback.Request
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return &r
}

// Event is one parsed event of an event stream.
type Event struct {
	ID, Name string
	Req      callback.Request
	Raw      string
}

// Stream opens an SSE stream and delivers its events until it ends.
func (e *Env) Stream(path string, hdr ...string) <-chan Event {
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
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev Event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Raw != "" {
					_ = json.Unmarshal([]byte(ev.Raw), &ev.Req)
					ch <- ev
				}
				ev = Event{}
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

// Until reads events until one matches, failing after a generous timeout.
func Until(t testing.TB, ch <-chan Event, what string, ok func(Event) bool) []Event {
	t.Helper()
	var seen []Event
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("stream ended before %s; saw %v", what, Names(seen))
			}
			seen = append(seen, ev)
			if ok(ev) {
				return seen
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s; saw %v", what, Names(seen))
		}
	}
}

// Names lists the events as name:state, for failure messages.
func Names(evs []Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Name+":"+string(e.Req.State))
	}
	return s
}

// Final follows request id's event stream to its final event and returns
// the request as that event tells it.
func (e *Env) Final(id string) callback.Request {
	e.t.Helper()
	evs := Until(e.t, e.Stream("/api/v1/callbacks/"+id+"/events"), "final", func(ev Event) bool { return ev.Name == "final" })
	return evs[len(evs)-1].Req
}

// WaitFinal polls the API until request id is final and returns it.
func (e *Env) WaitFinal(id string) callback.Request {
	e.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, b := e.Do("GET", "/api/v1/callbacks/"+id, "")
		var r callback.Request
		_ = json.Unmarshal(b, &r)
		if r.State.Final() {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("request %s never ended: %s", id, b)
		}
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TokenIn returns the CSRF token of the first form of page ("" if none).
func TokenIn(page string) string {
	if m := csrfRE.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// FormToken loads the page at path and returns its form's CSRF token.
func (e *Env) FormToken(path string) string {
	e.t.Helper()
	resp, b := e.Do("GET", path, "")
	tok := TokenIn(string(b))
	if resp.StatusCode != 200 || tok == "" {
		e.t.Fatalf("GET %s: %s, no csrf token", path, resp.Status)
	}
	return tok
}

// Form posts the form v to path, as a browser without JavaScript does.
func (e *Env) Form(path string, v url.Values, hdr ...string) (*http.Response, []byte) {
	return e.Do("POST", path, v.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
}
