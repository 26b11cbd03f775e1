package callflow

import (
	"webcallback/ami"
	"webcallback/internal/wcbproto"
)

// tracker finds the call an AMI event belongs to. Every request's caller
// channel is originated with ChannelId = request id, so its Uniqueid and the
// Linkedid of every channel of the call (the callee leg included) are the
// request id: correlation is a map lookup, with no channel-name guessing.
// The exceptions are a failed OriginateResponse (Uniqueid "<unknown>",
// Channel echoing the dial string), found by our ActionID, and our
// dialplan's UserEvents, which carry the id in their own header.
type tracker struct {
	calls    map[string]*call // live calls by request id
	byAction map[string]*call // by Originate ActionID
}

func newTracker() *tracker {
	return &tracker{calls: map[string]*call{}, byAction: map[string]*call{}}
}

func (t *tracker) add(c *call) {
	t.calls[c.req.ID] = c
	if c.actionID != "" {
		t.byAction[c.actionID] = c
	}
}

func (t *tracker) remove(c *call) {
	delete(t.calls, c.req.ID)
	if c.actionID != "" {
		delete(t.byAction, c.actionID)
	}
}

// correlationKeys are the headers that may hold a request id, in the order
// they are tried: the channel's own id first, then the call's.
var correlationKeys = []string{"Uniqueid", "DestUniqueid", "Linkedid", "DestLinkedid"}

// lookup returns the live call m is about, or nil.
func (t *tracker) lookup(m *ami.Message) *call {
	switch m.Event() {
	case "UserEvent":
		if m.Get("UserEvent") != wcbproto.UserEvent {
			return nil
		}
		return t.calls[m.Get(wcbproto.HeaderID)]
	case "OriginateResponse":
		if c := t.byAction[m.ActionID()]; c != nil {
			return c
		}
	case "Cdr", "":
		return nil // CDRs are stored by the CDR writer; responses are not events
	}
	for _, k := range correlationKeys {
		if v := m.Get(k); v != "" {
			if c := t.calls[v]; c != nil {
				return c
			}
		}
	}
	return nil
}
