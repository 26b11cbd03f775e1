package web

import (
	"fmt"
	"net/http"
	"time"
)

// The do-not-call list in the admin API (issue 15, consent): the numbers
// whose owner pressed 9 in the callee's announcement. GET lists them (JSON,
// or CSV with format=csv); DELETE removes one, after which requests to it
// are admitted again. Admin writes are audited by httpguard.AdminAuth.

var doNotCallColumns = []string{"number", "request_id", "created_at"}

func (s *server) handleAdminDoNotCall(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	q := s.newQuery(r)
	limit, offset := q.int("limit", defaultPage, 1, maxPage), q.int("offset", 0, 0, maxOffset)
	csvOut := s.wantCSV(q)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if csvOut {
		writeCSV(w, "do-not-call.csv", doNotCallColumns, func(emit func([]string) error) error {
			for off := 0; off < maxExportRows; {
				rows, err := s.st.ListDoNotCall(r.Context(), maxPage, off)
				if err != nil {
					return fmt.Errorf("list do-not-call: %w", err)
				}
				for _, e := range rows {
					if err := emit([]string{e.Number, e.RequestID, e.CreatedAt.UTC().Format(time.RFC3339)}); err != nil {
						return err
					}
				}
				if len(rows) < maxPage {
					return nil
				}
				off += len(rows)
			}
			return nil
		}, s)
		return
	}
	rows, err := s.st.ListDoNotCall(r.Context(), limit, offset)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list do-not-call: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"do_not_call": nonNil(rows), "limit": limit, "offset": offset})
}

func (s *server) handleAdminDeleteDoNotCall(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w, r) {
		return
	}
	num, err := s.pathNumber(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.st.DeleteDoNotCall(r.Context(), num); err != nil && !isNotFound(err) {
		s.writeError(w, r, fmt.Errorf("delete do-not-call %s: %w", num, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
