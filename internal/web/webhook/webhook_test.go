package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/callback"
)

// receiver is a real HTTP server that records posts and answers with the
// statuses it is given, in order (then 200).
type receiver struct {
	mu       sync.Mutex
	statuses []int
	bodies   []Body
	sigs     []string
	raw      [][]byte
	got      chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body Body
	_ = json.Unmarshal(b, &body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.sigs = append(rc.sigs, r.Header.Get(HeaderSignature))
	rc.raw = append(rc.raw, b)
	st := 200
	if len(rc.statuses) > 0 {
		st, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	rc.mu.Unlock()
	w.WriteHeader(st)
	rc.got <- struct{}{}
}

func start(t *testing.T, statuses ...int) (*receiver, *Sender) {
	rc := &receiver{statuses: statuses, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	s, err := New(Config{URL: srv.URL + "/hook", Secret: "k", BaseURL: "https://call.example/", Backoff: time.Millisecond, MaxAttempts: 3, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, q := range s.queues {
		s.wg.Add(1)
		go s.worker(ctx, q)
	}
	return rc, s
}

func wait(t *testing.T, rc *receiver, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-rc.got:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d posts arrived", i, n)
		}
	}
}

func TestDeliverSigned(t *testing.T) {
	rc, s := start(t)
	r := &callback.Request{ID: "abc", State: callback.StateConnected, Caller: "+8613800001001"}
	s.Enqueue(EventOf(r.State), r)
	wait(t, rc, 1)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	b := rc.bodies[0]
	if b.Event != EventAnswered || b.Request.ID != "abc" || b.URL != "https://call.example/api/v1/callbacks/abc" || b.Delivery != "abc.answered" {
		t.Fatalf("body %+v", b)
	}
	if err := Verify("k", rc.sigs[0], rc.raw[0], time.Now(), time.Minute); err != nil {
		t.Fatalf("signature: %v (%s)", err, rc.sigs[0])
	}
	if Verify("other", rc.sigs[0], rc.raw[0], time.Now(), time.Minute) == nil {
		t.Fatal("wrong secret verified")
	}
	if Verify("k", rc.sigs[0], append(rc.raw[0], ' '), time.Now(), time.Minute) == nil {
		t.Fatal("changed body verified")
	}
	if Verify("k", rc.sigs[0], rc.raw[0], time.Now().Add(time.Hour), time.Minute) == nil {
		t.Fatal("stale signature verified")
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		posts    int
	}{
		{"5xx then ok", []int{500, 503}, 3},
		{"gives up after attempts", []int{500, 500, 500, 500}, 3},
		{"4xx is permanent", []int{404}, 1},
		{"429 is retried", []int{429}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, s := start(t, tc.statuses...)
			s.Enqueue(EventCompleted, &callback.Request{ID: "x", State: callback.StateFailed})
			wait(t, rc, tc.posts)
			select {
			case <-rc.got:
				t.Fatalf("more than %d posts", tc.posts)
			case <-time.After(50 * time.Millisecond):
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			for i, b := range rc.bodies {
				if b.Attempt != i+1 || b.Delivery != "x.completed" {
					t.Errorf("post %d: attempt %d delivery %q", i, b.Attempt, b.Delivery)
				}
			}
		})
	}
}

// TestQueueFull: a dead receiver never blocks Enqueue; overflow is dropped.
func TestQueueFull(t *testing.T) {
	s, err := New(Config{URL: "http://127.0.0.1:1/", Queue: 2, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			s.Enqueue(EventInitiated, &callback.Request{ID: "q"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Enqueue blocked")
	}
	if len(s.queues[0]) != 2 {
		t.Fatalf("queue holds %d", len(s.queues[0]))
	}
}

func TestEventOf(t *testing.T) {
	for s, want := range map[callback.State]string{
		callback.StateQueued: "", callback.StateCallingCaller: EventInitiated, callback.StateCallerAnswered: "", callback.StateConfirming: "",
		callback.StateCallingCallee: EventRinging, callback.StateConnected: EventAnswered,
		callback.StateCompleted: EventCompleted, callback.StateFailed: EventCompleted, callback.StateCanceled: EventCompleted,
	} {
		if got := EventOf(s); got != want {
			t.Errorf("EventOf(%s) = %q, want %q", s, got, want)
		}
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/", "http://", "://"} {
		if _, err := New(Config{URL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1700000000,v1=00", []byte("{}"))
	f.Add("v1=,t=", []byte(""))
	f.Add(strings.Repeat("t=1,", 50), []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		_ = Verify("k", header, body, time.Unix(1700000000, 0), time.Minute)
	})
}
