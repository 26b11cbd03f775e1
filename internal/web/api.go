package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"webcallback/internal/callback"
)

// maxJSONBody bounds a JSON request body: two phone numbers and a few
// small fields fit in far less.
const maxJSONBody = 8 << 10

// createBody is POST /api/v1/callbacks. Website and PoW are the abuse
// guard's fields: a honeypot field that people leave empty and the answer
// to the proof-of-work challenge when one is demanded.
type createBody struct {
	Caller  string `json:"caller"`
	Callee  string `json:"callee"`
	Lang    string `json:"lang"`
	Website string `json:"website"`
	PoW     string `json:"pow"`
}

// decodeJSON reads a bounded JSON body of Content-Type application/json
// into v. Requiring the content type also keeps other sites' plain forms
// out: a cross-site JSON POST needs a CORS preflight, which we never grant.
func decodeJSON(w http.ResponseWriter, r *http.Request, lang string, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return newError(lang, "unsupported_media_type")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newError(lang, "body_too_large")
		}
		return newError(lang, "bad_request")
	}
	if _, err := dec.Token(); err != io.EOF {
		return newError(lang, "bad_request") // trailing data
	}
	return nil
}

// handleCreate is POST /api/v1/callbacks: admit by policy, then hand to the
// engine.
func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) {
	lang := requestLang(r, s.cfg.DefaultLang)
	var b createBody
	if err := decodeJSON(w, r, lang, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if l := normLang(b.Lang); l != "" {
		lang = l
	}
	req, err := s.submit(r, callInput{Caller: b.Caller, Callee: b.Callee, Lang: lang, Honeypot: b.Website, PoW: b.PoW})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/callbacks/"+req.ID)
	writeJSON(w, http.StatusCreated, s.view(req))
}

// lookup maps the engine's errors on a request id to API errors.
func (s *server) lookupErr(lang string, err error) error {
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return newError(lang, "not_found")
	case errors.Is(err, callback.ErrFinal):
		return newError(lang, "already_final")
	}
	return err
}

func (s *server) handleGet(w http.ResponseWriter, r *http.Request) {
	lang := requestLang(r, s.cfg.DefaultLang)
	id := r.PathValue("id")
	if !callback.ValidID(id) {
		s.writeError(w, r, newError(lang, "not_found"))
		return
	}
	req, err := s.svc.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, s.lookupErr(lang, err))
		return
	}
	writeJSON(w, http.StatusOK, s.view(req))
}

// handleCancel is DELETE /api/v1/callbacks/{id}: the visitor's Cancel. The
// unguessable id is the capability, as for reading the request.
func (s *server) handleCancel(w http.ResponseWriter, r *http.Request) {
	req, err := s.cancel(r, r.PathValue("id"), callback.ReasonVisitor)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(req))
}

// cancel ends a request and returns its state afterwards.
func (s *server) cancel(r *http.Request, id string, by callback.Reason) (*callback.Request, error) {
	lang := requestLang(r, s.cfg.DefaultLang)
	if !callback.ValidID(id) {
		return nil, newError(lang, "not_found")
	}
	if err := s.svc.Cancel(r.Context(), id, by); err != nil {
		return nil, s.lookupErr(lang, err)
	}
	req, err := s.svc.Get(r.Context(), id)
	if err != nil {
		return nil, s.lookupErr(lang, err)
	}
	return req, nil
}

// handleEvents is GET /api/v1/callbacks/{id}/events: the request object
// (as GET returns it) once now and once per transition. The event id is the
// number of transitions so far, so a reconnecting EventSource (which sends
// Last-Event-ID) gets only what it missed. Transitions are named "state";
// the final one is named "final" and ends the stream.
func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	lang := requestLang(r, s.cfg.DefaultLang)
	id := r.PathValue("id")
	if !callback.ValidID(id) {
		s.writeError(w, r, newError(lang, "not_found"))
		return
	}
	release := s.acquireStream(w, r)
	if release == nil {
		return
	}
	defer release()
	updates, stop, err := s.svc.Watch(r.Context(), id)
	if err != nil {
		s.writeError(w, r, s.lookupErr(lang, err))
		return
	}
	defer stop()
	sw, err := startSSE(w, r)
	if err != nil {
		return
	}
	last := lastEventID(r)
	pump(r, sw, updates, func(req *callback.Request) bool {
		seq := len(req.History)
		final := req.State.Final()
		// Skip what the client has, but always deliver the final
		// event: it tells the client to stop reconnecting.
		if seq <= last && !final {
			return true
		}
		data, err := json.Marshal(s.view(req))
		if err != nil {
			s.log.Error("sse: encode request", "id", id, "err", err)
			return false
		}
		name := "state"
		if final {
			name = "final"
		}
		return sw.event(strconv.Itoa(seq), name, data) == nil && !final
	})
}
