package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

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
// authenticate derives the key from: the one it names, else the one that
// verified its last request, which the user cache keeps; a secret merely
// tried is never kept.
func TestSecretPicker(t *testing.T) {
	const older, unknown = "older-secret-0123456789abcdef", "unknown-secret-0123456789abcdef"
	s := newAuthBenchServer(t)
	ring := testRing(t, testSecret, older)
	s.secrets.ring.Store(ring.Load())
	k := ring.Load()
	primary, second := k.Primary(), k.All()[1]
	acct, key := "AC"+strings.Repeat("c", 32), "SK"+strings.Repeat("d", 32)
	cases := []struct {
		name       string
		rest       string
		signWith   string
		candidates int
		verified   bool
		auth       *credentials.TURNSecret
	}{
		{"names the second", acct + "." + key + "." + second.ID() + ".AAAAAAAAAAA", older, 1, true, second},
		{"names one not listed", acct + "." + key + "." + credentials.SecretID([]byte(unknown)) + ".AAAAAAAAAAA", unknown, 0, false, primary},
		{"legacy, verified by the second", acct + "." + key + ".AAAAAAAAAAA", older, 2, true, second},
		{"foreign, verified by the second", "erin", older, 2, true, second},
		{"foreign, not verified", "frank", unknown, 2, false, primary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := credentials.MintTURN([]byte(tc.signWith), time.Now().Add(time.Hour), tc.rest)
			msg := &stun.Message{Raw: signed(t, stun.MethodAllocate, user, pass, stun.NewNonce("n"))}
			if err := msg.Decode(); err != nil {
				t.Fatal(err)
			}
			e, err := s.users.get(user)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(s.secrets.candidates(&e.user)); got != tc.candidates {
				t.Fatalf("%d candidates, want %d", got, tc.candidates)
			}
			if _, got := s.verifyIntegrity(msg); (got != nil) != tc.verified {
				t.Fatalf("verified %v, want %v", got != nil, tc.verified)
			}
			e, _ = s.users.get(user)
			if !tc.verified && e.secret != nil {
				t.Errorf("a secret merely tried was kept: %v", e.secret)
			}
			// Every authentication of the allocation, not just the next.
			for range 2 {
				if got := s.secrets.forAuth(e); got != tc.auth {
					t.Errorf("authenticates with %v, want %v", got, tc.auth)
				}
			}
		})
	}
	// A reload that drops the secret which verified falls back to the
	// primary (whose key then fails pion's check, as it should).
	user, pass := credentials.MintTURN([]byte(older), time.Now().Add(time.Hour), "gina")
	msg := &stun.Message{Raw: signed(t, stun.MethodAllocate, user, pass, stun.NewNonce("n"))}
	if err := msg.Decode(); err != nil {
		t.Fatal(err)
	}
	if _, key := s.verifyIntegrity(msg); key == nil {
		t.Fatal("not verified")
	}
	s.secrets.ring.Store(testRing(t, testSecret).Load())
	e, _ := s.users.get(user)
	if got := s.secrets.forAuth(e); got != s.secrets.ring.Load().Primary() {
		t.Errorf("a dropped secret still picked: %v", got)
	}
}
