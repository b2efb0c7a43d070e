package main

import (
	"encoding/json"
	"flag"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/internal/logbuf"
)

// testNode is a whole turnkey process (relay, API, admin) started in-process
// on ephemeral loopback ports, as `turnkey serve` would start it.
type testNode struct {
	*node
	API, Admin                          string // base URLs
	TURNUDP, TURNTCP, TURNAlt, TURNTLS  string // host:port ("" when not running)
	AccountSID, AuthToken, DataDir, Key string
	Secret                              string
	Logs                                *logbuf.Buffer
	Stdout                              *logbuf.Buffer
}

const testTURNSecret = "node-test-secret-0123456789abcdef"

// startTestNode starts a node on loopback with a config that mutate may
// adjust; it stops at the end of the test.
func startTestNode(t *testing.T, mutate func(c *config.Config)) *testNode {
	t.Helper()
	dir := t.TempDir()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	binder := config.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	l, err := config.Load(binder, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &l.Config
	c.DataDir = filepath.Join(dir, "data")
	c.Log.Level = "debug"
	c.DrainTimeout = config.Duration(2 * time.Second)
	c.TURN.ListenIP = config.AddrList{"127.0.0.1"}
	c.TURN.RelayIP = config.AddrList{"127.0.0.1"}
	c.TURN.UDPPort = freePort(t, "udp")
	c.TURN.TCPPort = c.TURN.UDPPort
	c.TURN.AltTCPPort = freePort(t, "tcp")
	c.TURN.TLSPort = freePort(t, "tcp")
	c.TURN.SocketsPerPort = 2
	c.TURN.MinPort, c.TURN.MaxPort = 62000, 62999
	c.TURN.Secrets = []config.Secret{testTURNSecret}
	c.TURN.PeerPolicy.Allow = []string{"127.0.0.1"}
	c.API.Listen = "127.0.0.1:0"
	c.Admin.Listen = "127.0.0.1:0"
	c.Store.RevocationPoll = config.Duration(200 * time.Millisecond)
	if mutate != nil {
		mutate(c)
	}
	if err := l.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	if err := config.ResolveDataDir(c); err != nil {
		t.Fatal(err)
	}
	logs, stdout := &logbuf.Buffer{}, &logbuf.Buffer{}
	level := new(slog.LevelVar)
	log := newLogger(c.Log, level, logs)
	n, err := startNode(l, log, level, stdout)
	if err != nil {
		t.Fatalf("start node: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		n.shutdown()
		if t.Failed() {
			t.Logf("node log:\n%s", logs.String())
		}
	})
	tn := &testNode{node: n, DataDir: c.DataDir, Secret: testTURNSecret, Logs: logs, Stdout: stdout}
	if len(c.TURN.Secrets) > 0 {
		tn.Secret = c.TURN.Secrets[0].Reveal()
	}
	if n.apiAddr != nil {
		tn.API = "http://" + n.apiAddr.String()
		if c.API.TLS {
			tn.API = "https://" + n.apiAddr.String()
		}
	}
	if n.adminAddr != nil {
		tn.Admin = "http://" + n.adminAddr.String()
	}
	if n.relay != nil {
		for _, ln := range n.relay.Listeners() {
			switch {
			case ln.Transport == "udp":
				tn.TURNUDP = ln.Addr.String()
			case ln.Scheme == "turns" && ln.Port == c.TURN.TLSPort:
				tn.TURNTLS = ln.Addr.String()
			case ln.Port == c.TURN.TCPPort:
				tn.TURNTCP = ln.Addr.String()
			case ln.Port == c.TURN.AltTCPPort:
				tn.TURNAlt = ln.Addr.String()
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(c.DataDir, "initial-account.json")); err == nil {
		var acct struct {
			AccountSID string `json:"account_sid"`
			AuthToken  string `json:"auth_token"`
		}
		if err := json.Unmarshal(data, &acct); err != nil {
			t.Fatal(err)
		}
		tn.AccountSID, tn.AuthToken = acct.AccountSID, acct.AuthToken
	}
	return tn
}

// freePort finds a loopback port free for the network right now.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		// A port free for both UDP and TCP, so the pair can share it.
		for range 50 {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := pc.LocalAddr().(*net.UDPAddr).Port
			pc.Close()
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
				l.Close()
				return port
			}
		}
		t.Fatal("no free port")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// admin is twilio-go authenticated with the node's initial account.
func (n *testNode) admin(t *testing.T) *twilio.RestClient {
	t.Helper()
	return twilioClient(t, n.API, n.AccountSID, n.AuthToken, "")
}

// newKey creates an API key on the node's initial account and returns the
// client that made it and twilio-go authenticated with the key.
func (n *testNode) newKey(t *testing.T) (admin *twilio.RestClient, key *openapi.ApiV2010NewKey, withKey *twilio.RestClient) {
	t.Helper()
	admin = n.admin(t)
	key, err := admin.Api.CreateNewKey(&openapi.CreateNewKeyParams{})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return admin, key, twilioClient(t, n.API, *key.Sid, *key.Secret, n.AccountSID)
}

// fetchToken fetches ICE servers and TURN credentials through c.
func fetchToken(t *testing.T, c *twilio.RestClient) *openapi.ApiV2010Token {
	t.Helper()
	tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

// startTLSTestNode starts a node with a fresh certificate for commonName as
// its TLS certificate; mutate may adjust the rest of the config.
func startTLSTestNode(t *testing.T, commonName string, mutate func(c *config.Config)) (*testNode, testCert) {
	t.Helper()
	files := newCertFiles(t)
	cert := newTestCert(t, commonName)
	files.write(t, cert)
	return startTestNode(t, func(c *config.Config) {
		c.TLS.CertFile, c.TLS.KeyFile = files.Cert, files.Key
		if mutate != nil {
			mutate(c)
		}
	}), cert
}

// udpTo resolves server and opens a loopback UDP socket to reach it, closed
// when the test ends.
func udpTo(t *testing.T, server string) (*net.UDPAddr, net.PacketConn) {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return to, pc
}
