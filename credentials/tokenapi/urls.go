package tokenapi

import (
	"cmp"
	"slices"
	"strconv"
)

// relayURL is one STUN or TURN URI advertised to clients.
type relayURL struct {
	uri  string
	turn bool // needs the TURN username and credential
}

// standardPort is where each scheme listens by default (RFC 7064/7065);
// it is listed before any other port of the same kind, as Twilio does.
func standardPort(scheme string) int {
	if scheme == "turns" {
		return 5349
	}
	return 3478
}

// httpsPort is the TCP port firewalls leave open.
const httpsPort = 443

// relayURLs lists the URIs of the running listeners (stun: on hosts.stun,
// turn: and turns: on hosts.turn), in Twilio's
// order: stun, turn over UDP, turn over TCP, then turns; within each kind the
// standard port first, then the others ascending, and 443 always last (so
// turn:…:3479?transport=tcp before turn:…:443?transport=tcp). Every UDP listener also answers STUN Binding requests, so each
// gets a stun URI; STUN over TCP has no URI form (RFC 7064) and is skipped.
func relayURLs(hosts hostPair, listeners []Listener) []relayURL {
	type entry struct {
		kind, port int
		url        relayURL
	}
	var entries []entry
	seen := make(map[string]bool)
	add := func(kind, port int, scheme string, u relayURL) {
		if seen[u.uri] {
			return
		}
		seen[u.uri] = true
		rank := port
		switch port {
		case standardPort(scheme):
			rank = -1
		case httpsPort:
			// 443 is the firewall fallback: last of its kind, as Twilio
			// lists turn:…:443?transport=tcp after the plain TCP URI,
			// whatever port that one is on.
			rank = 1 << 17
		}
		entries = append(entries, entry{kind: kind, port: rank, url: u})
	}
	for _, l := range listeners {
		if l.Port <= 0 || l.Port > 65535 || (l.Transport != "udp" && l.Transport != "tcp") {
			continue
		}
		port := ":" + strconv.Itoa(l.Port)
		hostPort := hosts.turn + port
		if l.Transport == "udp" && (l.Scheme == "stun" || l.Scheme == "turn") {
			add(0, l.Port, "stun", relayURL{uri: "stun:" + hosts.stun + port})
		}
		switch {
		case l.Scheme == "turn" && l.Transport == "udp":
			add(1, l.Port, "turn", relayURL{uri: "turn:" + hostPort + "?transport=udp", turn: true})
		case l.Scheme == "turn" && l.Transport == "tcp":
			add(2, l.Port, "turn", relayURL{uri: "turn:" + hostPort + "?transport=tcp", turn: true})
		case l.Scheme == "turns":
			add(3, l.Port, "turns", relayURL{uri: "turns:" + hostPort + "?transport=" + l.Transport, turn: true})
		}
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.port, b.port))
	})
	out := make([]relayURL, len(entries))
	for i, e := range entries {
		out[i] = e.url
	}
	return out
}
