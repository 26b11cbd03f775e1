package ami_test

import (
	"context"
	"fmt"
	"net"

	"webcallback/ami"
	"webcallback/ami/amitest"
)

// A fake Asterisk on loopback stands in for the real one here.
func Example() {
	srv, err := amitest.NewServer(amitest.Actions(func(c net.Conn, m *ami.Message) error {
		id := m.ActionID()
		switch m.Get("Action") {
		case "Login":
			ami.NewMessage("Response", "Success", "ActionID", id, "Message", "Authentication accepted").WriteTo(c)
			ami.NewMessage("Event", "FullyBooted", "Privilege", "system,all", "Status", "Fully Booted").WriteTo(c)
		case "Command":
			ami.NewMessage("Response", "Success", "ActionID", id, "Message", "Command output follows",
				"Output", "Asterisk 22.10.1", "Output", "").WriteTo(c)
		case "Originate":
			ami.NewMessage("Response", "Error", "ActionID", id, "Message", "Extension does not exist.").WriteTo(c)
		case "Logoff":
			ami.NewMessage("Response", "Goodbye", "ActionID", id).WriteTo(c)
			return amitest.ErrHangUp
		}
		return nil
	}))
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c := ami.New(ami.Config{Addr: srv.Addr(), Username: "webcallback", Secret: "s3cret", Events: "call,cdr,user"})
	events := c.Subscribe(0) // before Connect: sees every event from the login on
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}

	resp, err := c.Do(ctx, ami.NewMessage("Action", "Command", "Command", "core show version"))
	fmt.Printf("%q %v\n", resp.Output(), err)

	_, err = c.Do(ctx, ami.NewMessage("Action", "Originate", "Channel", "PJSIP/13800001001@gateway",
		"Context", "no-such-context", "Exten", "s", "Priority", "1", "Async", "true"))
	fmt.Println(err)

	c.Close() // closes the subscription too
	for m := range events.C() {
		fmt.Println(m.Event())
	}
	// Output:
	// ["Asterisk 22.10.1" ""] <nil>
	// ami: Originate failed: Extension does not exist.
	// AMIConnected
	// FullyBooted
	// AMIDisconnected
}
