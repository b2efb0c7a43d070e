package relay

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"
)

// turnkey's layer in front of pion's request handling (issue #19, exact
// RFC 8656 answers; issue #14 M3, client-bound nonces). It runs on STUN
// requests only, never on ChannelData, after turnkey has checked the
// client's MESSAGE-INTEGRITY with the long-term key itself. Then it either
//
//   - answers the request itself, signed with that key, where pion would be
//     silent or lenient: 437 when no allocation exists on the 5-tuple, 441
//     when it belongs to another user (pion drops both), 400 for a channel
//     number outside 0x4000–0x4FFF or REQUESTED-TRANSPORT TCP on UDP, 440
//     for an address family without a relay address (pion: 508) and 400
//     for an invalid ADDITIONAL-ADDRESS-FAMILY (familyRefusal), 508
//     for permissions past the per-allocation limit (pion can only say
//     403 through its PermissionHandler); or
//   - hands pion the request re-signed with the same key after changing
//     what pion must see: NONCE (pion's own nonce, nonce.go) and a LIFETIME
//     below the default raised to it (RFC 8656 §7.2, 7.3; LIFETIME 0 on a
//     Refresh still deletes).
//
// Answering is used where the answer is turnkey's decision and needs
// nothing of pion's state; rewriting where pion must still do the work (an
// allocation, a refresh), so that pion's own checks and events run
// unchanged. Re-signing is sound because turnkey verified the original
// MESSAGE-INTEGRITY first: it never signs what the client did not.

// maxChannel is the last channel number RFC 8656 §12 allows; RFC 5766
// allowed up to legacyMaxChannel (pion still does, and coturn's test clients
// use them), which Config.LegacyChannelNumbers accepts.
const (
	minChannel       = 0x4000
	maxChannel       = 0x4FFF
	legacyMaxChannel = 0x7FFF
)

// request handles one STUN request p[:n] (not Binding) on the 5-tuple t. It
// returns the length of what pion is to handle, rewritten in p (0: nothing),
// and an answer for the client (nil: none).
func (s *Server) request(p []byte, n int, t tuple) (int, []byte) {
	if n >= len(p) {
		// Longer than pion's read buffer (the maximum frame): truncated by
		// the socket, unreadable, so answered rather than silently lost.
		return 0, tooLarge(p[:n])
	}
	msg := &stun.Message{Raw: p[:n]}
	if err := msg.Decode(); err != nil || !msg.Contains(stun.AttrMessageIntegrity) {
		return n, nil // pion drops it, or asks for credentials (401)
	}
	var nonce stun.Nonce
	if nonce.GetFrom(msg) != nil {
		return n, nil // pion answers 400
	}
	pionNonce, ok := s.nonces.unwrap(t, nonce.String())
	if !ok {
		s.metrics.staleNonces.Inc()
		spoilNonce(msg)
		return n, nil
	}
	username, key := s.verifyIntegrity(msg)
	if key == nil {
		// Not verified: pion sees its nonce and refuses the credentials
		// itself (401, counted), the MESSAGE-INTEGRITY left as it was.
		return s.handOn(p, msg, pionNonce, nil, 0, nil)
	}
	code, credsOK, dual := s.refusal(msg, t, username)
	if code != 0 {
		s.log.Debug("relay: request answered by turnkey", "client", addrString(t.client),
			"method", msg.Type.Method.String(), "code", int(code))
		return 0, errorAnswer(msg, code, key)
	}
	if credsOK {
		// What pion will grant, for the registry's expires_at; before
		// handOn, which rewrites the bytes msg points into.
		s.noteLifetime(msg, t)
		if msg.Type.Method == stun.MethodAllocate && msg.Contains(attrAdditionalAddressFamily) {
			s.wants.want(t.client, msg.TransactionID, key)
		}
	}
	return s.handOn(p, msg, pionNonce, key, s.lifetimeFor(msg), dual)
}

// handOn rewrites msg into p for pion: pion's nonce, LIFETIME raised to
// lifetime when not 0, the values dual names replaced (XOR-PEER-ADDRESS
// stand-ins of a dual allocation; REQUESTED-ADDRESS-FAMILY dropped),
// signed with key (nil keeps the client's bytes).
func (s *Server) handOn(p []byte, msg *stun.Message, pionNonce string, key []byte, lifetime uint32,
	dual map[string][]byte) (int, []byte) {
	out, err := rebuild(msg, func(a stun.RawAttribute) []byte {
		switch {
		case a.Type == stun.AttrNonce:
			return []byte(pionNonce)
		case a.Type == stun.AttrLifetime && lifetime != 0:
			return binary.BigEndian.AppendUint32(nil, lifetime)
		case dual != nil && (a.Type == stun.AttrXORPeerAddress || a.Type == stun.AttrRequestedAddressFamily):
			if v, ok := dual[string(a.Value)]; ok {
				return v
			}
		}
		return a.Value
	}, key)
	if err != nil || len(out) > len(p) {
		// Cannot happen (pion's nonce is shorter than ours); dropped.
		s.log.Debug("relay: cannot hand a request on", "len", len(out), "err", err)
		return 0, nil
	}
	return copy(p, out), nil
}

// verifyIntegrity returns the username and long-term key whose
// MESSAGE-INTEGRITY msg carries; key is nil when none verifies. The secret
// is the one the username names; a username without a secret ID is tried
// against each, and the one that verifies is kept in the user cache, where
// authenticate finds it (secrets.go).
func (s *Server) verifyIntegrity(msg *stun.Message) (string, []byte) {
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(msg) != nil || realm.GetFrom(msg) != nil {
		return "", nil
	}
	username := user.String()
	e, err := s.users.get(username)
	if err != nil {
		return username, nil
	}
	for _, secret := range s.secrets.candidates(&e.user) {
		key, derived := e.keyFor(username, realm.String(), secret)
		if stun.MessageIntegrity(key).Check(msg) == nil {
			if derived {
				s.users.keep(e, username, realm.String(), secret, key)
			}
			return username, key
		}
	}
	return username, nil
}

// refusal is the error turnkey answers an authenticated request with, or 0
// to let pion handle it; credsOK says whether pion will accept the
// credentials, dual holds the rewrites a dual allocation needs (handOn).
// Credentials pion would refuse (expired, revoked, another realm) go to
// pion, which refuses and counts them.
func (s *Server) refusal(msg *stun.Message, t tuple, username string) (code stun.ErrorCode, credsOK bool, dual map[string][]byte) {
	var realm stun.Realm
	_ = realm.GetFrom(msg)
	if _, reason, _ := s.checkCredentials(username, realm.String()); reason != "" {
		return 0, false, nil
	}
	code, dual = s.refusalFor(msg, t, username)
	return code, true, dual
}

func (s *Server) refusalFor(msg *stun.Message, t tuple, username string) (stun.ErrorCode, map[string][]byte) {
	switch msg.Type.Method {
	case stun.MethodAllocate:
		// RFC 6062 §5.1: TCP relays only for clients on TCP or TLS.
		if v, err := msg.Get(stun.AttrRequestedTransport); err == nil && len(v) == 4 &&
			v[0] == protoTCP && t.transport == transportUDP {
			return stun.CodeBadRequest, nil
		}
		return s.familyRefusal(msg, t), nil
	case stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind, stun.MethodConnect:
	default:
		return 0, nil
	}
	a := s.registry.byTuple(allocKeyOf(t.client, t.local))
	switch {
	case a == nil:
		return stun.CodeAllocMismatch, nil
	case a.username != username:
		return stun.CodeWrongCredentials, nil
	}
	switch msg.Type.Method {
	case stun.MethodRefresh:
		// RFC 8656 §7.3: REQUESTED-ADDRESS-FAMILY must name a family of
		// the allocation. pion knows a dual allocation as IPv4 and would
		// answer 443 for IPv6; both families share one lifetime, so the
		// attribute is dropped and pion refreshes (or deletes) both.
		if v, err := msg.Get(stun.AttrRequestedAddressFamily); err == nil && len(v) == 4 && v[0] == familyByteIPv6 &&
			a.family == familyDual {
			return 0, map[string][]byte{string(v): nil}
		}
		return 0, nil
	case stun.MethodChannelBind:
		v, err := msg.Get(stun.AttrChannelNumber)
		if err != nil || len(v) != 4 {
			return stun.CodeBadRequest, nil
		}
		if ch := binary.BigEndian.Uint16(v); ch < minChannel || ch > s.maxChannel {
			return stun.CodeBadRequest, nil
		}
	case stun.MethodCreatePermission:
	default:
		return 0, nil
	}
	rc := s.chans.relayOfClient(t.client)
	if code := s.permissionRoom(msg, rc); code != 0 || rc == nil {
		return code, nil
	}
	return s.dualPeers(msg, rc)
}

const protoTCP = 6

// Address families (RFC 8656 §18.8, §18.11) and ADDITIONAL-ADDRESS-FAMILY,
// comprehension-optional (RFC 8656 §18.11: type 0x8000), which pion does
// not know.
const (
	familyByteIPv4              = 0x01
	familyByteIPv6              = 0x02
	attrAdditionalAddressFamily = stun.AttrType(0x8000)
)

// familyRefusal is the answer to an Allocate whose address family this
// relay cannot serve (RFC 8656 §7.2, RFC 6156), or 0:
//
//   - ADDITIONAL-ADDRESS-FAMILY other than IPv6, or together with
//     REQUESTED-ADDRESS-FAMILY, RESERVATION-TOKEN or EVEN-PORT: 400 (a
//     dual allocation reserves no port pair; coturn refuses EVEN-PORT too);
//   - a family (requested, or the default) without a relay address: 440,
//     where pion would try to open the socket and answer 508. A dual
//     allocation's first family is IPv4: 440 without an IPv4 relay.
//
// A valid dual request goes on to pion, which allocates the IPv4 relay;
// the IPv6 half is turnkey's (dual.go).
func (s *Server) familyRefusal(msg *stun.Message, t tuple) stun.ErrorCode {
	requested, reqErr := msg.Get(stun.AttrRequestedAddressFamily)
	additional, addErr := msg.Get(attrAdditionalAddressFamily)
	if addErr == nil {
		switch {
		case reqErr == nil || len(additional) != 4 || additional[0] != familyByteIPv6,
			msg.Contains(stun.AttrReservationToken), msg.Contains(stun.AttrEvenPort):
			return stun.CodeBadRequest
		case s.relays.v4 == nil:
			s.metrics.allocationFailures.WithLabelValues("address_family").Inc()
			return stun.CodeAddrFamilyNotSupported
		}
		return 0
	}
	var f *relayFamily
	switch {
	case reqErr != nil:
		f = s.defaultFamily(t)
	case len(requested) != 4:
		return 0 // pion answers 400
	case requested[0] == familyByteIPv4:
		f = s.relays.v4
	case requested[0] == familyByteIPv6:
		f = s.relays.v6
	default:
		return 0 // pion answers 440 for an unknown family
	}
	if f == nil {
		s.metrics.allocationFailures.WithLabelValues("address_family").Inc()
		return stun.CodeAddrFamilyNotSupported
	}
	return 0
}

// defaultFamily is the relay pion allocates on when the Allocate names no
// family: IPv4 when this relay has IPv4 (RFC 8656 §7.2; pion's
// StrictAddressFamily, set in New), else the family of the listener
// address, or of the client on a dual-stack wildcard listener. nil: that
// family is not available.
func (s *Server) defaultFamily(t tuple) *relayFamily {
	if s.relays.v4 != nil {
		return s.relays.v4
	}
	ap, ok := addrPort(t.local)
	if !ok || ap.Addr().IsUnspecified() {
		if ap, ok = addrPort(t.client); !ok {
			return s.relays.v4
		}
	}
	return s.relays.of(ap.Addr())
}

// permissionRoom is 508 when the peers msg names would take the
// allocation past its permission limit (RFC 8656 §9.2: a capacity limit is
// 508, a refused address 403).
func (s *Server) permissionRoom(msg *stun.Message, rc *relayConn) stun.ErrorCode {
	if s.maxPerms <= 0 || rc == nil {
		return 0
	}
	d := rc.dual.Load()
	dual := d != nil && d.conn != nil
	var fresh []netip.Addr
	for _, a := range msg.Attributes {
		if a.Type != stun.AttrXORPeerAddress {
			continue
		}
		ip, ok := xorPeerIP(a.Value, msg.TransactionID)
		if !ok || s.relays.isRelay(ip) || (ip.Is4() != rc.relayAddr.Addr().Is4() && !dual) {
			// Malformed ones pion answers 400, the other family 443 (but
			// on a dual allocation); our relay is always permitted.
			continue
		}
		dup := false
		for _, f := range fresh {
			dup = dup || f == ip
		}
		if !dup && !rc.perms.has(ip) {
			fresh = append(fresh, ip)
		}
	}
	if len(fresh) > 0 && rc.perms.count()+len(fresh) > s.maxPerms {
		s.metrics.peerDenied.WithLabelValues("permission_limit").Inc()
		return stun.CodeInsufficientCapacity
	}
	return 0
}

// xorPeerIP decodes the address of an XOR-PEER-ADDRESS value.
func xorPeerIP(v []byte, txID [stun.TransactionIDSize]byte) (netip.Addr, bool) {
	var key [16]byte
	binary.BigEndian.PutUint32(key[:4], magicCookieValue)
	copy(key[4:], txID[:])
	switch {
	case len(v) == 8 && v[1] == 0x01:
		var ip [4]byte
		for i := range ip {
			ip[i] = v[4+i] ^ key[i]
		}
		return netip.AddrFrom4(ip), true
	case len(v) == 20 && v[1] == 0x02:
		var ip [16]byte
		for i := range ip {
			ip[i] = v[4+i] ^ key[i]
		}
		return netip.AddrFrom16(ip).Unmap(), true
	}
	return netip.Addr{}, false
}

// lifetimeFor is the LIFETIME pion must see instead of the requested one,
// or 0 to keep it: a request below the default gets the default (on
// Allocate also 0; on Refresh 0 means delete and is kept).
func (s *Server) lifetimeFor(msg *stun.Message) uint32 {
	if msg.Type.Method != stun.MethodAllocate && msg.Type.Method != stun.MethodRefresh {
		return 0
	}
	v, err := msg.Get(stun.AttrLifetime)
	if err != nil || len(v) != 4 {
		return 0
	}
	asked := binary.BigEndian.Uint32(v)
	def := uint32(s.allocLifetime / time.Second) //nolint:gosec // minutes, validated
	if asked >= def || (asked == 0 && msg.Type.Method == stun.MethodRefresh) {
		return 0
	}
	return def
}

// errorAnswer is an error response to msg signed with key.
func errorAnswer(msg *stun.Message, code stun.ErrorCode, key []byte) []byte {
	out, err := stun.Build(&stun.Message{TransactionID: msg.TransactionID},
		stun.NewType(msg.Type.Method, stun.ClassErrorResponse), code, stun.MessageIntegrity(key))
	if err != nil {
		return nil
	}
	return out.Raw
}

// tooLarge is the 400 answer to a request longer than the maximum frame,
// from its header alone (it cannot be verified, so it is not signed); nil
// when b does not start with a STUN request header.
func tooLarge(b []byte) []byte {
	if len(b) < stunHeaderLen || b[0]&0xc0 != 0 || binary.BigEndian.Uint16(b[0:2])&classMask != 0 ||
		binary.BigEndian.Uint32(b[4:8]) != magicCookieValue {
		return nil
	}
	var typ stun.MessageType
	typ.ReadValue(binary.BigEndian.Uint16(b[0:2]))
	var id [stun.TransactionIDSize]byte
	copy(id[:], b[8:stunHeaderLen])
	out, err := stun.Build(&stun.Message{TransactionID: id}, stun.NewType(typ.Method, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: stun.CodeBadRequest, Reason: []byte("Request too large")})
	if err != nil {
		return nil
	}
	return out.Raw
}
