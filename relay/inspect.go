package relay

import (
	"encoding/binary"
)

const (
	stunHeaderLen   = 20
	stunMaxFrameLen = 0xffff + stunHeaderLen
	bindingRequest  = 0x0001
	// classMask selects the two class bits of a STUN message type; both zero
	// means a request.
	classMask = 0x0110
)

// inspector looks at client-to-server messages before pion handles them:
// it counts Binding requests and, while secrets rotate, works out which
// secret signed each authenticated request. ChannelData (the bulk of the
// traffic) costs one byte test.
type inspector struct {
	s         *Server
	transport string
}

// datagram inspects one complete message (UDP, or a frame reassembled from
// a stream).
func (in *inspector) datagram(b []byte) {
	if len(b) < stunHeaderLen || b[0]&0xc0 != 0 {
		return
	}
	typ := binary.BigEndian.Uint16(b[0:2])
	if typ == bindingRequest {
		in.s.metrics.binding(in.transport).Inc()
		return
	}
	if typ&classMask == 0 && in.s.secrets.rotating() {
		in.s.secrets.observe(b)
	}
}
