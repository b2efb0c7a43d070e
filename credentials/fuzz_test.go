package credentials

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verification takes raw Authorization headers from the internet; whatever
// arrives must come back as a value or an error, never a panic.

func FuzzVerifyAccessToken(f *testing.F) {
	f.Add(goldenAccessToken, int64(1700000000))
	f.Add(goldenCapabilityToken, int64(1700000000))
	f.Add(strings.Split(goldenAccessToken, ".")[0]+".e30.", int64(0))
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", int64(1))
	f.Add("eyJhbGciOiJIUzI1NiIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJleHAiOjFlMzA4LCJpYXQiOi0xZTMwOCwiZ3JhbnRzIjpudWxsfQ.x", int64(-1))
	f.Add("..", int64(0))
	f.Add(`{"iss":"`+goldenKey+`","sub":"`+goldenAccount+`","iat":1700000000,"exp":1700003600,"nbf":1e300,"grants":{"voice":{"outgoing":{"params":null}},"player":null}}`, int64(1700000000))
	f.Fuzz(func(t *testing.T, raw string, now int64) {
		c, err := VerifyAccessToken(context.Background(), raw, testKeys, time.Unix(now, 0))
		if err == nil && (c == nil || c.ExpiresAt == nil) {
			t.Fatalf("accepted token without claims or exp: %+v", c)
		}
		// Random bytes rarely carry a valid signature; sign the input as a
		// payload too so claims handling after the signature check is
		// exercised as well.
		signed := signedPayload(accessHeaderSegment, raw, goldenSecret)
		if c, err := VerifyAccessToken(context.Background(), signed, testKeys, time.Unix(now, 0)); err == nil && (c == nil || c.ExpiresAt == nil) {
			t.Fatalf("accepted signed payload %q without exp: %+v", raw, c)
		}
		if _, err := VerifyBearer(context.Background(), raw, testKeys, testAccounts, time.Unix(now, 0)); err == nil && len(raw) > MaxTokenBytes {
			t.Fatal("accepted an oversized token")
		}
	})
}

func FuzzVerifyCapabilityToken(f *testing.F) {
	f.Add(goldenCapabilityToken, int64(1700000000))
	f.Add(goldenAccessToken, int64(1700000000))
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6InNjb3BlOmNsaWVudDpvdXRnb2luZz9hcHBQYXJhbXM9JTI1In0.x", int64(0))
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6MX0.", int64(0))
	f.Add(`{"scope":"scope:client:outgoing?appSid=AP1&appParams=a%3D%25","iss":"`+goldenAccount+`","iat":1700000000,"exp":1700003600}`, int64(1700000000))
	f.Fuzz(func(t *testing.T, raw string, now int64) {
		c, err := VerifyCapabilityToken(context.Background(), raw, testAccounts, time.Unix(now, 0))
		if err == nil && (c == nil || c.ExpiresAt == nil) {
			t.Fatalf("accepted token without claims or exp: %+v", c)
		}
		signed := signedPayload(capabilityHeaderSegment, raw, goldenAuthToken)
		if c, err := VerifyCapabilityToken(context.Background(), signed, testAccounts, time.Unix(now, 0)); err == nil && (c == nil || c.ExpiresAt == nil) {
			t.Fatalf("accepted signed payload %q without exp: %+v", raw, c)
		}
		// Scope parsing sees attacker text only after the signature check
		// above, so exercise it directly too.
		_, _ = ParseScopes(raw)
	})
}

func FuzzParseTURNUsername(f *testing.F) {
	for _, s := range []string{
		"1700086400:alice",
		"1700086400:AC00000000000000000000000000000000.SK11111111111111111111111111111111.AAAAAAAAAAA",
		"1700086400:AC00000000000000000000000000000000.TK33333333333333333333333333333333.AAAAAAAAAAA.YWxpY2U",
		"1700086400:AC00000000000000000000000000000000.SK11111111111111111111111111111111.x.!!",
		"1700086400:AC00000000000000000000000000000000.SK11111111111111111111111111111111.a1b2c3.AAAAAAAAAAA",
		"1700086400:AC00000000000000000000000000000000.TK33333333333333333333333333333333.a1b2c3.AAAAAAAAAAA.YWxpY2U",
		":", "999999999999:", "-1:a", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		u, err := ParseTURNUsername(username)
		if err != nil {
			return
		}
		if (u.Rest == "") != !strings.Contains(username, ":") || len(username) > MaxUsernameLen {
			t.Fatalf("accepted %q as %+v", username, u)
		}
		if u.AccountSID != "" && (!ValidSID(u.AccountSID, "AC") || u.CredID == "") {
			t.Fatalf("inconsistent parse of %q: %+v", username, u)
		}
		if u.SecretID != "" && (u.AccountSID == "" || !validSecretID(u.SecretID) || u.Nonce == "") {
			t.Fatalf("inconsistent secret ID in %q: %+v", username, u)
		}
		_ = u.CheckExpiry(time.Unix(1700000000, 0), 24*time.Hour, 30*time.Second)
		_ = u.QuotaKey()
	})
}

var (
	accessHeaderSegment     = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}`))
	capabilityHeaderSegment = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
)

// signedPayload makes a correctly signed HS256 token out of arbitrary
// payload bytes.
func signedPayload(headerSegment, payload, secret string) string {
	signing := headerSegment + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, _ := jwt.SigningMethodHS256.Sign(signing, []byte(secret))
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}
