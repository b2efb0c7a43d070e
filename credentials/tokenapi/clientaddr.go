package tokenapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how much of a forwarding header is read, so a
// hostile header costs nothing to walk.
const maxForwardedHops = 16

// clientAddr is the address the failed-auth limiter and the log charge a
// request to. It is the TCP peer unless the peer is a configured trusted
// proxy: then the proxies' Forwarded (RFC 7239) or X-Forwarded-For header is
// read from the right, skipping further trusted proxies, and the first
// address not trusted is the client. Without trusted proxies the headers
// are ignored: anyone can send them.
func (a *API) clientAddr(r *http.Request) string {
	peer := r.RemoteAddr
	if len(a.cfg.TrustedProxies) == 0 {
		return peer
	}
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !a.trusted(ip) {
		return peer
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-maxForwardedHops; i-- {
		hop, err := netip.ParseAddr(hops[i])
		if err != nil {
			// A hop we cannot read ends what we can believe; charge the
			// last proxy that wrote it.
			return peer
		}
		if !a.trusted(hop) {
			return hop.Unmap().String()
		}
		peer = hop.String()
	}
	return peer
}

func (a *API) trusted(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor lists the for= addresses of every Forwarded header, or, when
// there is none, the X-Forwarded-For entries, oldest first. Ports, quotes
// and brackets are stripped; obfuscated identifiers stay as they are and
// fail to parse.
func forwardedFor(h http.Header) []string {
	var out []string
	if fwd := h.Values("Forwarded"); len(fwd) > 0 {
		for _, line := range fwd {
			for _, elem := range strings.Split(line, ",") {
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						out = append(out, stripHostPort(strings.Trim(v, `"`)))
					}
				}
			}
		}
		return out
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, v := range strings.Split(line, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, stripHostPort(v))
			}
		}
	}
	return out
}

// stripHostPort turns "1.2.3.4:80", "[2001:db8::1]:80" and "[2001:db8::1]"
// into the bare address.
func stripHostPort(v string) string {
	if h, _, err := net.SplitHostPort(v); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
}
