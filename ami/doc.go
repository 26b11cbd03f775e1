// Package ami speaks the Asterisk Manager Interface (Asterisk 20/22) on the
// standard library only: framing, actions, responses, events, login (plain
// and MD5 challenge), ActionID correlation, lists and reconnect. It knows
// nothing about callbacks. net/textproto is its style anchor.
//
// # Wire
//
// [Reader] parses what Asterisk sends: one banner line (no empty line after
// it), then messages of "Key: Value" lines, each ended by an empty line.
// A [Message] is an ordered header list: repeated keys (Output:, Variable:)
// are kept and lookup ignores case. Lines, messages and header counts are
// bounded ([MaxLineBytes], [MaxMessageBytes], [MaxHeaders]); a bad message
// is an error wrapping [ErrMalformed] or [ErrMessageTooLarge] and the
// Reader resyncs at the next empty line. [Message.AppendTo] and
// [Message.WriteTo] check every key and value before a byte is written: CR,
// LF or NUL anywhere is [ErrInvalidHeader] (the AMI injection hole).
//
// # Client
//
// A [Client] ([Dial], or [New] then [Client.Connect]) keeps one long-lived connection (Asterisk's AMI accept backlog
// is small and every login is logged) shared by any number of goroutines.
// [Client.Do] writes each action in one write with a fresh ActionID and returns the
// response that carries it; a list action (EventList: start) also gets its
// items and its ...Complete event. Errors say whether the action reached
// Asterisk: [ErrNotConnected] and ErrInvalidHeader mean nothing was
// written; [ErrConnLost] and [ErrTimeout] mean it may have run. The client never sends
// an action again by itself: a re-sent Originate rings a person twice.
//
// Events go to every [Subscription] ([Client.Subscribe]) in wire order,
// except list items a Do claimed. Synthetic events [EventConnected],
// [EventDisconnected] and [EventDropped] mark where a subscriber's view has
// a hole, so it knows when to resync; [Client.Watch] reports the same
// transitions as [StateChange] values.
//
// [webcallback/ami/amitest] serves AMI over loopback for tests and replays
// the real Asterisk transcripts; the package example logs in to one.
package ami
