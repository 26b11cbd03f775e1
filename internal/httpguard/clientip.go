package httpguard

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how much of X-Forwarded-For is read.
const maxForwardedHops = 16

// ClientIP is the address of the client: the socket's peer, unless the
// peer is a trusted proxy; then the right-most X-Forwarded-For entry that is
// not itself a trusted proxy. Entries left of it are whatever the client
// claimed and are never believed. With no trusted proxies configured the
// header is ignored entirely. IPv4-mapped IPv6 addresses are unmapped; the
// zero Addr means the peer address could not be read.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap().WithZone("")
	if !Trusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-maxForwardedHops; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: believe nothing further left
		}
		a = a.Unmap().WithZone("")
		if !Trusted(a, trusted) {
			return a
		}
		peer = a
	}
	return peer
}

// Trusted reports whether a is inside one of the prefixes.
func Trusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
