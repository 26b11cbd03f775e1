package ami_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/ami/amitest"
)

// FuzzClientStream lets a hostile server answer one action with arbitrary
// bytes ("$ID" stands for the action's ActionID, so responses and list
// items can match it) and then hang up. The client must not panic, Do must
// return, and Close must release everything.
func FuzzClientStream(f *testing.F) {
	for _, s := range []string{
		"Response: Success\r\nActionID: $ID\r\nPing: Pong\r\n\r\n",
		"Response: Success\r\nActionID: $ID\r\nEventList: start\r\n\r\nEvent: CoreShowChannel\r\nActionID: $ID\r\n\r\nEvent: X\r\n\r\nEvent: CoreShowChannelsComplete\r\nActionID: $ID\r\nEventList: Complete\r\n\r\n",
		"Response: Error\r\nActionID: $ID\r\nMessage: no\r\n\r\nResponse: Success\r\nActionID: $ID\r\n\r\n",
		"Event: OriginateResponse\r\nActionID: $ID\r\n\r\nno colon here\r\n\r\n: empty key\r\n\r\nResponse: Success\r\n\r\n",
		"Response: Success\r\nActionID: $ID\r\nEventList: start\r\n\r\nEvent: Item\r\nActionID: $ID\r\n",
	} {
		f.Add([]byte(s))
	}
	var mu sync.Mutex
	var data []byte // what the server sends for this run
	srv, err := amitest.NewServer(amitest.Actions(func(c net.Conn, m *ami.Message) error {
		if m.Get("Action") == "Login" {
			_, err := ami.NewMessage("Response", "Success", "ActionID", m.ActionID()).WriteTo(c)
			return err
		}
		mu.Lock()
		out := bytes.ReplaceAll(data, []byte("$ID"), []byte(m.ActionID()))
		mu.Unlock()
		c.Write(out)
		return amitest.ErrHangUp
	}))
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	f.Fuzz(func(t *testing.T, in []byte) {
		mu.Lock()
		data = in
		mu.Unlock()
		c := ami.New(ami.Config{Addr: srv.Addr(), Username: "u", Secret: "s", PingInterval: -1,
			ActionTimeout: 5 * time.Second, ReconnectMin: time.Hour})
		sub := c.Subscribe(4)
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(context.Background(), ami.NewMessage("Action", "Fuzz"))
		if err == nil && resp == nil {
			t.Fatal("nil response without an error")
		}
		var ae *ami.ActionError
		if err != nil && !errors.As(err, &ae) && !errors.Is(err, ami.ErrConnLost) && !errors.Is(err, ami.ErrMessageTooLarge) {
			t.Fatalf("unexpected error class: %v", err)
		}
		c.Close()
		for range sub.C() {
		}
	})
}
