package relay

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ChooseRelayIPs picks the local addresses relay sockets bind to (Config.
// RelayIPs), at most one per family: the configured ones, else the listen
// addresses when all are specific, else the host's first global address of
// each family (IPv6: not link-local, ULA only when there is no other), else
// IPv4 loopback (a host with no network). A relay on the wrong address
// hands clients a XOR-RELAYED-ADDRESS nobody can reach, so the choice is
// the relay's, made once here.
func ChooseRelayIPs(configured []string, listenIPs []netip.Addr) ([]netip.Addr, error) {
	if len(configured) > 0 {
		return ParseAddrs(configured)
	}
	var specific []netip.Addr
	for _, ip := range listenIPs {
		if !ip.IsUnspecified() {
			specific = append(specific, ip.Unmap())
		}
	}
	if len(specific) > 0 && len(specific) == len(listenIPs) {
		return specific, nil
	}
	addrs, err := upInterfaceAddrs()
	if err != nil {
		return nil, err
	}
	return pickHostRelayIPs(addrs), nil
}

// upInterfaceAddrs lists the addresses of the host's interfaces that are up
// and not loopback.
func upInterfaceAddrs() ([]netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("relay: list interfaces: %w", err)
	}
	var out []netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr())
			}
		}
	}
	return out, nil
}

// pickHostRelayIPs picks, from the host's addresses in interface order, the
// first global one of each family: for IPv6 a ULA (fc00::/7) only when
// there is no other. None at all gives IPv4 loopback.
func pickHostRelayIPs(addrs []netip.Addr) []netip.Addr {
	var v4, v6, ula netip.Addr
	for _, a := range addrs {
		if !a.IsGlobalUnicast() {
			continue
		}
		switch ip := a.Unmap(); {
		case ip.Is4():
			if !v4.IsValid() {
				v4 = ip
			}
		case ip.IsPrivate(): // fc00::/7
			if !ula.IsValid() {
				ula = ip
			}
		case !v6.IsValid():
			v6 = ip
		}
	}
	if !v6.IsValid() {
		v6 = ula
	}
	var out []netip.Addr
	for _, a := range []netip.Addr{v4, v6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return out
}

// ParseAddrs parses configured addresses (listen, relay, public), already
// validated by the configuration; IPv4-mapped IPv6 ones become IPv4.
func ParseAddrs(list []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range list {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("relay: parse address: %w", err)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}
