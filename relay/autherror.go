package relay

import (
	"encoding/binary"
	"net"

	"github.com/pion/stun/v4"
)

// pion answers refused credentials (our AuthHandler saying no, or a
// MESSAGE-INTEGRITY that does not verify) with 400 Bad Request. RFC 8489
// section 9.2.4 says 401, coturn sends 401, and browsers report the code to
// the page (icecandidateerror), where applications fetch fresh ICE servers
// on a 401. So the refusal is noted per client address, and the 400 that
// follows to that address is rewritten as a 401 on its way out.

// noteRefusal marks the next error response to client as an auth refusal.
func (s *Server) noteRefusal(client net.Addr) {
	if client != nil {
		s.refused.Store(client.String(), struct{}{})
	}
}

// authErrorFix returns p, or a 401 in place of a 400 error response to a
// client whose credentials were just refused. Only error responses cost more
// than a two-byte test.
func (s *Server) authErrorFix(p []byte, client net.Addr) []byte {
	if len(p) < stunHeaderLen || p[0]&0xc0 != 0 ||
		binary.BigEndian.Uint16(p[0:2])&classMask != classMask || client == nil {
		return p
	}
	if _, ok := s.refused.LoadAndDelete(client.String()); !ok {
		return p
	}
	msg := &stun.Message{Raw: append([]byte(nil), p...)}
	if err := msg.Decode(); err != nil {
		return p
	}
	var code stun.ErrorCodeAttribute
	if code.GetFrom(msg) != nil || code.Code != stun.CodeBadRequest {
		return p
	}
	out, err := stun.Build(&stun.Message{TransactionID: msg.TransactionID}, msg.Type,
		&stun.ErrorCodeAttribute{Code: stun.CodeUnauthorized, Reason: []byte("Unauthorized")},
		stun.NewRealm(s.realm))
	if err != nil {
		return p
	}
	return out.Raw
}

// WriteTo sends pion's answers to a UDP client, fixing auth refusals.
func (c *listenConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	fixed := c.in.s.authErrorFix(p, addr)
	if len(fixed) != len(p) || &fixed[0] != &p[0] {
		if _, err := c.PacketConn.WriteTo(fixed, addr); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}
