package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
)

// Client-bound nonces (issue #14 M3). pion's nonce is an HMAC of the minute
// (internal ShortNonceHash, not pluggable in v5.1.3) and is accepted from any
// address for an hour, so a captured Allocate or CreatePermission replays
// from anywhere. turnkey wraps it, statelessly, as coturn 4.17 does:
//
//   - every NONCE pion sends (its 401 and 438 answers, which carry no
//     MESSAGE-INTEGRITY) is rewritten on the way out into
//     pion-nonce "~" base64url(issued-at || HMAC(key, 5-tuple, issued-at,
//     pion-nonce)), the 5-tuple being transport, client address and listener
//     address, key a random per-process key;
//   - every request carrying MESSAGE-INTEGRITY has its NONCE checked on the
//     way in: bound to this 5-tuple and younger than the nonce lifetime. A
//     foreign or stale one is made unreadable to pion (overwritten in place,
//     same length), so pion answers 438 with a fresh nonce, which the first
//     rule binds to the sender. A good one is replaced by the pion nonce it
//     carries and, once turnkey has verified the client's
//     MESSAGE-INTEGRITY with the long-term key, re-signed with that key
//     (MESSAGE-INTEGRITY covers NONCE), FINGERPRINT recomputed (request.go).
//
// pion remains the only source of nonces and still checks its own, so
// nothing here can make a nonce pion would refuse acceptable. Nothing is
// stored per client. ChannelData never reaches this code.

// nonceLifetime is how long a client-bound nonce is accepted; a client then
// gets 438 and retries with a fresh one (coturn's default stale-nonce time
// is the same). Not an operator setting, so the relay owns it.
const nonceLifetime = 10 * time.Minute

const (
	nonceSep    = "~" // outside pion's base36 alphabet
	nonceMACLen = 16
	nonceTSLen  = 8
)

// nonceBinder mints and checks client-bound nonces.
type nonceBinder struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
	// lastPion is the pion nonce most recently wrapped: the one a 401
	// turnkey writes itself (autherror.go) carries.
	lastPion atomic.Pointer[string]
}

func newNonceBinder(lifetime time.Duration, now func() time.Time) (*nonceBinder, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("relay: nonce key: %w", err)
	}
	return &nonceBinder{key: key, lifetime: lifetime, now: now}, nil
}

// tuple names a client 5-tuple as the nonce MAC covers it.
type tuple struct {
	transport     string
	client, local net.Addr
}

func (b *nonceBinder) mac(t tuple, issued []byte, pionNonce string) []byte {
	h := hmac.New(sha256.New, b.key)
	h.Write([]byte(t.transport))
	h.Write([]byte{0})
	h.Write([]byte(addrString(t.client)))
	h.Write([]byte{0})
	h.Write([]byte(addrString(t.local)))
	h.Write([]byte{0})
	h.Write(issued)
	h.Write([]byte(pionNonce))
	return h.Sum(nil)[:nonceMACLen]
}

// wrap binds pionNonce to t.
func (b *nonceBinder) wrap(t tuple, pionNonce string) string {
	b.lastPion.Store(&pionNonce)
	var tail [nonceTSLen + nonceMACLen]byte
	binary.BigEndian.PutUint64(tail[:nonceTSLen], uint64(b.now().Unix())) //nolint:gosec // after 1970
	copy(tail[nonceTSLen:], b.mac(t, tail[:nonceTSLen], pionNonce))
	return pionNonce + nonceSep + base64.RawURLEncoding.EncodeToString(tail[:])
}

// unwrap returns the pion nonce inside nonce when nonce was issued to t
// within the lifetime.
func (b *nonceBinder) unwrap(t tuple, nonce string) (string, bool) {
	i := strings.LastIndex(nonce, nonceSep)
	if i < 0 {
		return "", false
	}
	var tail [nonceTSLen + nonceMACLen]byte
	if n, err := base64.RawURLEncoding.Decode(tail[:], []byte(nonce[i+1:])); err != nil || n != len(tail) ||
		base64.RawURLEncoding.EncodedLen(len(tail)) != len(nonce)-i-1 {
		return "", false
	}
	pionNonce := nonce[:i]
	if !hmac.Equal(tail[nonceTSLen:], b.mac(t, tail[:nonceTSLen], pionNonce)) {
		return "", false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(tail[:nonceTSLen])), 0) //nolint:gosec // checked by the MAC
	now := b.now()
	if now.Sub(issued) > b.lifetime || issued.After(now.Add(time.Second)) {
		return "", false
	}
	return pionNonce, true
}

// spoilNonce overwrites the NONCE value of the raw request in place so that
// pion cannot read it and answers 438 with a fresh nonce. Same length, so
// nothing else in the message moves.
func spoilNonce(msg *stun.Message) {
	for _, a := range msg.Attributes {
		if a.Type == stun.AttrNonce {
			for i := range a.Value {
				a.Value[i] = nonceSep[0]
			}
		}
	}
}

// bindNonce rewrites the NONCE of one of pion's error responses to the
// client of t; other messages are returned as they are. Only error
// responses cost more than the two-byte class test.
func (s *Server) bindNonce(p []byte, t tuple) []byte {
	if !isErrorResponse(p) {
		return p
	}
	msg := &stun.Message{Raw: append([]byte(nil), p...)}
	if err := msg.Decode(); err != nil || !msg.Contains(stun.AttrNonce) || msg.Contains(stun.AttrMessageIntegrity) {
		return p
	}
	var nonce stun.Nonce
	if nonce.GetFrom(msg) != nil {
		return p
	}
	out, err := rebuild(msg, func(a stun.RawAttribute) []byte {
		if a.Type == stun.AttrNonce {
			return []byte(s.nonces.wrap(t, string(nonce)))
		}
		return a.Value
	}, nil)
	if err != nil {
		s.log.Debug("relay: cannot bind nonce", "err", err)
		return p
	}
	return out
}

// freshNonce is a client-bound nonce for an answer turnkey writes itself,
// or "" before pion has issued any.
func (s *Server) freshNonce(t tuple) string {
	p := s.nonces.lastPion.Load()
	if p == nil {
		return ""
	}
	return s.nonces.wrap(t, *p)
}

func isErrorResponse(p []byte) bool {
	return len(p) >= stunHeaderLen && p[0]&0xc0 == 0 &&
		binary.BigEndian.Uint16(p[0:2])&classMask == classMask
}

// rebuild encodes msg again with each attribute's value replaced by
// value(attr) (nil drops it). With key, MESSAGE-INTEGRITY is recomputed
// with it and the attributes after it are dropped; without, the message
// keeps its MESSAGE-INTEGRITY bytes (which then no longer verify). A
// FINGERPRINT is recomputed when msg had one.
func rebuild(msg *stun.Message, value func(stun.RawAttribute) []byte, key []byte) ([]byte, error) {
	out := &stun.Message{TransactionID: msg.TransactionID, Type: msg.Type}
	out.WriteHeader()
	fingerprint, signed := false, false
	for _, a := range msg.Attributes {
		switch {
		case a.Type == stun.AttrFingerprint:
			fingerprint = true
		case signed:
			// nothing but FINGERPRINT may follow MESSAGE-INTEGRITY
		case a.Type == stun.AttrMessageIntegrity && key != nil:
			if err := stun.MessageIntegrity(key).AddTo(out); err != nil {
				return nil, fmt.Errorf("relay: re-sign: %w", err)
			}
			signed = true
		default:
			if v := value(a); v != nil {
				out.Add(a.Type, v)
			}
		}
	}
	if fingerprint {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return nil, fmt.Errorf("relay: fingerprint: %w", err)
		}
	}
	return out.Raw, nil
}
