// Package callback is the domain model of one web callback request: its
// states, reasons, prompts and history. It is shared by the engine, the store,
// the policy and the web, and knows nothing about AMI or SQL. [Service] is
// what the web and the CLI need of the engine.
//
// The names here are the contract of docs/design.md §6: operators and
// scripts rely on them, so they may grow but never change.
package callback

import (
	"context"
	"errors"
	"time"
)

// State is where a request is in its life.
type State string

const (
	StateRejected       State = "rejected"
	StateQueued         State = "queued"
	StateCallingCaller  State = "calling_caller"
	StateCallerAnswered State = "caller_answered"
	StateConfirming     State = "confirming" // the caller is asked to press 1 before the callee is rung (--caller-confirm)
	StateCallingCallee  State = "calling_callee"
	StateConnected      State = "connected"
	StateCompleted      State = "completed"
	StateFailed         State = "failed"
	StateCanceled       State = "canceled"
)

// Final reports whether no transition can follow s.
func (s State) Final() bool {
	switch s {
	case StateRejected, StateCompleted, StateFailed, StateCanceled:
		return true
	}
	return false
}

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StateRejected, StateQueued, StateCallingCaller, StateCallerAnswered, StateConfirming,
		StateCallingCallee, StateConnected, StateCompleted, StateFailed, StateCanceled:
		return true
	}
	return false
}

// Reason says why a request reached its final state.
type Reason string

const (
	// completed
	ReasonLimitReached Reason = "limit_reached"
	ReasonCalleeHangup Reason = "callee_hangup"
	ReasonCallerHangup Reason = "caller_hangup" // also canceled: caller hung up before the callee answered
	// failed
	ReasonCallerBusy        Reason = "caller_busy"
	ReasonCallerNoAnswer    Reason = "caller_no_answer"
	ReasonCallerUnreachable Reason = "caller_unreachable"
	ReasonCallerNoConfirm   Reason = "caller_no_confirm" // the caller did not press 1 (or hung up) when asked
	ReasonCalleeBusy        Reason = "callee_busy"
	ReasonCalleeRejected    Reason = "callee_rejected"
	ReasonCalleeNoAnswer    Reason = "callee_no_answer"
	ReasonCalleeInvalid     Reason = "callee_invalid"
	ReasonCalleeOptedOut    Reason = "callee_opted_out" // failed: the callee pressed 9; rejected: the callee is on the do-not-call list
	ReasonNetworkError      Reason = "network_error"
	// ReasonPBXLost: the Asterisk node stopped (AMI Shutdown) or vanished
	// (the AMI connection lost and the call gone when it came back)
	// mid-call. Not a hang-up of either party.
	ReasonPBXLost Reason = "pbx_lost"
	// canceled
	ReasonVisitor Reason = "visitor"
	ReasonAdmin   Reason = "admin"
	// rejected: the API error codes
	ReasonInvalidNumber         Reason = "invalid_number"
	ReasonSameNumber            Reason = "same_number"
	ReasonDestinationNotAllowed Reason = "destination_not_allowed"
	ReasonNotEligible           Reason = "not_eligible"
	ReasonRateLimited           Reason = "rate_limited"
	ReasonSystemBusy            Reason = "system_busy"
)

// Prompt is the sound file the caller heard at the end, as named in the
// dialplan and in deploy/sounds.
type Prompt string

const (
	PromptNone          Prompt = ""
	PromptWelcome       Prompt = "Welcome"
	PromptTimeoutHangup Prompt = "TimeoutHangup"
	PromptPartnerHangup Prompt = "PartnerHangup"
	PromptPartnerBusy   Prompt = "PartnerBusy"
	PromptPartnerAway   Prompt = "PartnerAway"
	PromptSystemBusy    Prompt = "SystemBusy"
	PromptInvalidNumber Prompt = "InvalidNumber"
	// Consent prompts (--caller-confirm, --callee-announce).
	PromptConfirmCall    Prompt = "ConfirmCall"    // to the caller: press 1 to call your friend
	PromptNoConfirm      Prompt = "NoConfirm"      // to the caller: not confirmed, goodbye (the final prompt of caller_no_confirm)
	PromptCalleeAnnounce Prompt = "CalleeAnnounce" // to the callee: a call through the service from (the number follows)
	PromptCalleeChoice   Prompt = "CalleeChoice"   // to the callee: 1 to talk, 9 never to be called again
	PromptOptedOut       Prompt = "OptedOut"       // to the callee after 9: you will not be called again
)

// Transition is one entry of a request's history.
type Transition struct {
	State State     `json:"state"`
	At    time.Time `json:"at"`
}

// Request is one callback request. Numbers are E.164 ("+8613800001001").
type Request struct {
	ID     string `json:"id"`
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	State  State  `json:"state"`
	Reason Reason `json:"reason"`
	Cause  int    `json:"cause"` // Q.850; 0 = none
	Prompt Prompt `json:"prompt"`

	CreatedAt   time.Time  `json:"created_at"`
	AnsweredAt  *time.Time `json:"answered_at"`  // caller answered
	ConnectedAt *time.Time `json:"connected_at"` // callee answered
	EndedAt     *time.Time `json:"ended_at"`
	Billsec     int        `json:"billsec"` // seconds connected (callee answered → end)

	History []Transition `json:"history"`

	// Not part of the public API object.
	CallerDial    string    `json:"-"` // digits dialled on the trunk for the caller
	CalleeDial    string    `json:"-"` // digits dialled on the trunk for the callee
	Lang          string    `json:"-"` // prompt language: "zh" or "en"
	ClientIP      string    `json:"-"`
	Instance      string    `json:"-"` // the service instance that owns the call
	Node          string    `json:"-"` // the PBX node it is placed on (AMI host:port), chosen once at Submit
	CallerChannel string    `json:"-"` // e.g. PJSIP/gateway-0000001b, once known
	CalleeChannel string    `json:"-"`
	UpdatedAt     time.Time `json:"-"`
}

// Clone returns a deep copy, safe to hand to another goroutine.
func (r *Request) Clone() *Request {
	c := *r
	c.History = append([]Transition(nil), r.History...)
	for _, p := range []**time.Time{&c.AnsweredAt, &c.ConnectedAt, &c.EndedAt} {
		if *p != nil {
			t := **p
			*p = &t
		}
	}
	return &c
}

// ValidID reports whether id has the shape of a request id: 1 to 64
// letters, digits and '-' (our ids are UUIDs). Anything else never reaches
// the engine, an AMI action (it is the Originate's ChannelId) or a query.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// Errors shared across the packages that serve requests.
var (
	ErrNotFound   = errors.New("callback: request not found")
	ErrFinal      = errors.New("callback: request already finished")
	ErrSystemBusy = errors.New("callback: system busy")
	// ErrNotOwner: another service instance owns the request now (it
	// adopted the call while this one was taken for dead); only the owner
	// writes it.
	ErrNotOwner = errors.New("callback: request owned by another instance")
)

// Service is what the web and the CLI need of the engine. The engine
// (internal/callflow) implements it.
type Service interface {
	// Submit takes a request whose ID, Caller, Callee, CallerDial,
	// CalleeDial, Lang and ClientIP are set, stores it as queued and places
	// the call. It returns ErrSystemBusy at once when capacity is exhausted
	// (the request is then stored as rejected/system_busy).
	Submit(ctx context.Context, r *Request) error
	// Cancel ends a request that is not final: hangs up its channels.
	// by is ReasonVisitor or ReasonAdmin.
	Cancel(ctx context.Context, id string, by Reason) error
	// Get returns the current request (from memory or the store).
	Get(ctx context.Context, id string) (*Request, error)
	// Watch delivers the current snapshot at once, then one snapshot per
	// transition, and closes the channel after the final state. ctx bounds
	// the lookup of a request no longer in memory (as Get); stop releases
	// the subscription early.
	Watch(ctx context.Context, id string) (updates <-chan *Request, stop func(), err error)
	// WatchAll delivers a snapshot of every transition of every request
	// (admin live view, webhooks, metrics). Slow readers lose updates, counted.
	WatchAll() (updates <-chan *Request, stop func())
	// Live lists the requests that are not final, oldest first.
	Live() []*Request
}
