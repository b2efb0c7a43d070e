// Package turncheck tests a STUN/TURN server from the client's side, the way
// a browser or VoIP client uses it: it reaches the server over the URL's
// transport, allocates a relay address, relays a datagram through it and back,
// and names the first thing that went wrong in plain words (a port that does
// not answer, a certificate for another name, credentials the server refuses,
// a clock that is off).
package turncheck

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Target is one ICE server URL (RFC 7064 / RFC 7065).
type Target struct {
	// Scheme is "stun", "turn" or "turns".
	Scheme string
	Host   string
	Port   int
	// Transport is "udp" or "tcp" ("tcp" for turns, TLS over TCP).
	Transport string
}

// String gives the URL back in the form browsers accept.
func (t Target) String() string {
	hp := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	if t.Scheme == "stun" {
		return "stun:" + hp
	}
	return t.Scheme + ":" + hp + "?transport=" + t.Transport
}

// Addr is host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// Label names the way the target is reached: udp, tcp or tls.
func (t Target) Label() string {
	if t.Scheme == "turns" {
		return "tls"
	}
	return t.Transport
}

// ParseURL reads stun:host[:port], turn:host[:port][?transport=udp|tcp] and
// turns:host[:port][?transport=tcp]. Default ports are 3478, and 5349 for
// turns; the default transport is udp, and tcp for turns.
func ParseURL(s string) (Target, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Target{}, fmt.Errorf("turncheck: %q: want stun:, turn: or turns: followed by host[:port]", s)
	}
	t := Target{Scheme: strings.ToLower(scheme), Transport: "udp", Port: 3478}
	switch t.Scheme {
	case "stun", "turn":
	case "turns":
		t.Transport, t.Port = "tcp", 5349
	default:
		return Target{}, fmt.Errorf("turncheck: %q: scheme %q is not stun, turn or turns", s, scheme)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	if query != "" {
		if t.Scheme == "stun" {
			return Target{}, fmt.Errorf("turncheck: %q: a stun: URL takes no query", s)
		}
		key, value, _ := strings.Cut(query, "=")
		if key != "transport" || (value != "udp" && value != "tcp") {
			return Target{}, fmt.Errorf("turncheck: %q: the only query is transport=udp or transport=tcp", s)
		}
		if t.Scheme == "turns" && value == "udp" {
			return Target{}, fmt.Errorf("turncheck: %q: turns: runs over TCP (DTLS is not supported)", s)
		}
		t.Transport = value
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return Target{}, fmt.Errorf("turncheck: %q: no host", s)
	}
	t.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("turncheck: %q: port %q is not 1-65535", s, port)
		}
		t.Port = n
	}
	return t, nil
}
