package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// TestSecretChosenByID: an issued username names the secret that signed it
// and only that one verifies it; usernames without an ID (older issued
// ones, other issuers') are tried against every listed secret; a reload's
// swap of the keyring applies to the next request.
func TestSecretChosenByID(t *testing.T) {
	const older = "older-secret-0123456789abcdef"
	const unknown = "unknown-secret-0123456789abcdef"
	ring := testRing(t, testSecret, older)
	ts := startServer(t, func(c *Config) { c.Keyring = ring })
	server := ts.addr("turn", "udp", 0)
	peer := testnet.UDPEcho(t)
	acct, key := "AC"+strings.Repeat("c", 32), "SK"+strings.Repeat("d", 32)
	issued := func(t *testing.T, idOf, signWith string) (string, string) {
		rest, err := credentials.IssuedRest(acct, key, credentials.SecretID([]byte(idOf)), "carol")
		if err != nil {
			t.Fatal(err)
		}
		return credentials.MintTURN([]byte(signWith), time.Now().Add(time.Hour), rest)
	}
	legacy := func(t *testing.T, _, signWith string) (string, string) {
		// The form issued before usernames carried a secret ID.
		return credentials.MintTURN([]byte(signWith), time.Now().Add(time.Hour), acct+"."+key+".AAAAAAAAAAA")
	}
	foreign := func(t *testing.T, _, signWith string) (string, string) {
		return credentials.MintTURN([]byte(signWith), time.Now().Add(time.Hour), "dave")
	}
	cases := []struct {
		name           string
		mint           func(t *testing.T, idOf, signWith string) (string, string)
		idOf, signWith string
		ok             bool
	}{
		{"issued/primary", issued, testSecret, testSecret, true},
		{"issued/older", issued, older, older, true},
		{"issued/names primary, signed by older", issued, testSecret, older, false},
		{"issued/names a secret not listed", issued, unknown, unknown, false},
		{"legacy issued/older", legacy, "", older, true},
		{"legacy issued/unknown", legacy, "", unknown, false},
		{"foreign/older", foreign, "", older, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := tc.mint(t, tc.idOf, tc.signWith)
			if !tc.ok {
				if code := rawAllocate(t, "udp", server, user, pass, testRealm); code != 401 {
					t.Fatalf("Allocate answered %d, want 401", code)
				}
				return
			}
			_, relayConn := allocatedAs(t, "udp", server, user, pass, peer)
			roundTrip(t, relayConn, peer, []byte("by id"))
		})
	}

	// A reload drops the older secret: what it signed stops verifying at
	// once, whatever form the username has.
	ring.Store(testRing(t, testSecret).Load())
	for name, mint := range map[string]func(*testing.T, string, string) (string, string){
		"issued": issued, "legacy": legacy, "foreign": foreign} {
		user, pass := mint(t, older, older)
		if code := rawAllocate(t, "udp", server, user, pass, testRealm); code != 401 {
			t.Errorf("%s: a dropped secret still verifies (%d)", name, code)
		}
	}
	user, pass := issued(t, testSecret, testSecret)
	if code := rawAllocate(t, "udp", server, user, pass, testRealm); code != 0 {
		t.Errorf("the remaining secret is refused: %d", code)
	}
}

// TestSecretPicker: which secrets are tried for a username, and which one
// authenticate derives the key from; hints are kept only for usernames
// without a secret ID.
func TestSecretPicker(t *testing.T) {
	const older = "older-secret-0123456789abcdef"
	ring := testRing(t, testSecret, older)
	p := newSecretPicker(ring)
	k := ring.Load()
	primary, second := k.Primary(), k.All()[1]
	parse := func(username string) *credentials.TURNUser {
		u, err := credentials.ParseTURNUsername(username)
		if err != nil {
			t.Fatal(err)
		}
		return &u
	}
	acct, key := "AC"+strings.Repeat("c", 32), "SK"+strings.Repeat("d", 32)
	cases := []struct {
		name       string
		username   string
		candidates int
		verifiedBy *credentials.TURNSecret
		hinted     bool
		auth       *credentials.TURNSecret
	}{
		{"names the second", "1:" + acct + "." + key + "." + second.ID() + ".AAAAAAAAAAA", 1, second, false, second},
		{"names one not listed", "1:" + acct + "." + key + "." + credentials.SecretID([]byte("x")) + ".AAAAAAAAAAA", 0, nil, false, primary},
		{"legacy, verified by the second", "1:" + acct + "." + key + ".AAAAAAAAAAA", 2, second, true, second},
		{"foreign, verified by the second", "1:erin", 2, second, true, second},
		{"foreign, not verified", "1:frank", 2, nil, false, primary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := parse(tc.username)
			if got := len(p.candidates(u)); got != tc.candidates {
				t.Fatalf("%d candidates, want %d", got, tc.candidates)
			}
			if tc.verifiedBy != nil {
				p.verified(u, tc.username, tc.verifiedBy)
			}
			p.mu.Lock()
			_, hinted := p.hints[tc.username]
			p.mu.Unlock()
			if hinted != tc.hinted {
				t.Errorf("hinted %v, want %v", hinted, tc.hinted)
			}
			if got := p.forAuth(u, tc.username); got != tc.auth {
				t.Errorf("authenticates with %v, want %v", got, tc.auth)
			}
			if got := p.forAuth(u, tc.username); tc.hinted && got != primary {
				t.Errorf("a hint was used twice: %v", got)
			}
		})
	}
	// One secret: nothing to remember.
	single := newSecretPicker(testRing(t, testSecret))
	u := parse("1:gina")
	single.verified(u, "1:gina", single.ring.Load().Primary())
	if len(single.hints) != 0 {
		t.Error("a hint was kept with one secret listed")
	}
}
