package ami_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/ami/amitest"
	"webcallback/internal/testenv"
)

// labSecret is the AMI secret of the recording lab (see command.log); the
// MD5 transcript's Key is md5(challenge + labSecret), so replaying it
// checks our digest.
const labSecret = "s3cret-lab"

func fixtureLogs(t *testing.T) map[string][]amitest.Block {
	t.Helper()
	dir := testenv.FixturesDir(t)
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(names) == 0 {
		t.Fatalf("no .log fixtures in %s", dir)
	}
	logs := make(map[string][]amitest.Block)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := amitest.ParseLog(data)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		logs[filepath.Base(n)] = blocks
	}
	return logs
}

// withoutActionID is m's headers less ActionID (the client picks its own,
// and adds one where the recorded client sent none), for comparing with
// the transcript.
func withoutActionID(m *ami.Message) []ami.Header {
	if m == nil {
		return nil
	}
	var hs []ami.Header
	for _, h := range m.Headers {
		if !strings.EqualFold(h.Key, "ActionID") {
			hs = append(hs, h)
		}
	}
	return hs
}

// recordedExchange is what the transcript says one action got back.
type recordedExchange struct {
	action   *ami.Message
	response *ami.Message
	items    []*ami.Message
	complete *ami.Message
}

// readTranscript splits a transcript into the actions a caller would Do
// (login and logoff are the client's own), what each got back, the events
// a subscriber should see, and whether the login was refused.
func readTranscript(t *testing.T, blocks []amitest.Block) (exchanges []recordedExchange, events []*ami.Message, login *ami.Message, authFailed, md5 bool) {
	t.Helper()
	listIDs := map[string]*recordedExchange{}
	var waiting *recordedExchange // the last action, until its response
	inLogin := false
	for i, b := range blocks {
		if i == 0 {
			continue // banner
		}
		msgs, err := amitest.Messages([]amitest.Block{{}, b}, b.Dir)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("block %d: %v (%d messages)", i, err, len(msgs))
		}
		m := msgs[0]
		if b.Dir == amitest.Sent {
			switch strings.ToLower(m.Get("Action")) {
			case "challenge":
				md5 = true
				inLogin = true
			case "login":
				inLogin = true
				login = m
			case "logoff":
				waiting = nil
			default:
				if authFailed {
					continue // never sent by a client whose login failed
				}
				exchanges = append(exchanges, recordedExchange{action: m})
				waiting = &exchanges[len(exchanges)-1]
			}
			continue
		}
		switch {
		case m.Response() != "" && inLogin:
			if m.Response() == "Error" {
				authFailed = true
			}
			if m.Get("Challenge") == "" {
				inLogin = false
			}
		case m.Response() != "" && waiting != nil:
			waiting.response = m
			if strings.EqualFold(m.Get("EventList"), "start") {
				listIDs[m.ActionID()] = waiting
			}
			waiting = nil
		case m.Event() != "" && listIDs[m.ActionID()] != nil:
			x := listIDs[m.ActionID()]
			if strings.EqualFold(m.Get("EventList"), "Complete") {
				x.complete = m
				delete(listIDs, m.ActionID())
			} else {
				x.items = append(x.items, m)
			}
		case m.Event() != "":
			events = append(events, m)
		}
	}
	return exchanges, events, login, authFailed, md5
}

// TestReplayFixtures replays every real Asterisk 22 transcript over
// loopback: the client must send what the recorded client sent (login
// included: plain and MD5), and its view (responses, list items, Command
// output, events in order) must match what Asterisk sent.
func TestReplayFixtures(t *testing.T) {
	for name, blocks := range fixtureLogs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exchanges, wantEvents, login, authFailed, md5 := readTranscript(t, blocks)
			if login == nil || (len(exchanges) == 0 && !authFailed) {
				t.Fatal("transcript without a login or without actions: nothing to check")
			}
			secret := login.Get("Secret") // the recorded one, wrong or right
			if md5 {
				secret = labSecret
			}
			srv, err := amitest.NewServer(amitest.Replay(blocks, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := srv.Close(); err != nil {
					t.Error(err)
				}
			}()
			c := ami.New(ami.Config{
				Addr: srv.Addr(), Username: login.Get("Username"), Secret: secret, AuthMD5: md5,
				PingInterval: -1, ActionTimeout: 5 * time.Second,
			})
			sub := c.Subscribe(0)
			ctx := context.Background()
			err = c.Connect(ctx)
			if authFailed {
				if !errors.Is(err, ami.ErrAuth) {
					t.Fatalf("Connect = %v, want ErrAuth", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range exchanges {
				action := &ami.Message{}
				for _, h := range x.action.Headers {
					if !strings.EqualFold(h.Key, "ActionID") {
						action.Add(h.Key, h.Value)
					}
				}
				resp, err := c.Do(ctx, action)
				if x.response.Response() == "Error" {
					var ae *ami.ActionError
					if !errors.As(err, &ae) || ae.Message != x.response.Get("Message") || ae.Action != action.Get("Action") {
						t.Errorf("%s: err = %v, want ActionError %q", action.Get("Action"), err, x.response.Get("Message"))
					}
				} else if err != nil {
					t.Fatalf("%s: %v", action.Get("Action"), err)
				}
				if resp == nil {
					t.Fatalf("%s: no response", action.Get("Action"))
				}
				if !reflect.DeepEqual(withoutActionID(resp.Message), withoutActionID(x.response)) {
					t.Errorf("%s response:\n%v\nwant\n%v", action.Get("Action"), resp.Message, x.response)
				}
				if got, want := resp.Output(), x.response.Values("Output"); !reflect.DeepEqual(got, want) {
					t.Errorf("Output() = %q, want %q", got, want)
				}
				if len(resp.Items) != len(x.items) || !reflect.DeepEqual(withoutActionID(resp.Complete), withoutActionID(x.complete)) {
					t.Errorf("%s: %d items, complete %v; want %d, %v", action.Get("Action"), len(resp.Items), resp.Complete, len(x.items), x.complete)
				}
				if x.complete != nil && len(x.items) == 0 {
					t.Errorf("%s: recorded list has no items", action.Get("Action"))
				}
				for i := range min(len(resp.Items), len(x.items)) {
					if !reflect.DeepEqual(withoutActionID(resp.Items[i]), withoutActionID(x.items[i])) {
						t.Errorf("item %d:\n%v\nwant\n%v", i, resp.Items[i], x.items[i])
					}
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			var got []*ami.Message
			for m := range sub.C() {
				got = append(got, m)
			}
			if len(got) < 2 || got[0].Event() != ami.EventConnected || got[len(got)-1].Event() != ami.EventDisconnected {
				t.Fatalf("events not framed by %s ... %s: %d events", ami.EventConnected, ami.EventDisconnected, len(got))
			}
			got = got[1 : len(got)-1]
			if len(got) != len(wantEvents) {
				t.Errorf("got %d events, transcript has %d", len(got), len(wantEvents))
			}
			for i := range min(len(got), len(wantEvents)) {
				if !reflect.DeepEqual(withoutActionID(got[i]), withoutActionID(wantEvents[i])) {
					t.Fatalf("event %d:\n%v\nwant\n%v", i, got[i], wantEvents[i])
				}
			}
			if sub.Dropped() != 0 {
				t.Errorf("Dropped() = %d", sub.Dropped())
			}
		})
	}
}

// TestReplayTimed replays a transcript with its recorded pauses (sped up
// 8x): the client waits the keepalive-free gaps out and logs off cleanly.
func TestReplayTimed(t *testing.T) {
	blocks := fixtureLogs(t)["ping.log"]
	if blocks == nil {
		t.Fatal("ping.log missing from the fixtures")
	}
	srv, err := amitest.NewServer(amitest.Replay(blocks, 8))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ami.Dial(context.Background(), ami.Config{Addr: srv.Addr(), Username: "webcallback", Secret: labSecret, PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if resp, err := c.Do(context.Background(), ami.NewMessage("Action", "Ping")); err != nil || resp.Get("Ping") != "Pong" {
			t.Fatalf("Ping: %v %v", resp, err)
		}
	}
	c.Close()
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
}
