package web

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"webcallback/internal/callback"
	"webcallback/internal/httpguard"
	"webcallback/internal/policy"
)

// callInput is one visitor's request, from the JSON API or the form.
type callInput struct {
	Caller, Callee string
	Lang           string
	Honeypot, PoW  string
	Form           bool // from the no-JS form (for the metrics label only)
}

// refusalError is the API error of a policy refusal, with the input at
// fault (so the page shows the message next to it), the retry time and the
// proof-of-work challenge when one is demanded.
func refusalError(lang string, ref *policy.Refusal) *apiError {
	e := newError(lang, string(ref.Code))
	e.Message = refusalMessage(lang, string(ref.Code), ref.Rule, ref.Field)
	e.Rule = ref.Rule
	if !ref.RetryAt.IsZero() {
		t := ref.RetryAt
		e.RetryAt = &t
	}
	e.RetryAfter = ref.RetryAfter
	e.Field = ref.Field
	e.Challenge = ref.Challenge
	return e
}

// refusalMessage is the most precise text there is for a refusal: the
// rule's own ("error.not_eligible.caller_cooldown"), else the one naming the
// number at fault ("error.rate_limited.callee"), else the code's.
func refusalMessage(lang, code, rule, field string) string {
	for _, k := range []string{rule, field} {
		if k == "" {
			continue
		}
		if _, ok := messages[lang]["error."+code+"."+k]; ok {
			return msg(lang, "error."+code+"."+k)
		}
	}
	return msg(lang, "error."+code)
}

// submit admits in through the policy guard and hands the request to the
// engine. Every refusal comes back as an *apiError in the visitor's
// language; other errors are internal.
func (s *server) submit(r *http.Request, in callInput) (*callback.Request, error) {
	req, e := s.admit(r, in)
	outcome := "accepted"
	if e != nil {
		outcome = "error"
		var ae *apiError
		if errors.As(e, &ae) {
			outcome = ae.Code
		}
	}
	s.metrics.submissions.WithLabelValues(outcome).Inc()
	return req, e
}

func (s *server) admit(r *http.Request, in callInput) (*callback.Request, error) {
	lang := normLang(in.Lang)
	in.Caller, in.Callee = strings.TrimSpace(in.Caller), strings.TrimSpace(in.Callee)
	switch {
	case in.Caller == "":
		e := newError(lang, "caller_required")
		e.Field = "caller"
		return nil, e
	case in.Callee == "":
		e := newError(lang, "callee_required")
		e.Field = "callee"
		return nil, e
	case s.guard == nil:
		return nil, newError(lang, "unavailable")
	}
	req, ref, err := s.guard.Admit(r.Context(), policy.Input{
		Caller: in.Caller, Callee: in.Callee, ClientIP: s.clientIP(r), Lang: lang,
		Honeypot: in.Honeypot, PoW: in.PoW,
	})
	switch {
	case err != nil:
		// The store is down: the visitor can only try later.
		s.log.Error("admit failed", "err", err)
		return nil, newError(lang, string(callback.ReasonSystemBusy))
	case ref != nil:
		s.refused.AddDetail(string(ref.Code), ref.Detail)
		return nil, refusalError(lang, ref)
	}
	if err := s.svc.Submit(r.Context(), req); err != nil {
		if errors.Is(err, callback.ErrSystemBusy) {
			return nil, newError(lang, string(callback.ReasonSystemBusy))
		}
		s.log.Error("submit failed", "id", req.ID, "err", err)
		return nil, newError(lang, string(callback.ReasonSystemBusy))
	}
	return req.Clone(), nil
}

// clientIP is the visitor's address: the socket's peer, or the
// X-Forwarded-For entry a trusted proxy appended.
func (s *server) clientIP(r *http.Request) netip.Addr {
	return httpguard.ClientIP(r, s.cfg.TrustedProxies)
}
