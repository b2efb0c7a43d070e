package peerpolicy

// Reason says why Check allowed or denied an address. Its String form is a
// fixed, small set of values so it can be used directly as a Prometheus label
// without unbounded cardinality.
type Reason uint8

// Reasons, one per family of deny-list entries plus the outcomes that do not
// come from the default deny-list.
const (
	ReasonAllowed        Reason = iota // no rule denied the address (or it is allow-listed)
	ReasonInvalid                      // the zero netip.Addr, or a net.IP of a bad length
	ReasonDeniedExtra                  // matched an operator-supplied extraDeny prefix
	ReasonUnspecified                  // 0.0.0.0/8 ("this network"), ::/128
	ReasonLoopback                     // 127.0.0.0/8, ::1/128
	ReasonPrivate                      // 10/8, 172.16/12, 192.168/16, fc00::/7
	ReasonCGNAT                        // 100.64.0.0/10 shared address space
	ReasonLinkLocal                    // 169.254.0.0/16 (cloud metadata lives here), fe80::/10
	ReasonSiteLocal                    // fec0::/10, deprecated but still routed internally by some networks
	ReasonMulticast                    // 224.0.0.0/4, ff00::/8
	ReasonReserved                     // 192.0.0.0/24 IETF assignments, 240.0.0.0/4 incl. broadcast
	ReasonDocumentation                // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32
	ReasonBenchmarking                 // 198.18.0.0/15
	ReasonDiscard                      // 100::/64 discard-only prefix
	ReasonIPv6Transition               // 192.88.99/24, 2001::/32 Teredo, 2002::/16 6to4, 64:ff9b::/96 NAT64
	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonAllowed:        "allowed",
	ReasonInvalid:        "invalid",
	ReasonDeniedExtra:    "denied_extra",
	ReasonUnspecified:    "unspecified",
	ReasonLoopback:       "loopback",
	ReasonPrivate:        "private",
	ReasonCGNAT:          "cgnat",
	ReasonLinkLocal:      "link_local",
	ReasonSiteLocal:      "site_local",
	ReasonMulticast:      "multicast",
	ReasonReserved:       "reserved",
	ReasonDocumentation:  "documentation",
	ReasonBenchmarking:   "benchmarking",
	ReasonDiscard:        "discard",
	ReasonIPv6Transition: "ipv6_transition",
}

// String returns the metric-label form of r. Values outside the defined set
// map to "unknown" rather than panicking, keeping the label set bounded.
func (r Reason) String() string {
	if r >= reasonCount {
		return "unknown"
	}
	return reasonNames[r]
}

// AllReasons lists every Reason, so metrics can pre-register each label value
// (a counter that exists at zero is easier to alert on than a missing one).
func AllReasons() []Reason {
	out := make([]Reason, 0, reasonCount)
	for r := Reason(0); r < reasonCount; r++ {
		out = append(out, r)
	}
	return out
}
