package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/config"
	"webcallback/internal/policy/pow"
)

// apiClient speaks the service's public API (docs/design.md §6) as any
// script would.
type apiClient struct {
	base string // http://host:port, no trailing slash
	http *http.Client
}

// apiRefusal is the API's error body.
type apiRefusal struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Field     string         `json:"field"`
	RetryAt   *time.Time     `json:"retry_at"`
	Challenge *pow.Challenge `json:"challenge"`
}

func (r *apiRefusal) Error() string {
	msg := "refused: " + r.Code
	if r.Message != "" {
		msg += ": " + r.Message
	}
	if r.RetryAt != nil {
		msg += " (retry at " + r.RetryAt.Local().Format(time.DateTime) + ")"
	}
	return msg
}

// callViaServer asks the service at server to place the call, then follows
// its events to the final state, printing each state. Its records are the
// service's own: the policy, quotas and CDRs of a visitor's call apply.
func callViaServer(ctx context.Context, server, caller, callee, lang string, stdout io.Writer) error {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return config.BadSetting(fmt.Errorf("--server %q: want the service's base URL, e.g. http://127.0.0.1:8080", server))
	}
	if caller == "" || callee == "" {
		return config.BadSetting(errors.New("--caller and --callee are both required"))
	}
	c := &apiClient{base: u.Scheme + "://" + u.Host, http: &http.Client{}}
	req, err := c.create(ctx, caller, callee, lang)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "request %s: %s → %s (via %s)\n", req.ID, req.Caller, req.Callee, c.base)
	printState(stdout, req)
	final, err := c.follow(ctx, req.ID, stdout)
	if err != nil {
		return err
	}
	return finalResult(final)
}

// create is POST /api/v1/callbacks; a proof-of-work challenge, when the
// service demands one, is solved and the request sent once more.
func (c *apiClient) create(ctx context.Context, caller, callee, lang string) (*callback.Request, error) {
	body := map[string]string{"caller": caller, "callee": callee, "lang": lang}
	for attempt := 0; ; attempt++ {
		b, _ := json.Marshal(body)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		hr, err := http.NewRequestWithContext(rctx, http.MethodPost, c.base+"/api/v1/callbacks", bytes.NewReader(b))
		if err != nil {
			cancel()
			return nil, err
		}
		hr.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(hr)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("--server %s: %w", c.base, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("--server %s: reading the answer: %w", c.base, err)
		}
		if resp.StatusCode == http.StatusCreated {
			var r callback.Request
			if err := json.Unmarshal(data, &r); err != nil || !callback.ValidID(r.ID) {
				return nil, fmt.Errorf("--server %s: not a callback in the answer: %.200q", c.base, data)
			}
			return &r, nil
		}
		var eb struct {
			Error *apiRefusal `json:"error"`
		}
		if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
			return nil, fmt.Errorf("--server %s: %s: %.200q", c.base, resp.Status, data)
		}
		if eb.Error.Challenge != nil && attempt == 0 {
			sol, err := pow.Solve(ctx, *eb.Error.Challenge)
			if err != nil {
				return nil, fmt.Errorf("solving the proof of work: %w", err)
			}
			body["pow"] = sol
			continue
		}
		return nil, eb.Error
	}
}

// maxReconnects bounds how often follow reconnects a stream that ended
// before the final event (the service restarting, a proxy's timeout).
const maxReconnects = 20

// follow reads GET /api/v1/callbacks/{id}/events until the final event,
// printing each new state, reconnecting with Last-Event-ID when the stream
// ends early. When ctx ends (Ctrl-C) it cancels the call (DELETE) and
// follows it 15 s more.
func (c *apiClient) follow(ctx context.Context, id string, stdout io.Writer) (*callback.Request, error) {
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "interrupted: hanging up")
			dctx, cancel := context.WithTimeout(sctx, 5*time.Second)
			if err := c.cancel(dctx, id); err != nil {
				fmt.Fprintf(stdout, "hanging up: %v\n", err)
			}
			cancel()
			time.AfterFunc(15*time.Second, stop)
		case <-sctx.Done():
		}
	}()
	last, lastID := callback.StateQueued, ""
	for tries := 0; tries <= maxReconnects; tries++ {
		final, id2, err := c.stream(sctx, id, lastID, func(r *callback.Request) {
			if r.State != last {
				printState(stdout, r)
				last = r.State
			}
		})
		lastID = id2
		if final != nil {
			return final, nil
		}
		if sctx.Err() != nil {
			return nil, fmt.Errorf("request %s: no final state (%v)", id, err)
		}
		var refusal *apiRefusal
		if errors.As(err, &refusal) {
			return nil, refusal
		}
		select { // a short pause, then reconnect
		case <-time.After(200 * time.Millisecond):
		case <-sctx.Done():
		}
	}
	return nil, fmt.Errorf("request %s: the event stream ended %d times before the final state", id, maxReconnects+1)
}

// stream reads one connection of the event stream. It returns the final
// request once the "final" event came, else the last event id seen and why
// the stream ended.
func (c *apiClient) stream(ctx context.Context, id, lastID string, each func(*callback.Request)) (*callback.Request, string, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/callbacks/"+url.PathEscape(id)+"/events", nil)
	if err != nil {
		return nil, lastID, err
	}
	hr.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		hr.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, lastID, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		var eb struct {
			Error *apiRefusal `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil && resp.StatusCode == http.StatusNotFound {
			return nil, lastID, eb.Error
		}
		return nil, lastID, fmt.Errorf("events: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event, evID string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "id":
				evID = value
			case "data":
				data.WriteString(value)
			}
			continue
		}
		if data.Len() > 0 { // a blank line ends an event
			var r callback.Request
			if err := json.Unmarshal([]byte(data.String()), &r); err == nil && r.ID == id {
				if evID != "" {
					lastID = evID
				}
				each(&r)
				if event == "final" || r.State.Final() {
					return &r, lastID, nil
				}
			}
		}
		event, evID = "", ""
		data.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, lastID, err
	}
	return nil, lastID, io.ErrUnexpectedEOF
}

// cancel is DELETE /api/v1/callbacks/{id}.
func (c *apiClient) cancel(ctx context.Context, id string) error {
	hr, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+"/api/v1/callbacks/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("DELETE: %s", resp.Status)
	}
	return nil
}
