package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"webcallback/internal/callback"
)

// Rule names in Decision.Rule.
const (
	RuleBlocked               = "blocked"        // the caller is blocked by an admin
	RuleCalleeBlocked         = "callee_blocked" // the callee is blocked by an admin
	RuleCallerConnectedPerDay = "caller_connected_per_day"
	RuleCallerAttemptsPerDay  = "caller_attempts_per_day"
	RuleCallerBillsecPerDay   = "caller_billsec_per_day"
	RuleCallerBillsecLifetime = "caller_billsec_lifetime"
	RuleCallerCooldown        = "caller_cooldown"
	RuleCalleePerDay          = "callee_per_day"
	// RuleCallerNoConfirmPerDay: the caller number did not confirm (press
	// 1) that many calls today: most likely someone else's number typed in.
	RuleCallerNoConfirmPerDay = "caller_no_confirm_per_day"
	// RuleCalleeOptedOut: the callee is on the do-not-call list. It holds
	// whatever the rules, even with limits off or an admin's allow.
	RuleCalleeOptedOut = "callee_opted_out"
)

// DefaultRules is the safe default for a free service, and the default of
// serve's eligibility settings: one connected call per caller number per
// day, at most 5 requests per caller and 3 rings of one callee per day, one
// minute between two requests of a caller, two unconfirmed calls of a caller
// number per day, days in UTC (the service passes
// --timezone in Location).
func DefaultRules() Rules {
	return Rules{
		CallerConnectedPerDay: 1,
		CallerAttemptsPerDay:  5,
		CallerCooldown:        time.Minute,
		CalleePerDay:          3,
		CallerNoConfirmPerDay: 2,
		Location:              time.UTC,
	}
}

// dayBounds returns the start of now's day and of the next one in loc.
func dayBounds(now time.Time, loc *time.Location) (start, next time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 0, 1)
}

// dayKey is the per-number day bucket of t in loc: "2026-11-25".
func dayKey(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(time.DateOnly)
}

// decide runs the checks for r inside Admit's transaction (the numbers are
// locked): the manual overrides, then the quotas of the caller and of the
// callee (quotas, which counts them). When several rules refuse, the decision names the one that lasts longest
// (a lifetime cap, which never lifts, beats all).
func (s *DB) decide(ctx context.Context, tx *sql.Tx, r *callback.Request, rules *Rules, now time.Time) (Decision, error) {
	if dnc, err := s.onDoNotCallTx(ctx, tx, r.Callee); err != nil || dnc {
		return Decision{Rule: RuleCalleeOptedOut}, err
	}
	over := map[string]OverrideKind{}
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT number, kind FROM number_override WHERE number IN (?, ?)"), r.Caller, r.Callee)
	if err != nil {
		return Decision{}, fmt.Errorf("read overrides: %w", err)
	}
	for rows.Next() {
		var n, k string
		if err := rows.Scan(&n, &k); err != nil {
			rows.Close()
			return Decision{}, fmt.Errorf("read overrides: %w", err)
		}
		over[n] = OverrideKind(k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Decision{}, fmt.Errorf("read overrides: %w", err)
	}
	if over[r.Caller] == OverrideBlock {
		return Decision{Rule: RuleBlocked}, nil
	}
	if over[r.Callee] == OverrideBlock {
		return Decision{Rule: RuleCalleeBlocked}, nil
	}
	if rules == nil {
		return Decision{Allowed: true}, nil
	}
	var refusals []Decision
	for _, side := range []struct {
		number string
		callee bool
	}{{r.Caller, false}, {r.Callee, true}} {
		if over[side.number] == OverrideAllow {
			continue
		}
		qs, err := s.quotas(ctx, tx, side.number, side.callee, rules, now)
		if err != nil {
			return Decision{}, err
		}
		for _, q := range qs {
			if q.Refused {
				d := Decision{Rule: q.Rule}
				if q.ResetAt != nil {
					d.RetryAt = *q.ResetAt
				}
				refusals = append(refusals, d)
			}
		}
	}
	if len(refusals) == 0 {
		return Decision{Allowed: true}, nil
	}
	worst := refusals[0]
	for _, d := range refusals[1:] {
		if worst.RetryAt.IsZero() {
			break
		}
		if d.RetryAt.IsZero() || d.RetryAt.After(worst.RetryAt) {
			worst = d
		}
	}
	return worst, nil
}

// Quota is one eligibility rule as it stands for a number: what the
// operator reads to see why a number is refused, and what Admit decides by.
type Quota struct {
	Rule string `json:"rule"` // Rule* name
	// Used and Limit are counts (requests, connected calls), seconds of
	// talk (billsec rules), or for the cooldown the seconds since the
	// number's last request (-1 = none) and the cooldown.
	Used    int  `json:"used"`
	Limit   int  `json:"limit"`
	Refused bool `json:"refused"`
	// ResetAt is when the counter starts again (the next day in the
	// rules' zone; the end of the cooldown); nil = never (a lifetime cap).
	ResetAt *time.Time `json:"reset_at"`
}

// queryRower is what quotas reads through: Admit's transaction or the
// database.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Quotas is every rule of rules that applies to number, as a caller and as
// a callee, counted exactly as Admit counts them (manual block and allow
// are in NumberStats).
func (s *DB) Quotas(ctx context.Context, number string, rules *Rules, now time.Time) ([]Quota, error) {
	if rules == nil {
		return nil, nil
	}
	caller, err := s.quotas(ctx, s.db, number, false, rules, now)
	if err != nil {
		return nil, err
	}
	callee, err := s.quotas(ctx, s.db, number, true, rules, now)
	return append(caller, callee...), err
}

// quotas counts the rules of one side (caller or callee) for number.
// Counting, as the lead's design says:
//   - connected per day: the caller's requests created today that are not
//     final (they may still connect: reserved) or reached the callee
//     (connected_at set); failed and rejected ones do not count;
//   - attempts per day / callee per day: requests created today in any state
//     but rejected;
//   - no-confirm per day: requests created today that ended
//     caller_no_confirm;
//   - billsec per day / lifetime: the per-number table built from CDRs;
//   - cooldown: time since the caller's last request that was not rejected.
func (s *DB) quotas(ctx context.Context, q queryRower, number string, callee bool, rules *Rules, now time.Time) ([]Quota, error) {
	start, next := dayBounds(now, rules.Location)
	var out []Quota
	add := func(rule string, used, limit int, reset *time.Time) {
		out = append(out, Quota{Rule: rule, Used: used, Limit: limit, Refused: used >= limit, ResetAt: reset})
	}
	if callee {
		if rules.CalleePerDay > 0 {
			var n int
			err := q.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM callback_request
WHERE callee = ? AND created_ms >= ? AND created_ms < ? AND state <> 'rejected'`), number, ms(start), ms(next)).Scan(&n)
			if err != nil {
				return nil, fmt.Errorf("count callee requests: %w", err)
			}
			add(RuleCalleePerDay, n, rules.CalleePerDay, &next)
		}
		return out, nil
	}
	if rules.CallerConnectedPerDay > 0 || rules.CallerAttemptsPerDay > 0 {
		var attempts, reserved int
		err := q.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*),
  COALESCE(SUM(CASE WHEN state NOT IN `+finalStates+` OR connected_ms IS NOT NULL THEN 1 ELSE 0 END), 0)
FROM callback_request WHERE caller = ? AND created_ms >= ? AND created_ms < ? AND state <> 'rejected'`),
			number, ms(start), ms(next)).Scan(&attempts, &reserved)
		if err != nil {
			return nil, fmt.Errorf("count caller requests: %w", err)
		}
		if rules.CallerConnectedPerDay > 0 {
			add(RuleCallerConnectedPerDay, reserved, rules.CallerConnectedPerDay, &next)
		}
		if rules.CallerAttemptsPerDay > 0 {
			add(RuleCallerAttemptsPerDay, attempts, rules.CallerAttemptsPerDay, &next)
		}
	}
	if rules.CallerNoConfirmPerDay > 0 {
		var n int
		err := q.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM callback_request
WHERE caller = ? AND created_ms >= ? AND created_ms < ? AND reason = ?`), number, ms(start), ms(next), string(callback.ReasonCallerNoConfirm)).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("count unconfirmed calls: %w", err)
		}
		add(RuleCallerNoConfirmPerDay, n, rules.CallerNoConfirmPerDay, &next)
	}
	if rules.CallerCooldown > 0 {
		var last sql.NullInt64
		err := q.QueryRowContext(ctx, s.d.q(`SELECT MAX(created_ms) FROM callback_request
WHERE caller = ? AND created_ms > ? AND state <> 'rejected'`), number, ms(now.Add(-rules.CallerCooldown))).Scan(&last)
		if err != nil {
			return nil, fmt.Errorf("caller cooldown: %w", err)
		}
		cd := Quota{Rule: RuleCallerCooldown, Used: -1, Limit: int(rules.CallerCooldown / time.Second)}
		if last.Valid {
			until := fromMs(last.Int64).Add(rules.CallerCooldown)
			cd.Used, cd.Refused, cd.ResetAt = int(now.Sub(fromMs(last.Int64))/time.Second), now.Before(until), &until
		}
		out = append(out, cd)
	}
	if rules.CallerBillsecPerDay > 0 {
		var b int64
		err := q.QueryRowContext(ctx, s.d.q("SELECT COALESCE(SUM(billsec), 0) FROM number_daily WHERE number = ? AND day = ?"),
			number, dayKey(now, rules.Location)).Scan(&b)
		if err != nil {
			return nil, fmt.Errorf("caller billsec today: %w", err)
		}
		add(RuleCallerBillsecPerDay, int(b), rules.CallerBillsecPerDay, &next)
	}
	if rules.CallerBillsecLifetime > 0 {
		var b int64
		err := q.QueryRowContext(ctx, s.d.q("SELECT COALESCE(SUM(billsec), 0) FROM number_stats WHERE number = ?"), number).Scan(&b)
		if err != nil {
			return nil, fmt.Errorf("caller billsec lifetime: %w", err)
		}
		add(RuleCallerBillsecLifetime, int(b), rules.CallerBillsecLifetime, nil)
	}
	return out, nil
}
