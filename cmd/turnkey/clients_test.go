package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// twilioClient is the real twilio-go helper library pointed at the node: its
// HTTP client rewrites scheme and host, as it has no base-URL setting.
func twilioClient(t *testing.T, base, username, password, accountSID string) *twilio.RestClient {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c := twilio.NewRestClientWithParams(twilio.ClientParams{Username: username, Password: password, AccountSid: accountSID})
	c.RequestHandler.Client.(*client.Client).HTTPClient = &http.Client{
		Timeout:   10 * time.Second,
		Transport: rewriteHost{target: target},
	}
	return c
}

type rewriteHost struct{ target *url.URL }

func (rw rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rw.target.Scheme, rw.target.Host, rw.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// iceServer is one TURN URL with its credentials.
type iceServer struct{ url, username, credential string }

func turnServers(tok *openapi.ApiV2010Token) []iceServer {
	var out []iceServer
	for _, s := range *tok.IceServers {
		if strings.HasPrefix(s.Urls, "turn:") {
			out = append(out, iceServer{s.Urls, s.Username, s.Credential})
		}
	}
	return out
}

// relayThrough allocates on the TURN URL with the credentials and sends a
// datagram to an echo peer and back; it returns the allocation error.
func relayThrough(t *testing.T, s iceServer, peer *net.UDPAddr) error {
	t.Helper()
	u := strings.TrimPrefix(s.url, "turn:")
	hostPort, query, _ := strings.Cut(u, "?")
	var conn net.PacketConn
	if query == "transport=tcp" {
		c, err := net.DialTimeout("tcp", hostPort, 5*time.Second)
		if err != nil {
			return err
		}
		conn = turn.NewSTUNConn(c)
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		conn = c
	}
	defer conn.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: hostPort, TURNServerAddr: hostPort, Conn: conn,
		Username: s.username, Password: s.credential, Realm: "turnkey",
		RTO: 200 * time.Millisecond, LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		return err
	}
	relayConn, err := cl.Allocate()
	if err != nil {
		return err
	}
	defer relayConn.Close()
	payload := []byte("via " + s.url)
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := relayConn.WriteTo(payload, peer); err != nil {
			return err
		}
		_ = relayConn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := relayConn.ReadFrom(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(buf[:n], payload) {
			t.Fatalf("echo %q, want %q", buf[:n], payload)
		}
		return nil
	}
	// An error, not a failure: a caller waiting for a revocation sees the
	// allocation closed between its Allocate and its echo.
	return fmt.Errorf("no echo through %s", s.url)
}

// TestTwilioGoTokensRelayOnEveryTransport: credentials from the
// Twilio-compatible endpoint, fetched by twilio-go with the auth token and
// with an API key, allocate and relay on every TURN URL the node lists.
func TestTwilioGoTokensRelayOnEveryTransport(t *testing.T) {
	n := startTestNode(t, nil)
	peer := testnet.UDPEcho(t)
	admin, _, withKey := n.newKey(t)
	for name, c := range map[string]*twilio.RestClient{"auth token": admin, "api key": withKey} {
		t.Run(name, func(t *testing.T) {
			ttl := 600
			tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: &ttl})
			if err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
			servers := turnServers(tok)
			want := []string{
				"turn:127.0.0.1:" + portOf(n.TURNUDP) + "?transport=udp",
				"turn:127.0.0.1:" + portOf(n.TURNTCP) + "?transport=tcp",
				"turn:127.0.0.1:" + portOf(n.TURNAlt) + "?transport=tcp",
			}
			var got []string
			for _, s := range servers {
				got = append(got, s.url)
			}
			// UDP first; the order among TCP ports follows their numbers,
			// which are random here.
			if len(got) != len(want) || got[0] != want[0] || !slices.Contains(got, want[1]) || !slices.Contains(got, want[2]) {
				t.Fatalf("TURN URLs %v, want %v", got, want)
			}
			for _, s := range servers {
				if err := relayThrough(t, s, peer); err != nil {
					t.Errorf("relay through %s: %v", s.url, err)
				}
			}
		})
	}
}

// TestIssuedCredentialsExpire: after the Ttl the same credentials are
// refused (with the clock-skew allowance set to zero for the test).
func TestIssuedCredentialsExpire(t *testing.T) {
	n := startTestNode(t, func(c *config.Config) { c.TURN.ClockSkew = 0 })
	peer := testnet.UDPEcho(t)
	c := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "")
	ttl := 1
	tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: &ttl})
	if err != nil {
		t.Fatal(err)
	}
	if *tok.Ttl != "1" {
		t.Fatalf("ttl %q", *tok.Ttl)
	}
	s := turnServers(tok)[0]
	testenv.WaitFor(t, "credentials with Ttl=1 refused once expired", 10*time.Second, func() bool {
		return relayThrough(t, s, peer) != nil
	})
}

func portOf(hostPort string) string {
	_, p, _ := net.SplitHostPort(hostPort)
	return p
}
