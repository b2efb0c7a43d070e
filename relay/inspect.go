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

// framer follows a TURN-over-TCP byte stream (RFC 6062 framing: STUN
// messages and ChannelData padded to 4 bytes) without altering it, handing
// STUN requests that matter to the inspector. Only the header of ChannelData
// is kept; a request is buffered whole only while secrets rotate.
type framer struct {
	in   *inspector
	buf  []byte
	skip int  // bytes of the current frame still to pass over
	want int  // total length of the frame being collected; 0 while reading a header
	dead bool // the stream is not TURN; pion will close it
}

func (f *framer) feed(b []byte) {
	for len(b) > 0 && !f.dead {
		if f.skip > 0 {
			k := min(f.skip, len(b))
			f.skip -= k
			b = b[k:]
			continue
		}
		if f.want == 0 {
			k := min(4-len(f.buf), len(b))
			f.buf = append(f.buf, b[:k]...)
			b = b[k:]
			if len(f.buf) < 4 {
				return
			}
			length := int(binary.BigEndian.Uint16(f.buf[2:4]))
			switch f.buf[0] & 0xc0 {
			case 0x40: // ChannelData
				f.skip = (length + 3) &^ 3
				f.buf = f.buf[:0]
				continue
			case 0x00:
			default:
				f.dead = true
				return
			}
			typ := binary.BigEndian.Uint16(f.buf[0:2])
			total := stunHeaderLen + length
			if typ == bindingRequest {
				f.in.s.metrics.binding(f.in.transport).Inc()
			}
			if typ == bindingRequest || typ&classMask != 0 || !f.in.s.secrets.rotating() {
				f.skip = total - 4
				f.buf = f.buf[:0]
				continue
			}
			f.want = total
		}
		k := min(f.want-len(f.buf), len(b))
		f.buf = append(f.buf, b[:k]...)
		b = b[k:]
		if len(f.buf) == f.want {
			f.in.s.secrets.observe(f.buf)
			f.buf = f.buf[:0]
			f.want = 0
		}
	}
}
