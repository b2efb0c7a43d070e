package relay

// The listener rules in one place: which TURN listeners a configuration
// asks for, as a pure function, so the relay binds exactly what an API-only
// node (cmd/turnkey) advertises for the relays it fronts. New plans, then
// binds each planned port on every listen address.

// ListenPorts is what decides the TURN listeners: the configured ports (0:
// none) and whether a TLS certificate is loaded.
type ListenPorts struct {
	UDP, TCP, AltTCP, TLS int
	// AltTCPRequired makes a failure to bind AltTCP fatal; otherwise a
	// bind refused for lack of privilege is skipped with a warning.
	AltTCPRequired bool
	TLSEnabled     bool
}

// PlannedListener is one port the relay binds, on each listen address, and
// the URI schemes served there.
type PlannedListener struct {
	Transport string   // "udp" or "tcp"
	Port      int      // 0 asks the kernel
	Schemes   []string // "turn", "turns"
	// Required: failing to bind it stops the relay. Only the alternative
	// TCP port, when not asked for explicitly, is optional.
	Required bool
	mode     streamMode
}

// PlanListeners returns the listeners p asks for, in binding order: UDP,
// TCP, the alternative TCP port (TURN, and TLS told apart by the first
// byte when TLS is on), then TLS, which needs a certificate.
func PlanListeners(p ListenPorts) []PlannedListener {
	var out []PlannedListener
	if p.UDP != 0 {
		out = append(out, PlannedListener{Transport: transportUDP, Port: p.UDP, Schemes: []string{"turn"}, Required: true})
	}
	if p.TCP != 0 {
		out = append(out, PlannedListener{Transport: transportTCP, Port: p.TCP, Schemes: []string{"turn"},
			Required: true, mode: modePlain})
	}
	if p.AltTCP != 0 {
		schemes := []string{"turn"}
		if p.TLSEnabled {
			schemes = append(schemes, "turns")
		}
		out = append(out, PlannedListener{Transport: transportTCP, Port: p.AltTCP, Schemes: schemes,
			Required: p.AltTCPRequired, mode: modeMux})
	}
	if p.TLS != 0 && p.TLSEnabled {
		out = append(out, PlannedListener{Transport: transportTCP, Port: p.TLS, Schemes: []string{"turns"},
			Required: true, mode: modeTLS})
	}
	return out
}
