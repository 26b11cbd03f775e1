package web

import (
	"context"
	"fmt"
	"net/http"

	"webcallback/internal/nodes"
)

// Nodes is the Asterisk nodes the service places calls on
// ([*nodes.Pool]): their state for the admin API, /readyz and the admin
// page, and the drain, stored in the database so that every instance
// honours it.
type Nodes interface {
	Status(ctx context.Context) []nodes.Status
	Drain(ctx context.Context, node string, on bool) error
}

// handleAdminNodes is GET /api/v1/admin/nodes: every node with its state
// (up, down, draining), live calls and caps.
func (s *server) handleAdminNodes(w http.ResponseWriter, r *http.Request) {
	if s.deps.Nodes == nil {
		writeJSON(w, http.StatusOK, map[string]any{"nodes": []nodes.Status{}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": s.deps.Nodes.Status(r.Context())})
}

// handleAdminDrain is POST (drain) and DELETE (end the drain) of
// /api/v1/admin/nodes/{node}/drain; audited like every admin change. A
// drained node finishes its live calls and gets no new ones.
func (s *server) handleAdminDrain(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("node")
	if s.deps.Nodes == nil {
		s.writeError(w, r, newError(requestLang(r, s.cfg.DefaultLang), "not_found"))
		return
	}
	if err := s.deps.Nodes.Drain(r.Context(), node, r.Method == http.MethodPost); err != nil {
		s.writeError(w, r, fmt.Errorf("drain of node %q: %w", node, err))
		return
	}
	for _, n := range s.deps.Nodes.Status(r.Context()) {
		if n.Node == node {
			writeJSON(w, http.StatusOK, n)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// readyNodes is the per-node part of /readyz's body: one line per node.
func (s *server) readyNodes(ctx context.Context) string {
	if s.deps.Nodes == nil {
		return ""
	}
	var b []byte
	for _, n := range s.deps.Nodes.Status(ctx) {
		b = fmt.Appendf(b, "node %s %s live_calls=%d\n", n.Node, n.State, n.Live)
	}
	return string(b)
}
