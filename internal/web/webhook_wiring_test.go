package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"webcallback/internal/web/webhook"
	"webcallback/internal/web/webtest"
)

// TestWebhooks: a configured receiver gets the call's status changes,
// signed, in order (one call's events always go through one worker).
func TestWebhooks(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	type post struct {
		event string
		err   error
	}
	posts := make(chan post, 32)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body webhook.Body
		_ = json.Unmarshal(b, &body)
		posts <- post{body.Event, webhook.Verify("hook-secret", r.Header.Get(webhook.HeaderSignature), b, time.Now(), time.Minute)}
	}))
	t.Cleanup(rcv.Close)
	e := webtest.New(t, webtest.Options{WebhookURL: rcv.URL})
	e.Create(webtest.NumCaller, webtest.NumHangup)
	var got []string
	for len(got) == 0 || got[len(got)-1] != webhook.EventCompleted {
		select {
		case p := <-posts:
			if p.err != nil {
				t.Fatalf("%s: %v", p.event, p.err)
			}
			got = append(got, p.event)
		case <-time.After(30 * time.Second):
			t.Fatalf("webhooks so far: %v", got)
		}
	}
	want := []string{webhook.EventInitiated, webhook.EventRinging, webhook.EventAnswered, webhook.EventCompleted}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("webhooks %v, want %v", got, want)
	}
}
