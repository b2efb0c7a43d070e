package relay

import (
	"strings"
	"sync"
	"testing"
)

// TestSuspendedAccountIsRefused: when an account's SID is in the revocation
// feed (suspended or closed), every credential it issued is refused, under
// whichever key or auth token, on Allocate and on a live allocation's
// Refresh; other accounts are not touched, and reinstating the account
// lets its credentials in again.
func TestSuspendedAccountIsRefused(t *testing.T) {
	suspended, other := "AC"+strings.Repeat("3", 32), "AC"+strings.Repeat("4", 32)
	var mu sync.Mutex
	revoked := map[string]bool{}
	setRevoked := func(id string, on bool) {
		mu.Lock()
		defer mu.Unlock()
		revoked[id] = on
	}
	ts := startServer(t, func(c *Config) {
		c.Revoked = func(id string) bool {
			mu.Lock()
			defer mu.Unlock()
			return revoked[id]
		}
	})
	mint := func(account, credID, identity string) (string, string) {
		t.Helper()
		return issuedCreds(t, account, credID, identity)
	}
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			setRevoked(suspended, false)
			server := ts.addr("turn", transport, 0)
			keyUser, keyPass := mint(suspended, "SK"+strings.Repeat("5", 32), "viakey-"+transport)
			tokUser, tokPass := mint(suspended, "TK"+strings.Repeat("6", 32), "viatoken-"+transport)
			otherUser, otherPass := mint(other, "SK"+strings.Repeat("7", 32), "other-"+transport)
			live := newRawClient(t, transport, server, keyUser, keyPass, testRealm)
			if code := live.allocate(); code != 0 {
				t.Fatalf("allocate before suspension: %d", code)
			}
			otherLive := newRawClient(t, transport, server, otherUser, otherPass, testRealm)
			if code := otherLive.allocate(); code != 0 {
				t.Fatalf("other account's allocate: %d", code)
			}

			setRevoked(suspended, true)
			if code := live.refresh(600); code == 0 {
				t.Error("refresh accepted for a suspended account")
			}
			for _, c := range [][2]string{{keyUser, keyPass}, {tokUser, tokPass}} {
				if code := rawAllocate(t, transport, server, c[0], c[1], testRealm); code != 401 {
					t.Errorf("allocate for a suspended account: %d, want 401", code)
				}
			}
			if code := otherLive.refresh(600); code != 0 {
				t.Errorf("another account's refresh refused: %d", code)
			}

			setRevoked(suspended, false)
			if code := rawAllocate(t, transport, server, tokUser, tokPass, testRealm); code != 0 {
				t.Errorf("allocate after reinstatement: %d", code)
			}
		})
	}
}
