package credentials

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTURNPasswordGoldenVector(t *testing.T) {
	// From the shared reference: secret golden_turn_static_secret, username
	// 1700086400:alice.
	if got := TURNPassword([]byte("golden_turn_static_secret"), "1700086400:alice"); got != "TKPToJJJ1ln3/R5fy3oJreE5dFs=" {
		t.Fatalf("password %q", got)
	}
	u, p := MintTURN([]byte("golden_turn_static_secret"), time.Unix(1700086400, 0), "alice")
	if u != "1700086400:alice" || p != "TKPToJJJ1ln3/R5fy3oJreE5dFs=" {
		t.Fatalf("MintTURN %q %q", u, p)
	}
}

func TestParseTURNUsername(t *testing.T) {
	acct := "AC" + strings.Repeat("0", 32)
	key := "SK" + strings.Repeat("1", 32)
	tok := "TK" + strings.Repeat("3", 32)
	sid := "a1b2c3"
	cases := []struct {
		in                              string
		err                             error
		account, cred, secret, identity string
	}{
		{in: "1700086400:alice", identity: "alice"},
		{in: "1700086400:alice:with:colons", identity: "alice:with:colons"},
		{in: "1700086400", identity: ""},
		{in: "1700086400:" + acct + "." + key + ".AAAAAAAAAAA", account: acct, cred: key},
		{in: "1700086400:" + acct + "." + tok + ".AAAAAAAAAAA.YWxpY2U", account: acct, cred: tok, identity: "alice"},
		{in: "1700086400:" + acct + "." + key + ".AAAAAAAAAAA.!!", err: ErrMalformedUsername},
		// The current form carries the signing secret's ID.
		{in: "1700086400:" + acct + "." + key + "." + sid + ".AAAAAAAAAAA", account: acct, cred: key, secret: sid},
		{in: "1700086400:" + acct + "." + tok + "." + sid + ".AAAAAAAAAAA.YWxpY2U", account: acct, cred: tok, secret: sid, identity: "alice"},
		{in: "1700086400:" + acct + "." + key + "." + sid + ".AAAAAAAAAAA.!!", err: ErrMalformedUsername},
		{in: "1700086400:" + acct + "." + key + "." + sid + ".", err: ErrMalformedUsername},
		{in: "1700086400:" + acct + "." + key + ".", err: ErrMalformedUsername},
		// Three parts after the IDs are nobody's form: a plain user.
		{in: "1700086400:" + acct + "." + key + "." + sid + ".AAAAAAAAAAA.YWxpY2U.x",
			identity: acct + "." + key + "." + sid + ".AAAAAAAAAAA.YWxpY2U.x"},
		// A third part that is not a secret ID is an old-form nonce.
		{in: "1700086400:" + acct + "." + key + ".A1B2C3.YWxpY2U", account: acct, cred: key, identity: "alice"},
		// Something else that merely looks structured is a plain user.
		{in: "1700086400:AC1.SK2.x", identity: "AC1.SK2.x"},
		{in: "", err: ErrMalformedUsername},
		{in: ":alice", err: ErrMalformedUsername},
		{in: "1700086400:", err: ErrMalformedUsername},
		{in: "17000x6400:alice", err: ErrMalformedUsername},
		{in: "-1:alice", err: ErrMalformedUsername},
		{in: "1234567890123:alice", err: ErrMalformedUsername},
		{in: "1700086400:" + strings.Repeat("a", MaxUsernameLen), err: ErrMalformedUsername},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseTURNUsername(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if u.AccountSID != tc.account || u.CredID != tc.cred || u.SecretID != tc.secret || u.Identity != tc.identity {
				t.Errorf("got %+v", u)
			}
			if u.Expiry.Unix() != 1700086400 {
				t.Errorf("expiry %v", u.Expiry)
			}
		})
	}
}

func TestIssuedRestRoundTripAndUniqueness(t *testing.T) {
	acct := "AC" + strings.Repeat("a", 32)
	key := "SK" + strings.Repeat("b", 32)
	sid := SecretID([]byte("a secret"))
	seen := map[string]bool{}
	for range 100 {
		rest, err := IssuedRest(acct, key, sid, "bob@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if seen[rest] {
			t.Fatal("issued the same username twice")
		}
		seen[rest] = true
		u, err := ParseTURNUsername("1700086400:" + rest)
		if err != nil || u.AccountSID != acct || u.CredID != key || u.SecretID != sid || u.Identity != "bob@example.com" {
			t.Fatalf("round trip %+v %v", u, err)
		}
		if u.QuotaKey() != acct+"/bob@example.com" {
			t.Fatalf("quota key %q", u.QuotaKey())
		}
	}
	bad := []struct{ acct, cred, secret, identity string }{
		{"ACxyz", key, sid, ""},
		{acct, "XX" + strings.Repeat("b", 32), sid, ""},
		{acct, key, "", ""},
		{acct, key, "A1B2C3", ""},
		{acct, key, sid + "0", ""},
		{acct, key, sid, strings.Repeat("i", 257)},
	}
	for _, b := range bad {
		if _, err := IssuedRest(b.acct, b.cred, b.secret, b.identity); err == nil {
			t.Errorf("IssuedRest(%q, %q, %q, %d bytes) accepted", b.acct, b.cred, b.secret, len(b.identity))
		}
	}
	// The longest identity still fits a STUN username.
	rest, err := IssuedRest(acct, key, sid, strings.Repeat("i", 256))
	if err != nil || len("1700086400:"+rest) > MaxUsernameLen {
		t.Fatalf("longest identity: %d bytes, %v", len(rest), err)
	}
}

func TestCheckExpiry(t *testing.T) {
	now := time.Unix(1700000000, 0)
	skew := 30 * time.Second
	cases := []struct {
		expiry time.Time
		err    error
	}{
		{now.Add(time.Hour), nil},
		{now.Add(-skew), nil},
		{now.Add(-skew - time.Second), ErrExpired},
		{now.Add(24*time.Hour + skew), nil},
		{now.Add(24*time.Hour + skew + time.Second), ErrTooFarAhead},
	}
	for _, tc := range cases {
		u := TURNUser{Expiry: tc.expiry}
		if err := u.CheckExpiry(now, 24*time.Hour, skew); !errors.Is(err, tc.err) {
			t.Errorf("expiry %v: %v, want %v", tc.expiry.Sub(now), err, tc.err)
		}
	}
}
