package callflow

import "webcallback/ami"

// maxOrphans bounds the failed OriginateResponses kept for an Originate
// whose Do has not returned yet (the event can beat the response to our
// goroutine). Older ones are evicted: memory stays bounded even when
// someone else's Originates fail on the same AMI account.
const maxOrphans = 256

// orphans holds failed OriginateResponses by ActionID until the placing
// goroutine learns its ActionID (the AMI client assigns it). Not safe for
// concurrent use; the engine's mutex guards it.
type orphans struct {
	byID  map[string]*ami.Message
	order []string
}

func (o *orphans) put(m *ami.Message) {
	id := m.ActionID()
	if id == "" {
		return
	}
	if o.byID == nil {
		o.byID = map[string]*ami.Message{}
	}
	if _, ok := o.byID[id]; !ok {
		o.order = append(o.order, id)
	}
	o.byID[id] = m
	for len(o.order) > maxOrphans {
		delete(o.byID, o.order[0])
		o.order = o.order[1:]
	}
}

func (o *orphans) take(id string) *ami.Message {
	m, ok := o.byID[id]
	if !ok {
		return nil
	}
	delete(o.byID, id)
	for i, v := range o.order {
		if v == id {
			o.order = append(o.order[:i], o.order[i+1:]...)
			break
		}
	}
	return m
}
