package web

import (
	"net/http"
	"time"

	"webcallback/internal/httpguard"
)

// guardHTTP wraps every route: the strict CSP and security headers, and
// refusal of cross-site state-changing requests.
func (s *server) guardHTTP(h http.Handler) http.Handler {
	return httpguard.SecurityHeaders(httpguard.CrossOrigin(h))
}

// newAdminAuth is the admin bearer-token check (failed attempts limited
// per address, state-changing requests audited into the store), answering
// in the API's error format.
func (s *server) newAdminAuth() *httpguard.AdminAuth {
	cfg := httpguard.AdminConfig{
		Token: s.cfg.AdminToken, Trusted: s.cfg.TrustedProxies, Logger: s.deps.Logger, Now: s.now, Refusals: s.refused, // it names its component
		Deny: func(w http.ResponseWriter, r *http.Request, status int, code string, retryAfter time.Duration) {
			e := newError(requestLang(r, s.cfg.DefaultLang), code)
			e.Status = status
			if retryAfter > 0 {
				t := s.now().Add(retryAfter)
				e.RetryAt, e.RetryAfter = &t, retryAfter
			}
			s.writeError(w, r, e)
		},
	}
	if s.st != nil {
		cfg.Audit = s.st
	}
	return httpguard.NewAdminAuth(cfg)
}
