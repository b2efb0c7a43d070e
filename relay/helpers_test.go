package relay

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/turnkey-dev/turnkey/credentials"
)

// issuedCreds mints credentials shaped as the API issues them, valid for an
// hour.
func issuedCreds(t testing.TB, account, key, identity string) (string, string) {
	t.Helper()
	rest, err := credentials.IssuedRest(account, key, testSecretID, identity)
	if err != nil {
		t.Fatal(err)
	}
	return creds(rest, time.Hour)
}

// revocation is a Config.Revoked that revokes key once set.
type revocation struct {
	key string
	set atomic.Bool
}

func (r *revocation) revoked(id string) bool { return r.set.Load() && id == r.key }

// allocated dials a pion client to server over transport with credentials
// for user (valid for an hour) and allocates; the relayed socket is closed
// when the test ends.
func allocated(t *testing.T, transport, server, user string) (*turn.Client, net.PacketConn) {
	t.Helper()
	name, pass := creds(user, time.Hour)
	return allocatedAs(t, transport, server, name, pass)
}

// allocatedAs is allocated with the given credentials, and a permission for
// each of peers.
func allocatedAs(t *testing.T, transport, server, user, pass string, peers ...net.Addr) (*turn.Client, net.PacketConn) {
	t.Helper()
	client := dialClient(t, transport, server, user, pass, testRealm)
	relayConn, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate over %s as %s: %v", transport, user, err)
	}
	t.Cleanup(func() { relayConn.Close() })
	if len(peers) > 0 {
		if err := client.CreatePermission(peers...); err != nil {
			t.Fatalf("create permission for %v: %v", peers, err)
		}
	}
	return client, relayConn
}
