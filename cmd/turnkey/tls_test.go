package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// turnSession is one TURN client with its allocation, over any transport.
type turnSession struct {
	client    *turn.Client
	relay     net.PacketConn
	closeConn func() error
}

// mintTURN returns TURN REST credentials signed with secret, valid for an
// hour, for the bare identity rest.
func mintTURN(secret, rest string) (username, password string) {
	return credentials.MintTURN([]byte(secret), time.Now().Add(time.Hour), rest)
}

// dialTURN opens the client side of a TURN transport: "udp", "tcp" or
// "tls" (TLS over TCP with cfg). For TLS it also returns the negotiated
// connection state.
func dialTURN(transport, addr string, cfg *tls.Config) (net.PacketConn, *tls.ConnectionState, error) {
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		return pc, nil, nil
	case "tcp":
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, nil, fmt.Errorf("dial tcp %s: %w", addr, err)
		}
		return turn.NewSTUNConn(c), nil, nil
	case "tls":
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dial tls %s: %w", addr, err)
		}
		state := c.(*tls.Conn).ConnectionState()
		return turn.NewSTUNConn(c), &state, nil
	}
	return nil, nil, fmt.Errorf("unknown transport %q", transport)
}

// allocate authenticates on conn to the TURN server at addr and allocates
// a relay address. conn belongs to the session from here on, error or not.
func allocate(conn net.PacketConn, addr, user, pass string) (*turnSession, error) {
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "turnkey",
		RTO: 200 * time.Millisecond, LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("turn client: %w", err)
	}
	if err := cl.Listen(); err != nil {
		cl.Close()
		conn.Close()
		return nil, fmt.Errorf("turn client listen: %w", err)
	}
	relayConn, err := cl.Allocate()
	if err != nil {
		cl.Close()
		conn.Close()
		return nil, fmt.Errorf("allocate on %s: %w", addr, err)
	}
	s := &turnSession{client: cl, relay: relayConn}
	// pion's Client.Close leaves the transport open: close it with the
	// session, after the relay conn has sent its deallocation.
	s.closeConn = conn.Close
	return s, nil
}

// dialAllocate is dialTURN then allocate.
func dialAllocate(transport, addr string, cfg *tls.Config, user, pass string) (*turnSession, *tls.ConnectionState, error) {
	conn, state, err := dialTURN(transport, addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	s, err := allocate(conn, addr, user, pass)
	return s, state, err
}

// echo sends payload to the echo peer through the relay until it comes
// back, within a deadline: UDP between relay and peer may drop a datagram.
func (s *turnSession) echo(peer *net.UDPAddr, payload []byte) error {
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.relay.WriteTo(payload, peer); err != nil {
			return fmt.Errorf("write to peer: %w", err)
		}
		_ = s.relay.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := s.relay.ReadFrom(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			return fmt.Errorf("read from relay: %w", err)
		}
		if !bytes.Equal(buf[:n], payload) {
			// A late echo of an earlier round; wait for this one.
			continue
		}
		return nil
	}
	return fmt.Errorf("no echo of %q within 5s", payload)
}

// Close releases the allocation (a Refresh with lifetime 0) and closes the
// transport.
func (s *turnSession) Close() {
	_ = s.relay.Close()
	s.client.Close()
	if s.closeConn != nil {
		_ = s.closeConn()
	}
}

// turnErrorCode is the STUN error code of a refused request, or 0.
func turnErrorCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// TestTLSListeners: with a certificate configured, TURN over TLS works on
// the TLS port and on the alternative port, and plain TURN over TCP works on
// the alternative port too, all on one running node. The handshake offers
// ALPN "stun.turn" and TLS 1.2 or later; a TLS 1.1 client is refused.
func TestTLSListeners(t *testing.T) {
	n, cert := startTLSTestNode(t, "turnkey test", nil)
	if n.TURNTLS == "" || n.TURNAlt == "" {
		t.Fatalf("listeners: TLS %q, alt %q; want both", n.TURNTLS, n.TURNAlt)
	}
	peer := testnet.UDPEcho(t)
	user, pass := mintTURN(n.Secret, "tls-listeners")
	clientTLS := turnsClientConfig(pool(cert))

	tests := []struct {
		name, transport, addr string
	}{
		{"TLS port", "tls", n.TURNTLS},
		{"alt port TLS", "tls", n.TURNAlt},
		{"alt port plain TCP", "tcp", n.TURNAlt},
		{"TCP port", "tcp", n.TURNTCP},
		{"UDP port", "udp", n.TURNUDP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, state, err := dialAllocate(tc.transport, tc.addr, clientTLS, user, pass)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.transport == "tls" {
				if state.NegotiatedProtocol != "stun.turn" {
					t.Errorf("ALPN %q, want stun.turn", state.NegotiatedProtocol)
				}
				if state.Version < tls.VersionTLS12 {
					t.Errorf("TLS version %#x, want at least 1.2", state.Version)
				}
				if got := state.PeerCertificates[0].SerialNumber; got.Cmp(cert.Serial) != 0 {
					t.Errorf("served certificate serial %v, want %v", got, cert.Serial)
				}
			}
			if err := s.echo(peer, []byte("via "+tc.name)); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("TLS 1.1 refused", func(t *testing.T) {
		for _, addr := range []string{n.TURNTLS, n.TURNAlt} {
			old := clientTLS.Clone()
			old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			conn, _, err := dialTURN("tls", addr, old)
			if err == nil {
				conn.Close()
				t.Errorf("%s: TLS 1.1 handshake succeeded", addr)
				continue
			}
			if !strings.Contains(err.Error(), "protocol version") {
				t.Errorf("%s: TLS 1.1 refused with %v; want a protocol version alert", addr, err)
			}
		}
	})
}

// TestTLSListenersOffWithoutCertificate: without a certificate the TLS port
// is not opened and the alternative port speaks plain TURN only.
func TestTLSListenersOffWithoutCertificate(t *testing.T) {
	n := startTestNode(t, nil)
	if n.TURNTLS != "" {
		t.Fatalf("TLS listener %s running without a certificate", n.TURNTLS)
	}
	for _, l := range n.relay.Listeners() {
		if l.Scheme == "turns" {
			t.Errorf("listener %+v is turns: without a certificate", l)
		}
	}
	peer := testnet.UDPEcho(t)
	user, pass := mintTURN(n.Secret, "no-tls")
	s, _, err := dialAllocate("tcp", n.TURNAlt, nil, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.echo(peer, []byte("plain on alt")); err != nil {
		t.Fatal(err)
	}
	// A TLS ClientHello on the alt port is not understood as TURN either:
	// the handshake fails rather than hanging.
	clientTLS := turnsClientConfig(nil)
	clientTLS.InsecureSkipVerify = true //nolint:gosec // only checking the handshake fails
	if conn, _, err := dialTURN("tls", n.TURNAlt, clientTLS); err == nil {
		conn.Close()
		t.Error("TLS handshake succeeded on the alt port without a certificate")
	}
}

// TestTLSTokensListTurnsURLs: issued ICE servers include the turns: URLs of
// the alternative and TLS ports when a certificate is configured, and none
// without one.
func TestTLSTokensListTurnsURLs(t *testing.T) {
	files := newCertFiles(t)
	files.write(t, newTestCert(t, "turnkey test"))
	tests := []struct {
		name    string
		withTLS bool
	}{
		{"with certificate", true},
		{"without certificate", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := startTestNode(t, func(c *config.Config) {
				if tc.withTLS {
					c.TLS.CertFile, c.TLS.KeyFile = files.Cert, files.Key
				}
			})
			tok, err := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "").Api.CreateToken(&openapi.CreateTokenParams{})
			if err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
			var turns []string
			for _, s := range *tok.IceServers {
				if strings.HasPrefix(s.Urls, "turns:") {
					turns = append(turns, s.Urls)
				}
			}
			slices.Sort(turns)
			var want []string
			if tc.withTLS {
				want = []string{
					"turns:127.0.0.1:" + portOf(n.TURNAlt) + "?transport=tcp",
					"turns:127.0.0.1:" + portOf(n.TURNTLS) + "?transport=tcp",
				}
				slices.Sort(want)
			}
			if !slices.Equal(turns, want) {
				t.Fatalf("turns: URLs %q, want %q", turns, want)
			}
		})
	}
}

// TestTLSAPIWithSameCertificate: with api.tls the token API is served over
// HTTPS with the TURN certificate.
func TestTLSAPIWithSameCertificate(t *testing.T) {
	n, cert := startTLSTestNode(t, "turnkey test", func(c *config.Config) { c.API.TLS = true })
	if !strings.HasPrefix(n.API, "https://") {
		t.Fatalf("API at %s, want https", n.API)
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(n.API, "https://"), &tls.Config{
		RootCAs: pool(cert), ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"},
	})
	if err != nil {
		t.Fatalf("HTTPS handshake with the API: %v", err)
	}
	defer conn.Close()
	state := conn.ConnectionState()
	if got := state.PeerCertificates[0].SerialNumber; got.Cmp(cert.Serial) != 0 {
		t.Errorf("API certificate serial %v, want %v", got, cert.Serial)
	}
	if state.NegotiatedProtocol != "h2" {
		t.Errorf("API ALPN %q, want h2", state.NegotiatedProtocol)
	}
}
