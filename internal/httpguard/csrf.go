package httpguard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// CSRF makes and checks stateless tokens for the forms that work without
// JavaScript: the token is its issue time signed with a key, put in a
// hidden field, so no cookie or server state is needed and a token cannot
// be forged or used past its TTL. Cross-site posts are refused before that
// by CrossOrigin; the token also covers old browsers that send neither
// Sec-Fetch-Site nor Origin.
type CSRF struct {
	key [32]byte
	ttl time.Duration
}

// NewCSRF returns a CSRF with a random key (tokens do not survive a
// restart; a form rendered before it asks the visitor to reload) and ttl
// (0 = 2 hours).
func NewCSRF(ttl time.Duration) (*CSRF, error) {
	c := &CSRF{ttl: ttl}
	if c.ttl <= 0 {
		c.ttl = 2 * time.Hour
	}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, errors.New("httpguard: csrf key: " + err.Error())
	}
	return c, nil
}

const csrfTSLen = 8

func (c *CSRF) sum(ts []byte) []byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte("webcallback-csrf\x00"))
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// Token returns a token issued at now.
func (c *CSRF) Token(now time.Time) string {
	b := make([]byte, csrfTSLen, csrfTSLen+16)
	binary.BigEndian.PutUint64(b, uint64(now.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(b, c.sum(b)...))
}

// Valid reports whether tok was issued by c no longer than the TTL before
// now (and not more than a minute in the future: clock steps).
func (c *CSRF) Valid(tok string, now time.Time) bool {
	if len(tok) != base64.RawURLEncoding.EncodedLen(csrfTSLen+16) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != csrfTSLen+16 {
		return false
	}
	if !hmac.Equal(b[csrfTSLen:], c.sum(b[:csrfTSLen])) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:csrfTSLen])), 0)
	return !now.Before(issued.Add(-time.Minute)) && now.Sub(issued) <= c.ttl
}

// CrossOrigin refuses (403) state-changing requests that a browser marks as
// cross-site, by Sec-Fetch-Site or, failing that, an Origin that does not
// match Host (net/http's CrossOriginProtection). Requests without either
// header (curl, scripts) pass: they carry no ambient credentials of a
// visitor, and the form's CSRF token or the JSON content type still apply.
func CrossOrigin(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return p.Handler(next)
}
