package relay

import (
	"net"

	"github.com/pion/stun/v4"
)

// pion answers some refused credentials with 400 Bad Request. RFC 8489
// section 9.2.4 says 401, coturn sends 401, and browsers report the code to
// the page (icecandidateerror), where applications fetch fresh ICE servers
// on a 401. So the refusal is noted per client address, and a 400 that
// follows to that address is rewritten as a 401, with REALM and a fresh
// NONCE as every 401 must carry, on its way out.

// noteRefusal marks the next error response to client as an auth refusal.
func (s *Server) noteRefusal(client net.Addr) {
	if client != nil {
		s.refused.Store(client.String(), struct{}{})
	}
}

// outgoing fixes pion's error responses to the client of t: auth refusals
// answered 400 become 401, and every NONCE is bound to t (nonce.go).
// Anything but an error response costs a two-byte test.
func (s *Server) outgoing(p []byte, t tuple) []byte {
	if t.client != nil && s.wants.n.Load() != 0 {
		p = s.dualAnswer(p, t)
	}
	if !isErrorResponse(p) || t.client == nil {
		return p
	}
	if fixed := s.authErrorFix(p, t); fixed != nil {
		return fixed
	}
	return s.bindNonce(p, t)
}

// authErrorFix returns a 401 in place of a 400 error response to a client
// whose credentials were just refused, else nil.
func (s *Server) authErrorFix(p []byte, t tuple) []byte {
	if _, ok := s.refused.LoadAndDelete(t.client.String()); !ok {
		return nil
	}
	msg := &stun.Message{Raw: append([]byte(nil), p...)}
	if err := msg.Decode(); err != nil {
		return nil
	}
	var code stun.ErrorCodeAttribute
	if code.GetFrom(msg) != nil || code.Code != stun.CodeBadRequest {
		return nil
	}
	setters := []stun.Setter{&stun.Message{TransactionID: msg.TransactionID}, msg.Type,
		&stun.ErrorCodeAttribute{Code: stun.CodeUnauthorized, Reason: []byte("Unauthorized")},
		stun.NewRealm(s.realm)}
	if nonce := s.freshNonce(t); nonce != "" {
		setters = append(setters, stun.NewNonce(nonce))
	}
	out, err := stun.Build(setters...)
	if err != nil {
		return nil
	}
	return out.Raw
}

// WriteTo sends pion's answers to a UDP client, fixing auth refusals and
// binding nonces.
func (c *listenConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	fixed := c.in.s.outgoing(p, tuple{transport: transportUDP, client: addr, local: c.in.local})
	if len(fixed) != len(p) || &fixed[0] != &p[0] {
		if _, err := c.PacketConn.WriteTo(fixed, addr); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}
