package httpguard

import (
	"net"
	"net/netip"
	"sync"
)

// ConnLimits bound the open connections of a listener: PerIP from one
// peer address, Total from everyone. Zero means no bound.
//
// When Total is reached, an address holding fewer than newcomerConns
// connections is still let in, up to Total plus a headroom of Total/8: a
// few hosts filling the total do not lock out a visitor (or the load
// balancer's /healthz) arriving now; only very many addresses, each a few
// connections, can use the headroom up.
type ConnLimits struct {
	PerIP, Total int
	// Proxies are the trusted reverse proxies (--trusted-proxies): every
	// visitor behind one arrives from its address, so they are bounded
	// by Total only.
	Proxies []netip.Prefix
}

// newcomerConns is how many connections an address may hold and still
// use the headroom over the total.
const newcomerConns = 2

// Default connection bounds: a household or an office behind one NAT opens
// a few connections per browser; the total, with its headroom, stays
// below the file descriptors a service gets (each connection is one; a
// limit of 20,000 is common) and bounds memory: a connection held open
// costs the server about 40 KB (measured with bench/hold), 8,192 of them
// about 350 MB.
const (
	DefaultMaxConnsPerIP = 256
	DefaultMaxConns      = 8192
)

// Refusal kinds counted by LimitListener: "conns_" and the bound.
const (
	RefusedConnsPerIP = "conns_per_ip"
	RefusedConnsTotal = "conns_total"
)

// LimitListener returns l with lim applied at accept: a connection over a
// bound is closed at once, before any byte is read (no TLS, no HTTP, no
// goroutine), and counted in refusals (nil = not counted). The peer is the
// socket's address; trusted proxies (lim.Proxies) count in the total only.
func LimitListener(l net.Listener, lim ConnLimits, refusals *Refusals) *ConnLimiter {
	open := NewAddrLimit(lim.Total, lim.PerIP, true)
	open.exempt = lim.Proxies
	return &ConnLimiter{Listener: l, refusals: refusals, open: open}
}

// ConnLimiter is a net.Listener enforcing ConnLimits.
type ConnLimiter struct {
	net.Listener
	refusals *Refusals
	open     *AddrLimit
}

// Accept returns the next connection within the bounds.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerAddr(c)
		if why := l.open.Acquire(ip); why != "" {
			// Counted before the close, so whoever sees the reset sees
			// the count too.
			l.refusals.Add("conns_" + why)
			// Linger 0: a reset, so the refused socket leaves no TIME_WAIT
			// behind on our side.
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.open.Release(ip) }}, nil
	}
}

// Open returns the connections open now, in total and from ip.
func (l *ConnLimiter) Open(ip netip.Addr) (total, fromIP int) { return l.open.Open(ip) }

// AddrLimit counts things held per client address (connections, streams)
// against a total and a per-address bound. With newcomers, an address
// holding fewer than newcomerConns may go past the total by a headroom of
// Total/8 (see ConnLimits). Zero bounds are off. Safe for concurrent use.
type AddrLimit struct {
	total, perIP int
	newcomers    bool
	exempt       []netip.Prefix // addresses with no per-address bound

	mu   sync.Mutex
	n    int
	byIP map[netip.Addr]int
}

// NewAddrLimit returns an AddrLimit of total and perIP.
func NewAddrLimit(total, perIP int, newcomers bool) *AddrLimit {
	return &AddrLimit{total: total, perIP: perIP, newcomers: newcomers, byIP: map[netip.Addr]int{}}
}

// Acquire takes a place for ip, or says which bound refuses it: "total"
// or "per_ip".
func (l *AddrLimit) Acquire(ip netip.Addr) (refusedBy string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.total; t > 0 && l.n >= t {
		if !l.newcomers || l.byIP[ip] >= newcomerConns || l.n >= t+t/8 {
			return "total"
		}
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP && !Trusted(ip, l.exempt) {
		return "per_ip"
	}
	l.n++
	l.byIP[ip]++
	return ""
}

// Release gives back a place Acquire took for ip.
func (l *AddrLimit) Release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// Open returns the places held, in total and by ip.
func (l *AddrLimit) Open(ip netip.Addr) (total, byIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.byIP[ip]
}

// peerAddr is the connection's remote address, unmapped; the zero Addr
// (one shared bucket) when it is not an IP socket.
func peerAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}

// limitedConn gives its place back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
