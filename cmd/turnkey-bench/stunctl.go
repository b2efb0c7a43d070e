package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// control runs the TURN control plane of one allocation with pion/stun
// messages: long-term-credential Allocate, CreatePermission, ChannelBind and
// Refresh. The data plane never goes through it.
type control struct {
	w               wire
	user, pass      string
	realm           string // the server's, learnt from the 401
	expectRealm     string
	nonce           stun.Nonce
	integrity       stun.MessageIntegrity
	rto             time.Duration
	maxRTO          time.Duration // 0: the wait doubles without bound
	tries           int
	relayed         stun.XORMappedAddress
	retransmissions int
}

// errSTUN is a STUN error response.
type errSTUN struct {
	method stun.Method
	code   stun.ErrorCode
	reason string
}

func (e *errSTUN) Error() string {
	return fmt.Sprintf("%s: error %d %s", e.method, e.code, e.reason)
}

var (
	attrRequestedUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	realmWarned      sync.Once
)

// allocate performs the two-legged authenticated Allocate and records the
// relayed address.
func (c *control) allocate() error {
	// The first leg is unauthenticated by design: the 401 carries the realm
	// and nonce the key and the second leg need.
	_, err := c.roundTrip(stun.MethodAllocate, false, attrRequestedUDP)
	var se *errSTUN
	if err == nil {
		return errors.New("allocate: server accepted an unauthenticated request")
	}
	if !errors.As(err, &se) || se.code != stun.CodeUnauthorized {
		return fmt.Errorf("allocate (first leg): %w", err)
	}
	res, err := c.roundTrip(stun.MethodAllocate, true, attrRequestedUDP)
	if err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	if err := c.relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		return fmt.Errorf("allocate: XOR-RELAYED-ADDRESS: %w", err)
	}
	return nil
}

func (c *control) createPermission(peer *net.UDPAddr) error {
	if _, err := c.roundTrip(stun.MethodCreatePermission, true, peerAttr(peer)); err != nil {
		return fmt.Errorf("create permission for %s: %w", peer, err)
	}
	return nil
}

func (c *control) channelBind(peer *net.UDPAddr, channel uint16) error {
	var v [4]byte
	binary.BigEndian.PutUint16(v[:], channel)
	ch := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: v[:]}
	if _, err := c.roundTrip(stun.MethodChannelBind, true, ch, peerAttr(peer)); err != nil {
		return fmt.Errorf("channel bind %#x to %s: %w", channel, peer, err)
	}
	return nil
}

// release deletes the allocation (Refresh with LIFETIME 0) so the server's
// port and memory come back at once rather than at expiry.
func (c *control) release() error {
	lt := stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}}
	before := c.retransmissions
	if _, err := c.roundTrip(stun.MethodRefresh, true, lt); err != nil {
		// A retransmitted release whose first copy was handled finds no
		// allocation: released all the same.
		var se *errSTUN
		if errors.As(err, &se) && se.code == stun.CodeAllocMismatch && c.retransmissions > before {
			return nil
		}
		return fmt.Errorf("refresh lifetime 0: %w", err)
	}
	return nil
}

type peerSetter struct{ a stun.XORMappedAddress }

func (p peerSetter) AddTo(m *stun.Message) error { return p.a.AddToAs(m, stun.AttrXORPeerAddress) }

func peerAttr(peer *net.UDPAddr) stun.Setter {
	return peerSetter{stun.XORMappedAddress{IP: peer.IP, Port: peer.Port}}
}

// roundTrip sends a request and waits for its answer, retransmitting on UDP
// and renewing a stale nonce once. An error response is returned as *errSTUN
// after the realm and nonce it carries have been learnt.
func (c *control) roundTrip(method stun.Method, auth bool, attrs ...stun.Setter) (*stun.Message, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.exchange(method, auth, attrs)
		var se *errSTUN
		if errors.As(err, &se) && se.code == stun.CodeStaleNonce && attempt == 0 {
			continue // the nonce was refreshed from the 438
		}
		return res, err
	}
}

func (c *control) exchange(method stun.Method, auth bool, attrs []stun.Setter) (*stun.Message, error) {
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	if auth {
		setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), c.nonce, c.integrity)
	}
	setters = append(setters, stun.Fingerprint)
	req, err := stun.Build(setters...)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", method, err)
	}
	_, isUDP := c.w.(*udpWire)
	rto := c.rto
	for try := 0; try < c.tries; try++ {
		if try > 0 {
			c.retransmissions++
		}
		if err := c.w.send(req.Raw); err != nil {
			return nil, fmt.Errorf("send %s: %w", method, err)
		}
		deadline := time.Now().Add(rto)
		if !isUDP {
			deadline = time.Now().Add(rto * time.Duration(c.tries))
		}
		res, err := c.await(req.TransactionID, deadline)
		if err == nil {
			return c.interpret(method, res)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || !isUDP {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		rto *= 2
		if c.maxRTO > 0 {
			rto = min(rto, c.maxRTO)
		}
	}
	return nil, fmt.Errorf("%s: no answer after %d tries", method, c.tries)
}

// await reads frames until the response to id arrives, skipping ChannelData
// and stale responses.
func (c *control) await(id [stun.TransactionIDSize]byte, deadline time.Time) (*stun.Message, error) {
	for {
		b, err := c.w.recv(deadline)
		if err != nil {
			return nil, err
		}
		if !stun.IsMessage(b) {
			continue
		}
		m := &stun.Message{Raw: append([]byte(nil), b...)}
		if err := m.Decode(); err != nil || m.TransactionID != id {
			continue
		}
		return m, nil
	}
}

func (c *control) interpret(method stun.Method, res *stun.Message) (*stun.Message, error) {
	if res.Type.Class == stun.ClassSuccessResponse {
		return res, nil
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		return nil, fmt.Errorf("%s: error response without ERROR-CODE: %w", method, err)
	}
	var realm stun.Realm
	if err := realm.GetFrom(res); err == nil {
		if c.expectRealm != "" && string(realm) != c.expectRealm {
			realmWarned.Do(func() {
				fmt.Fprintf(os.Stderr, "turnkey-bench: server realm %q differs from -realm %q; using the server's\n", realm, c.expectRealm)
			})
		}
		c.realm = string(realm)
		c.integrity = stun.NewLongTermIntegrity(c.user, c.realm, c.pass)
	}
	var nonce stun.Nonce
	if err := nonce.GetFrom(res); err == nil {
		c.nonce = nonce
	}
	return nil, &errSTUN{method: method, code: code.Code, reason: string(code.Reason)}
}
