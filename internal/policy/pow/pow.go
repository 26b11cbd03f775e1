// Package pow is the built-in proof-of-work challenge of the public form: a
// browser must find a nonce such that SHA-256(seed ":" nonce) starts with
// Difficulty zero bits before its request is admitted. It costs a visitor a
// second of CPU once and a flood of requests that many seconds each, with no
// third-party CAPTCHA service.
//
// Challenges are stateless: the seed carries its difficulty and expiry and
// is signed with HMAC-SHA256 together with the source it was issued to (the
// client's /24 or /64), so any instance holding the key verifies it, and
// only from that source. Only spent seeds are remembered (each seed is good
// for one request), per source: each source has a small set of its own, so
// no client can fill a table others need. See Issuer.
//
// The browser side, for the web's script:
//
//	for (let n = 0; ; n++) {
//	  const h = new Uint8Array(await crypto.subtle.digest("SHA-256",
//	      new TextEncoder().encode(seed + ":" + n)));
//	  if (leadingZeroBits(h) >= difficulty) return seed + ":" + n;
//	}
//
// and the solution goes into the request as the "pow" field.
package pow

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Challenge is what the page needs to solve a proof of work.
type Challenge struct {
	// Required reports whether requests must carry a solution now; the page
	// may solve ahead of time either way.
	Required   bool      `json:"required"`
	Seed       string    `json:"seed"`
	Difficulty int       `json:"difficulty"` // leading zero bits of SHA-256(seed ":" nonce)
	ExpiresAt  time.Time `json:"expires_at"`
}

// Errors of Verify; all wrap ErrInvalid.
var (
	ErrInvalid  = errors.New("pow: invalid solution")
	ErrMissing  = fmt.Errorf("%w: missing", ErrInvalid)
	ErrExpired  = fmt.Errorf("%w: challenge expired", ErrInvalid)
	ErrSpent    = fmt.Errorf("%w: challenge already used", ErrInvalid)
	ErrTooEasy  = fmt.Errorf("%w: not enough work", ErrInvalid)
	ErrBusy     = fmt.Errorf("%w: too many solutions in flight from this network", ErrInvalid)
	ErrBadSeed  = fmt.Errorf("%w: bad or forged challenge", ErrInvalid)
	ErrBadNonce = fmt.Errorf("%w: bad nonce", ErrInvalid)
)

const (
	version       = 2 // 2: the MAC covers the source
	randLen       = 12
	macLen        = 16
	rawLen        = 1 + 1 + 8 + randLen + macLen
	maxNonce      = 32
	MaxDifficulty = 32 // beyond this nobody's browser finishes
)

// SeedLen is the length of an encoded seed.
var SeedLen = base64.RawURLEncoding.EncodedLen(rawLen)

// Issuer issues and verifies challenges. It is safe for concurrent use.
//
// Spent seeds are kept per source, at most perSource at once each (a
// source past that is refused, ErrBusy, until its seeds expire: only that
// source), for at most maxSources sources. When a new source arrives and
// every place is taken, the source seen least recently is forgotten: its
// unexpired seeds could then be spent once more, from that source only,
// and only after someone paid for maxSources other sources' solutions in
// between. Memory is bounded (about 24 bytes per seed); nobody's valid
// solution is ever refused for what other sources did.
type Issuer struct {
	key        []byte
	difficulty int
	ttl        time.Duration
	perSource  int
	maxSources int

	mu      sync.Mutex
	sources map[string]*list.Element // values are *sourceSeeds
	lru     list.List                // front = most recently used
	spent   int                      // seeds remembered, all sources
}

// sourceSeeds are one source's spent seeds, oldest first.
type sourceSeeds struct {
	source string
	seeds  []spentSeed
}

type spentSeed struct {
	mac     [macLen]byte // identifies the seed: unforgeable, unique
	expires int64        // Unix seconds
}

// Default bounds of the spent-seed sets.
const (
	DefaultPerSource  = 64
	DefaultMaxSources = 16384
)

// NewIssuer returns an Issuer signing with key (at least 16 bytes; a nil key
// makes a random one, good for one instance only). Seeds live ttl; each
// source has at most perSource solutions in flight (0 = DefaultPerSource),
// and at most maxSources sources are remembered (0 = DefaultMaxSources).
func NewIssuer(key []byte, difficulty int, ttl time.Duration, perSource, maxSources int) (*Issuer, error) {
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
	}
	if len(key) < 16 {
		return nil, errors.New("pow: key shorter than 16 bytes")
	}
	if difficulty < 0 || difficulty > MaxDifficulty {
		return nil, fmt.Errorf("pow: difficulty %d not in 0..%d", difficulty, MaxDifficulty)
	}
	if ttl <= 0 {
		return nil, errors.New("pow: ttl must be positive")
	}
	if perSource <= 0 {
		perSource = DefaultPerSource
	}
	if maxSources <= 0 {
		maxSources = DefaultMaxSources
	}
	return &Issuer{key: append([]byte(nil), key...), difficulty: difficulty, ttl: ttl, perSource: perSource,
		maxSources: maxSources, sources: map[string]*list.Element{}}, nil
}

// Difficulty returns the difficulty of new challenges.
func (i *Issuer) Difficulty() int { return i.difficulty }

// Issue returns a fresh challenge for source (the client's network, as
// the caller names it: "192.0.2.0/24"), Required false: the caller decides.
func (i *Issuer) Issue(source string, now time.Time) Challenge {
	exp := now.Add(i.ttl).Truncate(time.Second)
	raw := make([]byte, rawLen)
	raw[0] = version
	raw[1] = byte(i.difficulty)
	binary.BigEndian.PutUint64(raw[2:10], uint64(exp.Unix()))
	rand.Read(raw[10 : 10+randLen])
	copy(raw[10+randLen:], i.mac(raw[:10+randLen], source))
	return Challenge{Seed: base64.RawURLEncoding.EncodeToString(raw), Difficulty: i.difficulty, ExpiresAt: exp}
}

func (i *Issuer) mac(b []byte, source string) []byte {
	m := hmac.New(sha256.New, i.key)
	m.Write(b)
	m.Write([]byte{0})
	m.Write([]byte(source))
	return m.Sum(nil)[:macLen]
}

// Verify checks a solution "seed:nonce" sent from source at now and, if it
// is good, marks the seed spent. A seed issued to another source is
// ErrBadSeed.
func (i *Issuer) Verify(solution, source string, now time.Time) error {
	if solution == "" {
		return ErrMissing
	}
	seed, nonce, ok := strings.Cut(solution, ":")
	if !ok || len(seed) != SeedLen {
		return ErrBadSeed
	}
	if len(nonce) == 0 || len(nonce) > maxNonce || !alnum(nonce) {
		return ErrBadNonce
	}
	raw, err := base64.RawURLEncoding.DecodeString(seed)
	if err != nil || len(raw) != rawLen || raw[0] != version {
		return ErrBadSeed
	}
	if subtle.ConstantTimeCompare(raw[10+randLen:], i.mac(raw[:10+randLen], source)) != 1 {
		return ErrBadSeed
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(raw[2:10])), 0)
	if !now.Before(exp) {
		return ErrExpired
	}
	difficulty := int(raw[1])
	if difficulty < i.difficulty {
		// Issued before the difficulty was raised (or forged, which the MAC
		// already excludes): the current level applies.
		difficulty = i.difficulty
	}
	if LeadingZeroBits(hash(seed, nonce)) < difficulty {
		return ErrTooEasy
	}
	var id [macLen]byte
	copy(id[:], raw[10+randLen:])
	return i.spend(source, id, exp, now)
}

func (i *Issuer) spend(source string, id [macLen]byte, exp, now time.Time) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	ss := i.source(source)
	// Forget the source's expired seeds: they fail the expiry check anyway.
	n := 0
	for _, s := range ss.seeds {
		if now.Unix() < s.expires {
			ss.seeds[n] = s
			n++
		}
	}
	i.spent -= len(ss.seeds) - n
	ss.seeds = ss.seeds[:n]
	for _, s := range ss.seeds {
		if s.mac == id {
			return ErrSpent
		}
	}
	if len(ss.seeds) >= i.perSource {
		return ErrBusy
	}
	ss.seeds = append(ss.seeds, spentSeed{id, exp.Unix()})
	i.spent++
	return nil
}

// source finds or makes source's set, most recently used now, forgetting
// the least recently used source when every place is taken.
func (i *Issuer) source(source string) *sourceSeeds {
	if el, ok := i.sources[source]; ok {
		i.lru.MoveToFront(el)
		return el.Value.(*sourceSeeds)
	}
	if len(i.sources) >= i.maxSources {
		old := i.lru.Back()
		i.lru.Remove(old)
		gone := old.Value.(*sourceSeeds)
		delete(i.sources, gone.source)
		i.spent -= len(gone.seeds)
	}
	ss := &sourceSeeds{source: source}
	i.sources[source] = i.lru.PushFront(ss)
	return ss
}

// Spent returns how many solutions are remembered, and for how many
// sources.
func (i *Issuer) Spent() (seeds, sources int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.spent, len(i.sources)
}

func hash(seed, nonce string) [sha256.Size]byte {
	return sha256.Sum256([]byte(seed + ":" + nonce))
}

// LeadingZeroBits counts the zero bits at the start of h.
func LeadingZeroBits(h [sha256.Size]byte) int {
	n := 0
	for _, b := range h {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Solve finds a solution for c, as the browser does; for the CLI, the load
// tool and tests. It gives up when ctx is done.
func Solve(ctx context.Context, c Challenge) (string, error) {
	for n := uint64(0); ; n++ {
		if n&0xfff == 0 && ctx.Err() != nil {
			return "", fmt.Errorf("pow: solve: %w", ctx.Err())
		}
		nonce := strconv.FormatUint(n, 10)
		if LeadingZeroBits(hash(c.Seed, nonce)) >= c.Difficulty {
			return c.Seed + ":" + nonce, nil
		}
	}
}
