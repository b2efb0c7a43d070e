package relay

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/pion/turn/v5"
)

// Address families of relays, as metric label values (bounded: two).
const (
	familyIPv4 = "ipv4"
	familyIPv6 = "ipv6"
)

// relayFamily is the relay of one address family: the local address its
// sockets bind to and the one advertised in XOR-RELAYED-ADDRESS (they
// differ behind 1:1 NAT).
type relayFamily struct {
	local, public netip.Addr
}

func (f *relayFamily) natted() bool { return f.local != f.public }

// relayFamilies maps each address family to its relay (RFC 6156, RFC 8656
// §7.2): the one place that knows which families this server relays and on
// which addresses. nil for a family means it is not available; an Allocate
// asking for it is answered 440.
type relayFamilies struct {
	v4, v6 *relayFamily
}

// newRelayFamilies pairs each relay address with the public address of its
// family; a family with no public address advertises the local one.
func newRelayFamilies(relayIPs, publicIPs []netip.Addr) (relayFamilies, error) {
	var r relayFamilies
	for _, a := range relayIPs {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() {
			return r, fmt.Errorf("relay: relay IP %v must be a specific address", a)
		}
		slot := r.slot(a)
		if *slot != nil {
			return r, fmt.Errorf("relay: relay IPs %v and %v are of the same family (one per family)", (*slot).local, a)
		}
		*slot = &relayFamily{local: a, public: a}
	}
	if r.v4 == nil && r.v6 == nil {
		return r, errors.New("relay: no relay IP")
	}
	seen := map[bool]bool{}
	for _, a := range publicIPs {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() {
			return r, fmt.Errorf("relay: public IP %v must be a specific address", a)
		}
		if seen[a.Is4()] {
			return r, fmt.Errorf("relay: more than one public IP of the family of %v (one per family)", a)
		}
		seen[a.Is4()] = true
		f := *r.slot(a)
		if f == nil {
			return r, fmt.Errorf("relay: public IP %v has no relay IP of its family to pair with", a)
		}
		f.public = a
	}
	return r, nil
}

func (r *relayFamilies) slot(a netip.Addr) **relayFamily {
	if a.Is4() {
		return &r.v4
	}
	return &r.v6
}

// of is the relay of a's family, or nil.
func (r relayFamilies) of(a netip.Addr) *relayFamily {
	if a.Unmap().Is4() {
		return r.v4
	}
	return r.v6
}

// forNetwork is the relay for pion's network name ("udp4", "tcp6", ...),
// or nil when that family is not available.
func (r relayFamilies) forNetwork(network string) *relayFamily {
	switch network {
	case "udp4", "tcp4":
		return r.v4
	case "udp6", "tcp6":
		return r.v6
	}
	return nil
}

// all lists the available families' relays, IPv4 first.
func (r relayFamilies) all() []*relayFamily {
	var out []*relayFamily
	for _, f := range []*relayFamily{r.v4, r.v6} {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// addrs lists every relay address, local and advertised.
func (r relayFamilies) addrs() []netip.Addr {
	var out []netip.Addr
	for _, f := range r.all() {
		out = append(out, f.local)
		if f.natted() {
			out = append(out, f.public)
		}
	}
	return out
}

// isRelay reports whether a is one of our relay addresses.
func (r relayFamilies) isRelay(a netip.Addr) bool {
	f := r.of(a)
	return f != nil && (a == f.local || a == f.public)
}

// toLocal maps an advertised relay address behind 1:1 NAT to the local one
// (relay to relay without relying on hairpin NAT); ok is false for any
// other address.
func (r relayFamilies) toLocal(a netip.Addr) (netip.Addr, bool) {
	if f := r.of(a); f != nil && f.natted() && a == f.public {
		return f.local, true
	}
	return a, false
}

// toPublic maps a local relay address behind 1:1 NAT to the advertised one.
func (r relayFamilies) toPublic(a netip.Addr) (netip.Addr, bool) {
	if f := r.of(a); f != nil && f.natted() && a == f.local {
		return f.public, true
	}
	return a, false
}

// generators builds one pion port-range generator per available family.
func (r relayFamilies) generators(minPort, maxPort int) (v4, v6 *turn.RelayAddressGeneratorPortRange) {
	gen := func(f *relayFamily) *turn.RelayAddressGeneratorPortRange {
		if f == nil {
			return nil
		}
		return &turn.RelayAddressGeneratorPortRange{
			RelayAddress: f.public.AsSlice(),
			Address:      f.local.String(),
			MinPort:      uint16(minPort), //nolint:gosec // validated
			MaxPort:      uint16(maxPort), //nolint:gosec // validated
			MaxRetries:   40,
		}
	}
	return gen(r.v4), gen(r.v6)
}

func familyName(a netip.Addr) string {
	if a.Unmap().Is4() {
		return familyIPv4
	}
	return familyIPv6
}
