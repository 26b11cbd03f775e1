// Package store persists callback requests, CDRs (the classic Asterisk cdr
// table, verbatim), per-number statistics, manual block/allow entries and the
// admin audit log, on SQLite (default, embedded), MySQL/MariaDB or
// PostgreSQL. [Open] picks the backend from a --db URL.
//
// Schema: migrations/<backend>/NNNN_*.sql, embedded, applied by [DB.Migrate]
// (webcallback migrate, and serve at start). Tables: cdr (the original's
// columns, types and indexes, uniqueid widened to 150), callback_request and
// callback_transition, cdr_call (CDR rows grouped per call), number_stats
// and number_daily (the per-number table; view skypecallback for the
// original's readers), number_override, do_not_call, audit_log, number_lock (the
// cross-process per-number mutex of [DB.Admit]), cdr_cursor. Timestamps are Unix
// milliseconds except cdr.calldate, a DATETIME wall clock in UTC (Asterisk's
// database backends write UTC as the kit renders them: usegmtime=yes,
// timezone=UTC). How CDR rows become per-number counters: see cdr.go.
//
// Tests run every backend the environment names (.ci/db.sh starts
// throw-away servers): eval "$(.ci/db.sh start)"; go test ./internal/store/
//
// [Open] returns the concrete [*DB]; each consumer declares the small
// interface of the methods it calls ([webcallback/internal/callflow.Store],
// [webcallback/internal/policy.Store], [webcallback/internal/monitor.Store],
// [webcallback/internal/web.Store]), so a part depends only on what it uses
// and a new method touches no one. This file holds the types those methods
// exchange; changing an existing signature means changing every caller in
// the same commit.
package store

import (
	"errors"
	"time"

	"webcallback/internal/callback"
)

// ErrNotFound is returned for a missing row; for requests it wraps
// callback.ErrNotFound so callers can test either.
var ErrNotFound = errors.New("store: not found")

// ErrInvalid is a record the store refuses whatever the database's health
// (a required field missing): writing it again cannot succeed.
var ErrInvalid = errors.New("store: invalid record")

// CDR is one row of the classic cdr table (columns verbatim from the
// original schema) plus the Asterisk 12+ columns linkedid, sequence and
// peeraccount.
type CDR struct {
	CallDate    time.Time // start of the call; the column is a DATETIME wall clock in UTC
	CLID        string
	Src         string
	Dst         string
	DContext    string
	Channel     string
	DstChannel  string
	LastApp     string
	LastData    string
	Duration    int
	Billsec     int
	Disposition string // ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION
	AMAFlags    int
	AccountCode string
	UniqueID    string
	UserField   string
	LinkedID    string
	Sequence    int
	PeerAccount string
	// TalkSec is the talk time in seconds, the callee's answer to the end
	// of the bridge, as the dialplan measured it (CDR variable "talksec",
	// column cdr.talksec); nil when the row carries none. Billsec stays
	// Asterisk's own figure, counted from the caller leg's answer.
	TalkSec *int

	// RequestID is the callback request the row belongs to ("" if none):
	// taken from the userfield's ";wcb:<id>", else from uniqueid/linkedid.
	RequestID string
}

// Rules is the eligibility policy for a free service. Zero in a field turns
// that check off. The default (DefaultRules) is one connected call per
// caller number per day.
type Rules struct {
	CallerConnectedPerDay int            // calls that reached the callee, per caller per day
	CallerAttemptsPerDay  int            // requests of any outcome (but rejected), per caller per day
	CallerBillsecPerDay   int            // talk seconds per caller per day
	CallerBillsecLifetime int            // talk seconds per caller ever
	CallerCooldown        time.Duration  // minimum time between two requests of one caller
	CalleePerDay          int            // requests ringing one callee per day, from any caller
	CallerNoConfirmPerDay int            // requests the caller did not confirm (caller_no_confirm), per caller per day
	Location              *time.Location // where a "day" starts; nil = UTC
}

// Decision is the outcome of Admit.
type Decision struct {
	Allowed bool
	// Rule names the rule that refused ("caller_connected_per_day",
	// "callee_per_day", "blocked", ...); "" when allowed.
	Rule string
	// RetryAt is when the refused caller may try again; zero = never
	// (blocked) or unknown.
	RetryAt time.Time
}

// NumberStats is the per-number table (the original's skypecallback).
type NumberStats struct {
	Number        string     `json:"number"` // E.164
	Calls         int        `json:"calls"`
	Answered      int        `json:"answered"`
	Billsec       int        `json:"billsec"`
	LastCallAt    *time.Time `json:"last_call_at"`
	TodayCalls    int        `json:"today_calls"`
	TodayAnswered int        `json:"today_answered"`
	TodayBillsec  int        `json:"today_billsec"`
	Blocked       bool       `json:"blocked"`
	Allowed       bool       `json:"allowed"` // manual allow: bypasses every rule
}

// OverrideKind is a manual decision about a number.
type OverrideKind string

const (
	OverrideBlock OverrideKind = "block"
	OverrideAllow OverrideKind = "allow"
)

// Override is a manual block/allow entry.
type Override struct {
	Number    string       `json:"number"`
	Kind      OverrideKind `json:"kind"`
	Note      string       `json:"note"`
	By        string       `json:"by"`
	CreatedAt time.Time    `json:"created_at"`
}

// AuditEntry is one admin action.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // e.g. "admin@127.0.0.1"
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
	// Key makes the entry idempotent: a second AddAudit with the same
	// non-empty key adds nothing (a write replayed from the outage spool).
	Key string `json:"-"`
}

// RequestFilter selects requests; zero fields match all.
type RequestFilter struct {
	Number   string // caller or callee
	States   []callback.State
	From, To time.Time
	Limit    int
	Offset   int
}

// CDRFilter selects CDRs; zero fields match all.
type CDRFilter struct {
	Number      string // src, dst or clid contains
	Disposition string
	RequestID   string
	From, To    time.Time
	Limit       int
	Offset      int
}

// HourStats is one bucket of the dashboard charts.
type HourStats struct {
	Hour      time.Time      `json:"hour"`
	Requests  int            `json:"requests"`
	Connected int            `json:"connected"`
	Failed    int            `json:"failed"`
	Billsec   int            `json:"billsec"`
	ByReason  map[string]int `json:"by_reason"`
}
