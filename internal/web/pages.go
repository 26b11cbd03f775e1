package web

import (
	"bytes"
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"webcallback/internal/callback"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the server-rendered HTML pages.
type pages struct {
	index, call, admin *template.Template
	version            string // of the static assets, for cache busting
}

func loadPages() (*pages, error) {
	parse := func(name string) (*template.Template, error) {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		return t.Lookup(name), nil
	}
	p := &pages{version: assetVersion()}
	var err error
	if p.index, err = parse("index.html"); err != nil {
		return nil, err
	}
	if p.call, err = parse("call.html"); err != nil {
		return nil, err
	}
	if p.admin, err = parse("admin.html"); err != nil {
		return nil, err
	}
	return p, nil
}

// pageData is what every template sees.
type pageData struct {
	Lang, OtherLang string
	Title           string
	Sandbox         bool
	CSRF            string
	AssetVersion    string
	Script          string // the page's script under /static/
	Refresh         int    // seconds; the no-JS status page reloads itself
	LimitSeconds    int
	LimitText       string
	ServerNow       int64 // ms since the epoch, to correct the countdown for clock skew
	Dict            map[string]string

	// The form.
	Caller, Callee string
	Error          *apiError
	ErrorField     string // "caller", "callee" or ""
	RetryText      string

	// The status page.
	Req   *callback.Request
	Final bool
}

// T translates key for the template.
func (p *pageData) T(key string) string { return msg(p.Lang, key) }

func (s *server) newPageData(w http.ResponseWriter, r *http.Request) *pageData {
	lang := requestLang(r, s.cfg.DefaultLang)
	if l := normLang(r.URL.Query().Get("lang")); l != "" {
		// The switch: remember the choice for the next pages.
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: http.SameSiteLaxMode, HttpOnly: true, Secure: r.TLS != nil})
	}
	other := langEN
	if lang == langEN {
		other = langZH
	}
	limit := int(s.cfg.CallLimit / time.Second)
	return &pageData{
		Lang: lang, OtherLang: other, Title: msg(lang, "title"),
		Script: "app.js", Sandbox: s.deps.Sandbox, CSRF: s.csrf.Token(s.now()), AssetVersion: s.pages.version,
		LimitSeconds: limit, LimitText: fmt.Sprintf(msg(lang, "talk_limit"), formatDuration(lang, limit)),
		ServerNow: s.now().UnixMilli(), Dict: messages[lang],
	}
}

// formatDuration says "5 min" / "5 分钟" for whole minutes, else seconds.
func formatDuration(lang string, secs int) string {
	if secs%60 == 0 {
		if lang == langZH {
			return strconv.Itoa(secs/60) + " 分钟"
		}
		return strconv.Itoa(secs/60) + " min"
	}
	if lang == langZH {
		return strconv.Itoa(secs) + " 秒"
	}
	return strconv.Itoa(secs) + " s"
}

// render executes t into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, t *template.Template, d *pageData) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		s.log.Error("render page", "page", t.Name(), "err", err)
		http.Error(w, msg(d.Lang, "error.internal"), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", msg(d.Lang, "html.lang"))
	h.Add("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, s.pages.index, s.newPageData(w, r))
}

// maxFormBody bounds the no-JS form post.
const maxFormBody = 4 << 10

// handleFormCall is the no-JavaScript path: the form posts both numbers,
// the visitor is sent to the request's own page (303), or the form comes
// back with the reason it was refused.
func (s *server) handleFormCall(w http.ResponseWriter, r *http.Request) {
	d := s.newPageData(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		d.Error = newError(d.Lang, "bad_request")
		s.render(w, r, d.Error.Status, s.pages.index, d)
		return
	}
	d.Caller, d.Callee = r.PostForm.Get("caller"), r.PostForm.Get("callee")
	fail := func(e *apiError, field string) {
		d.Error, d.ErrorField = e, field
		if e.RetryAt != nil {
			d.RetryText = fmt.Sprintf(msg(d.Lang, "status.retry_at"), formatTime(d.Lang, *e.RetryAt))
		}
		s.render(w, r, e.Status, s.pages.index, d)
	}
	if !s.csrf.Valid(r.PostForm.Get("csrf"), s.now()) {
		fail(newError(d.Lang, "csrf"), "")
		return
	}
	req, err := s.submit(r, callInput{Caller: d.Caller, Callee: d.Callee, Lang: d.Lang,
		Honeypot: r.PostForm.Get("website"), PoW: r.PostForm.Get("pow"), Form: true})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			fail(ae, ae.Field)
			return
		}
		s.writeError(w, r, err)
		return
	}
	http.Redirect(w, r, "/call/"+req.ID, http.StatusSeeOther)
}

// formatTime shows a retry time in the service's local time.
func formatTime(lang string, t time.Time) string {
	t = t.Local()
	if time.Until(t) < 20*time.Hour {
		return t.Format("15:04")
	}
	if lang == langZH {
		return t.Format("1月2日 15:04")
	}
	return t.Format("Jan 2 15:04")
}

// handleCallPage renders one request's state: the no-JS status page (it
// reloads itself until the call ends) and, with JS, the start of its live
// view.
func (s *server) handleCallPage(w http.ResponseWriter, r *http.Request) {
	d := s.newPageData(w, r)
	id := r.PathValue("id")
	var req *callback.Request
	var err error
	if callback.ValidID(id) {
		req, err = s.svc.Get(r.Context(), id)
	} else {
		err = callback.ErrNotFound
	}
	if err != nil {
		var ae *apiError
		if !errors.As(s.lookupErr(d.Lang, err), &ae) {
			s.writeError(w, r, err)
			return
		}
		d.Error = ae
		s.render(w, r, ae.Status, s.pages.index, d)
		return
	}
	d.Req, d.Final = req, req.State.Final()
	d.Title = msg(d.Lang, "state."+string(req.State))
	if !d.Final {
		d.Refresh = 2
	}
	s.render(w, r, http.StatusOK, s.pages.call, d)
}

// handleFormCancel is the no-JS Cancel button.
func (s *server) handleFormCancel(w http.ResponseWriter, r *http.Request) {
	lang := requestLang(r, s.cfg.DefaultLang)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil || !s.csrf.Valid(r.PostForm.Get("csrf"), s.now()) {
		http.Error(w, msg(lang, "error.csrf"), http.StatusForbidden)
		return
	}
	id := r.PathValue("id")
	if _, err := s.cancel(r, id, callback.ReasonVisitor); err != nil {
		// Over already, or unknown: either way the request's page
		// (which says so) is the answer.
		var ae *apiError
		if !errors.As(err, &ae) || (ae.Code != "already_final" && ae.Code != "not_found") {
			s.writeError(w, r, err)
			return
		}
	}
	http.Redirect(w, r, "/call/"+id, http.StatusSeeOther)
}

func (s *server) handleAdminPage(w http.ResponseWriter, r *http.Request) {
	d := s.newPageData(w, r)
	d.Title, d.Script = msg(d.Lang, "admin.title"), "admin.js"
	s.render(w, r, http.StatusOK, s.pages.admin, d)
}

// staticHandler serves the embedded assets (files only, never a directory
// listing), gzipped once at start for the
// clients that accept it. URLs carry ?v=<hash of the assets>, so they may
// be cached for good.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	gz := gzipAssets(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		w.Header().Add("Vary", "Accept-Encoding")
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if fi, err := fs.Stat(sub, name); name == "" || err != nil || fi.IsDir() {
			// Files only: no directory listings (and no redirects to one).
			http.NotFound(w, r)
			return
		}
		if b, ok := gz[name]; ok && acceptsGzip(r) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
			return
		}
		files.ServeHTTP(w, r)
	})
}

// gzipAssets compresses every asset that gets smaller.
func gzipAssets(fsys fs.FS) map[string][]byte {
	out := map[string][]byte{}
	_ = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		if buf.Len() < len(raw) {
			out[name] = buf.Bytes()
		}
		return nil
	})
	return out
}

// acceptsGzip reads Accept-Encoding, honouring an explicit gzip;q=0.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" {
			return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
		}
	}
	return false
}
