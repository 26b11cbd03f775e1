package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/policy"
)

// apiError is the one error body of the API (docs/design.md §6):
// {"error":{"code":"...","message":"..."}}, message in the visitor's
// language. retry_at is set when the visitor may try again later.
type apiError struct {
	Status  int        `json:"-"`
	Code    string     `json:"code"`
	Message string     `json:"message"`
	RetryAt *time.Time `json:"retry_at,omitempty"`
	// RetryAfter is the Retry-After header, as the refusing layer computed
	// it on its own clock (so header and retry_at never disagree).
	RetryAfter time.Duration `json:"-"`
	// Field is the input at fault ("caller", "callee", "pow"), if any.
	Field string `json:"field,omitempty"`
	// Rule is the eligibility rule behind a not_eligible refusal
	// ("caller_cooldown", "callee_per_day", ...), if any.
	Rule string `json:"rule,omitempty"`
	// Challenge is the proof of work to solve before trying again.
	Challenge *policy.Challenge `json:"challenge,omitempty"`
}

func (e *apiError) Error() string { return e.Code }

// errorStatus is the HTTP status of each error code; codes not listed are 400.
var errorStatus = map[string]int{
	string(callback.ReasonInvalidNumber):         http.StatusBadRequest,
	string(callback.ReasonSameNumber):            http.StatusBadRequest,
	string(callback.ReasonDestinationNotAllowed): http.StatusBadRequest,
	string(callback.ReasonNotEligible):           http.StatusForbidden,
	string(callback.ReasonCalleeOptedOut):        http.StatusForbidden,
	string(callback.ReasonRateLimited):           http.StatusTooManyRequests,
	string(callback.ReasonSystemBusy):            http.StatusServiceUnavailable,
	"caller_required":                            http.StatusBadRequest,
	"callee_required":                            http.StatusBadRequest,
	"bad_request":                                http.StatusBadRequest,
	"body_too_large":                             http.StatusRequestEntityTooLarge,
	"unsupported_media_type":                     http.StatusUnsupportedMediaType,
	"not_found":                                  http.StatusNotFound,
	"already_final":                              http.StatusConflict,
	"csrf":                                       http.StatusForbidden,
	"unauthorized":                               http.StatusUnauthorized,
	"admin_disabled":                             http.StatusNotFound,
	"too_many_streams":                           http.StatusServiceUnavailable,
	"method_not_allowed":                         http.StatusMethodNotAllowed,
	"unavailable":                                http.StatusNotImplemented,
	"internal":                                   http.StatusInternalServerError,
}

// newError builds the error for code in lang.
func newError(lang, code string) *apiError {
	st, ok := errorStatus[code]
	if !ok {
		st = http.StatusBadRequest
	}
	return &apiError{Status: st, Code: code, Message: msg(lang, "error."+code)}
}

// writeError writes err as an API error body. Errors that are not an
// *apiError are internal: logged with their context, shown as "internal".
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = newError(requestLang(r, s.cfg.DefaultLang), "internal")
	}
	if ae.RetryAfter > 0 {
		secs := int((ae.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeJSON(w, ae.Status, struct {
		Error *apiError `json:"error"`
	}{ae})
}

// writeJSON writes v with status. Encoding our own types cannot fail in a
// way the client could be told about, so the error is dropped.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
