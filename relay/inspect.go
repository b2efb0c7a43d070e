package relay

import (
	"encoding/binary"
	"net"
)

const (
	stunHeaderLen   = 20
	stunMaxFrameLen = 0xffff + stunHeaderLen
	bindingRequest  = 0x0001
	sendIndication  = 0x0016
	// classMask selects the two class bits of a STUN message type; both zero
	// means a request.
	classMask = 0x0110
)

// inspector looks at client-to-server messages before pion handles them:
// it counts Binding requests and hands every other request to turnkey's
// request layer (request.go: nonces bound to the 5-tuple, the secret that
// signed it, RFC 8656 answers pion does not give). ChannelData (the bulk of
// the traffic) costs one byte test.
type inspector struct {
	s         *Server
	transport string
	local     net.Addr // the server side of the 5-tuple
}

// datagram inspects one complete message p[:n] from client (UDP, or a frame
// reassembled from a stream). It returns the length of the message pion is
// to handle, possibly rewritten in p (0: none), and an answer turnkey sends
// the client itself (nil: none).
func (in *inspector) datagram(p []byte, n int, client net.Addr) (int, []byte) {
	if n < stunHeaderLen || p[0]&0xc0 != 0 {
		return n, nil
	}
	typ := binary.BigEndian.Uint16(p[0:2])
	if typ == bindingRequest {
		in.s.metrics.binding(in.transport).Inc()
		return n, nil
	}
	if typ == sendIndication && in.s.sendIndication(p[:n], client) {
		return 0, nil // for an IPv6 peer of a dual allocation (dual.go)
	}
	if typ&classMask != 0 {
		return n, nil // indications; responses pion ignores
	}
	return in.s.request(p, n, tuple{transport: in.transport, client: client, local: in.local})
}
