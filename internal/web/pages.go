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

	// The admin page: whether an admin token is set, and the service's
	// time zone every admin table and chart shows.
	AdminOn      bool
	TimeZone     string
	Dispositions []string // the CDR search's choices

	// The status page (and the live view's empty frame on the form page).
	Req         *requestView
	Final       bool
	Connected   bool
	Outcome     string // outcome.Kind
	StateText   string
	OutcomeText string
	TalkText    string
	Steps       []stepView
}

// setRequest fills the status part of the page for req.
func (p *pageData) setRequest(v requestView) {
	o := present(v)
	p.Req, p.Final, p.Connected = &v, v.State.Final(), v.State == callback.StateConnected
	p.Outcome, p.Steps, p.StateText = o.Kind, o.Steps, p.T(o.StateKey)
	p.Title = p.StateText
	if o.ReasonKey != "" && p.Final {
		p.OutcomeText = p.T(o.ReasonKey)
	}
	p.TalkText = talkText(p.Lang, v)
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
	limit := s.limitSeconds()
	return &pageData{
		Steps: present(requestView{Request: &callback.Request{}}).Steps,
		Lang:  lang, OtherLang: other, Title: msg(lang, "title"),
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
			d.RetryText = retryText(d.Lang, e.RetryAfter, *e.RetryAt)
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

// retryText says when a refused visitor may try again, in words and as a
// clock time of the service's zone: "You can try again in 34 minutes (at
// 14:05)." The page's script says the same from the same texts and adds a
// live countdown.
func retryText(lang string, wait time.Duration, at time.Time) string {
	at = at.Local()
	clock := at.Format("15:04")
	if wait >= 20*time.Hour {
		clock = at.Format(map[string]string{langZH: "1月2日 15:04", langEN: "Jan 2 15:04"}[lang])
	}
	return fmt.Sprintf(msg(lang, "retry.in"), durationWords(lang, wait), clock)
}

// durationWords says a wait the way people do, rounded up: "45 seconds",
// "34 minutes", "2 hours 5 minutes" (and the same in zh).
func durationWords(lang string, d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	unit := func(n int, one, many string) string {
		k := many
		if n == 1 {
			k = one
		}
		return fmt.Sprintf(msg(lang, k), n)
	}
	switch {
	case secs < 60:
		return unit(max(secs, 1), "dur.second", "dur.seconds")
	case secs < 3600:
		return unit((secs+59)/60, "dur.minute", "dur.minutes")
	}
	h, m := secs/3600, (secs%3600+59)/60
	if m == 60 {
		h, m = h+1, 0
	}
	if m == 0 {
		return unit(h, "dur.hour", "dur.hours")
	}
	return unit(h, "dur.hour", "dur.hours") + msg(lang, "dur.sep") + unit(m, "dur.minute", "dur.minutes")
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
	d.setRequest(s.view(req))
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
	d.AdminOn, d.TimeZone = s.cfg.AdminToken != "", s.cfg.Location.String()
	d.Dispositions = cdrDispositions
	if !d.AdminOn {
		d.Script = "" // nothing to sign in to: the page says how to turn it on
	}
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
