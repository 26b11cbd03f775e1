package ami

import (
	"errors"
	"strings"
)

var (
	// ErrConnLost reports an action that was written (or may have been
	// partly written) when the connection dropped before its response
	// arrived. Asterisk may have run it: the client never re-sends it, and
	// the caller must reconcile (e.g. look for the channel) before trying
	// again.
	ErrConnLost = errors.New("ami: connection lost with the action in flight")
	// ErrNotConnected reports an action refused because no connection was
	// up: nothing was written, so retrying later is safe.
	ErrNotConnected = errors.New("ami: not connected")
	// ErrTimeout reports an action whose response (or list end) did not
	// arrive within Config.ActionTimeout or the context deadline. The action
	// was written and may still run.
	ErrTimeout = errors.New("ami: action timed out")
	// ErrAuth reports a login refused by Asterisk (wrong user or secret,
	// or an ACL); Asterisk closes the connection after it.
	ErrAuth = errors.New("ami: authentication failed")
	// ErrClosed reports use of a Client after Close.
	ErrClosed = errors.New("ami: client closed")
)

// ActionError is a "Response: Error" from Asterisk, e.g. Originate into an
// unknown context ("Extension does not exist.").
type ActionError struct {
	Action  string // the action's name, e.g. "Originate"
	Message string // Asterisk's Message: header
}

func (e *ActionError) Error() string {
	return "ami: " + e.Action + " failed: " + e.Message
}

// Response is what an action got back: the response message itself and,
// for list actions (EventList: start), the list items in wire order and the
// closing ...Complete event.
type Response struct {
	*Message
	Items    []*Message // list items, e.g. CoreShowChannel events
	Complete *Message   // the list's closing event, e.g. CoreShowChannelsComplete

	action string
}

// Output returns the Command output lines (one Output: header each; an
// empty line is "").
func (r *Response) Output() []string { return r.Values("Output") }

// Err returns an *ActionError for "Response: Error", else nil.
func (r *Response) Err() error {
	if !strings.EqualFold(r.Response(), "Error") {
		return nil
	}
	return &ActionError{Action: r.action, Message: r.Get("Message")}
}
