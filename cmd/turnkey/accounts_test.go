package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// TestSuspendingAnAccountRefusesItsCredentials: a parent suspends its
// subaccount through the API and the relay refuses the subaccount's TURN
// credentials within 5 s, then accepts them again once it is reactivated;
// the operator suspends the parent with `turnkey accounts suspend` (another
// process, through the store) and the parent's credentials stop at the
// relay and the API as well.
func TestSuspendingAnAccountRefusesItsCredentials(t *testing.T) {
	n := startTestNode(t, nil)
	peer := testnet.UDPEcho(t)
	parent := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "")
	sub, err := parent.Api.CreateAccount(&openapi.CreateAccountParams{FriendlyName: ptrTo("tenant")})
	if err != nil {
		t.Fatal(err)
	}
	subClient := twilioClient(t, n.API, *sub.Sid, *sub.AuthToken, "")
	tok, err := subClient.Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	subCreds := turnServers(tok)[0]
	if err := relayThrough(t, subCreds, peer); err != nil {
		t.Fatalf("before suspension: %v", err)
	}

	live := holdAllocation(t, subCreds)
	// The earlier check's allocation is deleted when its client's Refresh
	// with lifetime 0 lands.
	testenv.WaitFor(t, "just the held allocation to be live", 10*time.Second, func() bool {
		return n.relay.AllocationCount() == 1
	})
	if _, err := parent.Api.UpdateAccount(*sub.Sid, &openapi.UpdateAccountParams{Status: ptrTo("suspended")}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the suspended subaccount's live allocation to be closed", 5*time.Second, func() bool {
		return n.relay.AllocationCount() == 0
	})
	live.Close()
	testenv.WaitFor(t, "the relay to refuse a suspended subaccount's credentials", 5*time.Second, func() bool {
		return allocateRefused(t, subCreds)
	})
	if _, err := subClient.Api.CreateToken(&openapi.CreateTokenParams{}); err == nil {
		t.Error("a suspended subaccount got a token")
	}
	if _, err := parent.Api.UpdateAccount(*sub.Sid, &openapi.UpdateAccountParams{Status: ptrTo("active")}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the relay to accept a reactivated subaccount's credentials", 5*time.Second, func() bool {
		return relayThrough(t, subCreds, peer) == nil
	})

	ptok, err := parent.Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := run([]string{"accounts", "suspend", "-json", "-data-dir", n.DataDir, n.AccountSID}, &out, &errOut); code != 0 {
		t.Fatalf("accounts suspend exit %d: %s", code, errOut.String())
	}
	var acct struct{ Status string }
	if err := json.Unmarshal([]byte(out.String()), &acct); err != nil || acct.Status != "suspended" {
		t.Fatalf("accounts suspend printed %q: %v", out.String(), err)
	}
	for _, c := range []iceServer{turnServers(ptok)[0], subCreds} {
		testenv.WaitFor(t, "the relay to refuse credentials of a suspended parent and its subaccount", 5*time.Second, func() bool {
			return allocateRefused(t, c)
		})
	}
	if _, err := parent.Api.FetchAccount(n.AccountSID); err == nil {
		t.Error("a suspended account's auth token still authenticates")
	}

	out.Reset()
	if code := run([]string{"accounts", "list", "-data-dir", n.DataDir}, &out, &errOut); code != 0 || strings.Count(out.String(), "suspended") != 2 {
		t.Errorf("accounts list (%d):\n%s", code, out.String())
	}
	if code := run([]string{"accounts", "close", "-data-dir", n.DataDir, n.AccountSID}, &out, &errOut); code != 0 {
		t.Fatalf("accounts close: %s", errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"accounts", "reactivate", "-data-dir", n.DataDir, n.AccountSID}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "closed") {
		t.Errorf("reactivating a closed account: exit %d, %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"accounts", "create", "-json", "-parent", *sub.Sid, "-data-dir", n.DataDir}, &out, &errOut); code != 1 {
		t.Errorf("accounts create -parent <a subaccount>: exit %d", code)
	}
}

func ptrTo[T any](v T) *T { return &v }

// allocateRefused reports whether the relay refuses an Allocate with s
// (over UDP); an allocation it grants is released at once.
func allocateRefused(t *testing.T, s iceServer) bool {
	t.Helper()
	return allocateOnly(t, s) != nil
}

// allocateOnly allocates with s over UDP and releases the allocation at
// once, returning the Allocate's error: the Allocate alone, so a revocation
// landing mid-attempt cannot fail a test the way a relayed echo cut short
// by it would.
func allocateOnly(t *testing.T, s iceServer) error {
	t.Helper()
	cl, conn, err := dialUDPTURN(t, s)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer cl.Close()
	relayConn, err := cl.Allocate()
	if err == nil {
		relayConn.Close()
	}
	return err
}

// holdAllocation allocates with s over UDP and keeps the allocation until
// the returned client is closed (or the test ends).
func holdAllocation(t *testing.T, s iceServer) *turn.Client {
	t.Helper()
	cl, conn, err := dialUDPTURN(t, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); conn.Close() })
	if _, err := cl.Allocate(); err != nil {
		t.Fatal(err)
	}
	return cl
}

// dialUDPTURN makes a listening pion client for s's host over UDP; the
// caller closes both.
func dialUDPTURN(t *testing.T, s iceServer) (*turn.Client, net.PacketConn, error) {
	t.Helper()
	hostPort, _, _ := strings.Cut(strings.TrimPrefix(s.url, "turn:"), "?")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: hostPort, TURNServerAddr: hostPort, Conn: conn,
		Username: s.username, Password: s.credential, Realm: "turnkey",
		LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if err := cl.Listen(); err != nil {
		cl.Close()
		conn.Close()
		return nil, nil, err
	}
	return cl, conn, nil
}
