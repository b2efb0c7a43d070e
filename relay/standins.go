package relay

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/pion/stun/v4"
)

// Stand-ins: pion refuses an IPv6 peer on an allocation it knows as IPv4
// (443), so a dual allocation's IPv6 peers reach pion as IPv4 addresses
// from 240.0.0.0/4, one per peer (dual.go). The request layer rewrites
// XOR-PEER-ADDRESS to the stand-in; pion's permission handler, its events
// and the relay socket's WriteTo map it back.

// peerAliases maps the IPv6 peers of one dual allocation to the IPv4
// stand-ins pion knows them by. A stand-in is used by pion's permission
// and channels for its peer (refs); one no longer used is reclaimed when
// the table is full, at the start of a request from the client, when pion
// is done with every earlier one (pion handles a client's requests one at
// a time), so pion never holds a stand-in that names another peer.
type peerAliases struct {
	mu      sync.Mutex
	byReal  map[netip.Addr]*peerAlias
	byAlias map[netip.Addr]*peerAlias
	next    uint32
	limit   int
}

type peerAlias struct {
	real, alias netip.Addr
	refs        int
}

// aliasSpace is the size of 240.0.0.0/4, where stand-ins live.
const aliasSpace = 1 << 28

func isAlias(a netip.Addr) bool { return a.Is4() && a.As4()[0]&0xf0 == 0xf0 }

// standIns returns the stand-in of each real IPv6 peer, creating what is
// missing; ok is false when the allocation names too many peers.
func (p *peerAliases) standIns(reals []netip.Addr) (map[netip.Addr]netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byReal == nil {
		p.byReal, p.byAlias = map[netip.Addr]*peerAlias{}, map[netip.Addr]*peerAlias{}
	}
	fresh := 0
	for _, r := range reals {
		if p.byReal[r] == nil {
			fresh++
		}
	}
	if len(p.byReal)+fresh > p.limit {
		for r, a := range p.byReal {
			if a.refs <= 0 {
				delete(p.byReal, r)
				delete(p.byAlias, a.alias)
			}
		}
		if len(p.byReal)+fresh > p.limit {
			return nil, false
		}
	}
	out := make(map[netip.Addr]netip.Addr, len(reals))
	for _, r := range reals {
		a := p.byReal[r]
		if a == nil {
			a = &peerAlias{real: r}
			for {
				p.next = (p.next + 1) % aliasSpace
				v := 0xf0000000 | p.next
				a.alias = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
				if p.byAlias[a.alias] == nil {
					break
				}
			}
			p.byReal[r], p.byAlias[a.alias] = a, a
		}
		out[r] = a.alias
	}
	return out, true
}

func (p *peerAliases) real(alias netip.Addr) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.byAlias[alias]; a != nil {
		return a.real, true
	}
	return netip.Addr{}, false
}

func (p *peerAliases) use(alias netip.Addr, ref int) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.byAlias[alias]
	if a == nil {
		return netip.Addr{}, false
	}
	a.refs += ref
	return a.real, true
}

// dualPeers rewrites the IPv6 XOR-PEER-ADDRESS values of a CreatePermission
// or ChannelBind on a dual allocation to their stand-ins: the returned map
// takes an attribute's value to its replacement (nil: nothing to rewrite).
// A refusal is 403 for a peer in the stand-in range and 508 when the
// allocation names too many IPv6 peers.
func (s *Server) dualPeers(msg *stun.Message, rc *relayConn) (stun.ErrorCode, map[string][]byte) {
	d := rc.dual.Load()
	if d == nil || d.conn == nil {
		return 0, nil
	}
	var reals []netip.Addr
	for _, a := range msg.Attributes {
		if a.Type != stun.AttrXORPeerAddress {
			continue
		}
		ip, ok := xorPeerIP(a.Value, msg.TransactionID)
		switch {
		case !ok:
		case isAlias(ip):
			return stun.CodeForbidden, nil
		case ip.Is6():
			reals = append(reals, ip)
		}
	}
	if len(reals) == 0 {
		return 0, nil
	}
	alias, ok := d.alias.standIns(reals)
	if !ok {
		s.metrics.peerDenied.WithLabelValues("permission_limit").Inc()
		return stun.CodeInsufficientCapacity, nil
	}
	out := map[string][]byte{}
	for _, a := range msg.Attributes {
		if a.Type != stun.AttrXORPeerAddress || len(a.Value) != 20 {
			continue
		}
		ip, ok := xorPeerIP(a.Value, msg.TransactionID)
		if !ok || !ip.Is6() {
			continue
		}
		out[string(a.Value)] = xorPeerValue4(alias[ip], binary.BigEndian.Uint16(a.Value[2:4]))
	}
	return 0, out
}

// xorPeerValue4 is the XOR-PEER-ADDRESS value of IPv4 address ip with the
// already XOR-ed port xport (RFC 8489 §14.2).
func xorPeerValue4(ip netip.Addr, xport uint16) []byte {
	v := make([]byte, 8)
	v[1] = familyByteIPv4
	binary.BigEndian.PutUint16(v[2:4], xport)
	b := ip.As4()
	binary.BigEndian.PutUint32(v[4:8], binary.BigEndian.Uint32(b[:])^magicCookieValue)
	return v
}
