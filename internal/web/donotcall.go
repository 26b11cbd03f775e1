package web

import (
	"context"
	"net/http"

	"webcallback/internal/store"
)

// The do-not-call list in the admin API (issue 15, consent): the numbers
// whose owner pressed 9 in the callee's announcement. GET lists them (JSON,
// or CSV with format=csv); DELETE removes one, after which requests to it
// are admitted again. Admin writes are audited by httpguard.AdminAuth.

func (s *server) handleAdminDoNotCall(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	servePaged(s, w, r, "do_not_call", "do-not-call.csv", store.DoNotCallCSVColumns, s.st.ListDoNotCall, store.DoNotCallCSVRow)
}

func (s *server) handleAdminDeleteDoNotCall(w http.ResponseWriter, r *http.Request) {
	s.deleteNumber(w, r, "do-not-call", func(st Store) func(context.Context, string) error { return st.DeleteDoNotCall })
}
