package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	otherAccount = "AC99999999999999999999999999999999"
	otherKey     = "SK99999999999999999999999999999999"
	otherSecret  = "other_api_key_secret_abcdefghijk"
)

// testKeys knows the golden key and a key of another account.
var testKeys = fakeKeys{
	goldenKey: {goldenAccount, goldenSecret},
	otherKey:  {otherAccount, otherSecret},
}

// forge signs arbitrary header and claims with HS256, for tokens no
// well-behaved minter would produce.
func forge(t *testing.T, header, claims map[string]any, secret string) string {
	t.Helper()
	tok, err := signHS256(header, claims, secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func accessHeader() map[string]any {
	return map[string]any{"alg": "HS256", "typ": "JWT", "cty": AccessTokenContentType}
}

func accessClaims(mod func(map[string]any)) map[string]any {
	c := map[string]any{
		"jti": goldenKey + "-1700000000", "iss": goldenKey, "sub": goldenAccount,
		"iat": 1700000000, "exp": 1700003600,
		"grants": map[string]any{"identity": "alice", "video": map[string]any{"room": "room1"}},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// signWith signs the golden access claims with another algorithm, using a
// key that algorithm accepts, so only the algorithm is wrong.
func signWith(t *testing.T, method jwt.SigningMethod, header map[string]any) string {
	t.Helper()
	var key any = []byte(goldenSecret)
	switch method.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	case *jwt.SigningMethodECDSA:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	if method == jwt.SigningMethodNone {
		key = jwt.UnsafeAllowNoneSignatureType
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims(accessClaims(nil)))
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyAccessTokenRefusals(t *testing.T) {
	now := goldenNow.Add(time.Minute)
	noCty := map[string]any{"alg": "HS256", "typ": "JWT"}
	tests := []struct {
		name   string
		token  string
		keys   KeyResolver
		now    time.Time
		opts   []VerifyOption
		reason string // "" means accepted
	}{
		{name: "golden", token: goldenAccessToken, reason: ""},
		{name: "alg none", token: signWith(t, jwt.SigningMethodNone, map[string]any{"cty": AccessTokenContentType}), reason: ReasonBadAlg},
		{name: "HS384", token: signWith(t, jwt.SigningMethodHS384, map[string]any{"cty": AccessTokenContentType}), reason: ""},
		{name: "HS512", token: signWith(t, jwt.SigningMethodHS512, map[string]any{"cty": AccessTokenContentType}), reason: ""},
		{name: "HS384 header, HS256 signature", token: forge(t, map[string]any{"alg": "HS384", "cty": AccessTokenContentType}, accessClaims(nil), goldenSecret), reason: ReasonBadSignature},
		{name: "lower-case hs256", token: forge(t, map[string]any{"alg": "hs256", "cty": AccessTokenContentType}, accessClaims(nil), goldenSecret), reason: ReasonBadAlg},
		{name: "RS256", token: signWith(t, jwt.SigningMethodRS256, map[string]any{"cty": AccessTokenContentType}), reason: ReasonBadAlg},
		{name: "ES256", token: signWith(t, jwt.SigningMethodES256, map[string]any{"cty": AccessTokenContentType}), reason: ReasonBadAlg},
		{name: "PS256", token: signWith(t, jwt.SigningMethodPS256, map[string]any{"cty": AccessTokenContentType}), reason: ReasonBadAlg},
		{name: "no alg", token: forge(t, map[string]any{"typ": "JWT", "cty": AccessTokenContentType}, accessClaims(nil), goldenSecret), reason: ReasonBadAlg},
		{name: "alg not a string", token: forge(t, map[string]any{"alg": 256, "cty": AccessTokenContentType}, accessClaims(nil), goldenSecret), reason: ReasonBadAlg},
		{name: "no cty", token: forge(t, noCty, accessClaims(nil), goldenSecret), reason: ReasonMissingCty},
		{name: "other cty", token: forge(t, map[string]any{"alg": "HS256", "cty": "JWT"}, accessClaims(nil), goldenSecret), reason: ReasonMissingCty},
		{name: "upper-case CTY key", token: forge(t, map[string]any{"alg": "HS256", "CTY": AccessTokenContentType}, accessClaims(nil), goldenSecret), reason: ReasonMissingCty},
		{name: "wrong secret", token: forge(t, accessHeader(), accessClaims(nil), "not_the_secret"), reason: ReasonBadSignature},
		{name: "tampered payload", token: tamper(t, goldenAccessToken), reason: ReasonBadSignature},
		{name: "signature stripped", token: strings.Join(strings.Split(goldenAccessToken, ".")[:2], ".") + ".", reason: ReasonBadSignature},
		{name: "deleted key", token: goldenAccessToken, keys: fakeKeys{otherKey: {otherAccount, otherSecret}}, reason: ReasonUnknownKey},
		{name: "key with empty secret", token: goldenAccessToken, keys: fakeKeys{goldenKey: {goldenAccount, ""}}, reason: ReasonUnknownKey},
		{name: "key of another account", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["iss"] = otherKey }), otherSecret), reason: ReasonWrongAccount},
		{name: "key of another account, forged", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["iss"] = otherKey }), "guess"), reason: ReasonBadSignature},
		{name: "expired beyond skew", token: goldenAccessToken, now: time.Unix(1700003600+31, 0), reason: ReasonExpired},
		{name: "expired within skew", token: goldenAccessToken, now: time.Unix(1700003600+29, 0), reason: ""},
		{name: "expired, no skew", token: goldenAccessToken, now: time.Unix(1700003600+1, 0), opts: []VerifyOption{WithClockSkew(0)}, reason: ReasonExpired},
		{name: "nbf ahead beyond skew", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["nbf"] = now.Unix() + 31 }), goldenSecret), reason: ReasonNotYetValid},
		{name: "nbf ahead within skew", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["nbf"] = now.Unix() + 29 }), goldenSecret), reason: ""},
		{name: "iat in the future", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["iat"] = now.Unix() + 120 }), goldenSecret), reason: ReasonNotYetValid},
		{name: "lifetime exactly 24h", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["exp"] = 1700000000 + 86400 }), goldenSecret), reason: ""},
		{name: "lifetime over 24h", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["exp"] = 1700000000 + 86401 }), goldenSecret), reason: ReasonLifetimeTooLong},
		{name: "lifetime from nbf over 24h", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["nbf"] = 1699990000; c["exp"] = 1699990000 + 86401 }), goldenSecret), reason: ReasonLifetimeTooLong},
		{name: "no iat nor nbf", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { delete(c, "iat") }), goldenSecret), reason: ""},
		{name: "no iat nor nbf, too long", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { delete(c, "iat"); c["exp"] = now.Unix() + 86400 + 31 }), goldenSecret), reason: ReasonLifetimeTooLong},
		{name: "no exp", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { delete(c, "exp") }), goldenSecret), reason: ReasonMalformed},
		{name: "exp a string", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["exp"] = "soon" }), goldenSecret), reason: ReasonMalformed},
		{name: "no iss", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { delete(c, "iss") }), goldenSecret), reason: ReasonMalformed},
		{name: "no sub", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { delete(c, "sub") }), goldenSecret), reason: ReasonMalformed},
		{name: "grants not an object", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["grants"] = "all" }), goldenSecret), reason: ReasonMalformed},
		{name: "oversized", token: forge(t, accessHeader(), accessClaims(func(c map[string]any) { c["pad"] = strings.Repeat("x", MaxTokenBytes) }), goldenSecret), reason: ReasonMalformed},
		{name: "empty", token: "", reason: ReasonMalformed},
		{name: "two segments", token: "eyJhbGciOiJIUzI1NiJ9.e30", reason: ReasonMalformed},
		{name: "four segments", token: goldenAccessToken + ".x", reason: ReasonMalformed},
		{name: "header not base64", token: "!!!." + strings.SplitN(goldenAccessToken, ".", 2)[1], reason: ReasonMalformed},
		{name: "header not an object", token: "WzFd." + strings.SplitN(goldenAccessToken, ".", 2)[1], reason: ReasonMalformed},
		{name: "payload not base64", token: strings.Split(goldenAccessToken, ".")[0] + ".!!!.abc", reason: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := tt.keys
			if keys == nil {
				keys = testKeys
			}
			at := tt.now
			if at.IsZero() {
				at = now
			}
			_, err := VerifyAccessToken(context.Background(), tt.token, keys, at, tt.opts...)
			wantReason(t, "VerifyAccessToken", err, tt.reason)
			if err != nil {
				for _, secret := range []string{goldenSecret, otherSecret} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error message %q reveals a secret", err)
					}
				}
			}
		})
	}
}

// tamper flips the identity in the payload, keeping the signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		t.Fatal(err)
	}
	claims["grants"].(map[string]any)["identity"] = "mallory"
	forged := forge(t, accessHeader(), claims, "x")
	return strings.Join(strings.Split(forged, ".")[:2], ".") + "." + parts[2]
}

func TestAccessTokenRoundTrip(t *testing.T) {
	player := json.RawMessage(`{"playbackGrant":{"requestCredentials":null,"playbackUrl":"https://x.example/p?a=1&b=2","playerStreamerSid":"VJ3f"}}`)
	tests := []struct {
		name   string
		grants Grants
	}{
		{"identity only", Grants{Identity: "alice"}},
		{"video room", Grants{Identity: "alice", Video: &VideoGrant{Room: "room1"}}},
		{"video any room", Grants{Identity: "alice", Video: &VideoGrant{}}},
		{"voice everything", Grants{Identity: "bob", Voice: &VoiceGrant{
			IncomingAllow: true, OutgoingApplicationSID: goldenAppSID,
			OutgoingParams:    map[string]any{"to": "+15551234567", "note": "a&b <c>"},
			PushCredentialSID: "CR00000000000000000000000000000000", EndpointID: "bob-phone",
		}}},
		{"voice outgoing only", Grants{Identity: "bob", Voice: &VoiceGrant{OutgoingApplicationSID: goldenAppSID}}},
		{"voice incoming only", Grants{Identity: "bob", Voice: &VoiceGrant{IncomingAllow: true}}},
		{"chat", Grants{Identity: "carol", Chat: &ChatGrant{
			ServiceSID: "IS00000000000000000000000000000000", EndpointID: "carol:web",
			DeploymentRoleSID: "RL00000000000000000000000000000000", PushCredentialSID: "CR11111111111111111111111111111111",
		}}},
		{"sync", Grants{Identity: "dave", Sync: &SyncGrant{ServiceSID: "IS11111111111111111111111111111111", EndpointID: "dave:1"}}},
		{"task router", Grants{Identity: "erin", TaskRouter: &TaskRouterGrant{
			WorkspaceSID: "WS00000000000000000000000000000000", WorkerSID: "WK00000000000000000000000000000000", Role: "worker",
		}}},
		{"player", Grants{Identity: "frank", Player: player}},
		{"all at once", Grants{
			Identity: "gina", Voice: &VoiceGrant{IncomingAllow: true}, Video: &VideoGrant{Room: "r"},
			Chat: &ChatGrant{ServiceSID: "IS0"}, Sync: &SyncGrant{ServiceSID: "IS1"},
			TaskRouter: &TaskRouterGrant{Role: "supervisor"}, Player: player,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := AccessToken{
				AccountSID: goldenAccount, KeySID: goldenKey, Secret: goldenSecret,
				TTL: 2 * time.Hour, NotBefore: goldenNow.Add(-time.Minute), Region: "de1", Grants: tt.grants,
			}
			tok, err := in.Sign(goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyAccessToken(context.Background(), tok, testKeys, goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Grants, tt.grants) {
				t.Errorf("grants = %#v, want %#v", got.Grants, tt.grants)
			}
			if got.Region != "de1" || got.NotBefore.Unix() != goldenNow.Unix()-60 || got.ExpiresAt.Unix() != goldenNow.Unix()+7200 {
				t.Errorf("region %q nbf %v exp %v", got.Region, got.NotBefore, got.ExpiresAt)
			}
		})
	}
}

func TestAccessTokenWireForm(t *testing.T) {
	tok, err := AccessToken{
		AccountSID: goldenAccount, KeySID: goldenKey, Secret: goldenSecret, Region: "ie1",
		Grants: Grants{Identity: "a&b", Voice: &VoiceGrant{OutgoingParams: map[string]any{"dropped": "no app"}}},
	}.Sign(goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	var hdr, payload string
	for i, dst := range []*string{&hdr, &payload} {
		var raw json.RawMessage
		if err := decodeSegment(parts[i], &raw); err != nil {
			t.Fatal(err)
		}
		*dst = string(raw)
	}
	if want := `{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1","twr":"ie1"}`; hdr != want {
		t.Errorf("header = %s, want %s", hdr, want)
	}
	// Params without an application SID are dropped like twilio-node does,
	// incoming is absent unless allowed, and & is not HTML-escaped.
	if want := `"grants":{"identity":"a&b","voice":{}}`; !strings.Contains(payload, want) {
		t.Errorf("payload = %s, want it to contain %s", payload, want)
	}
}

func TestAccessTokenSignRefusals(t *testing.T) {
	base := goldenAccessInput()
	tests := []struct {
		name string
		mod  func(*AccessToken)
		want string
	}{
		{"no account", func(a *AccessToken) { a.AccountSID = "" }, "account SID"},
		{"no key", func(a *AccessToken) { a.KeySID = "" }, "key SID"},
		{"no secret", func(a *AccessToken) { a.Secret = "" }, "secret"},
		{"no identity", func(a *AccessToken) { a.Grants.Identity = "" }, "identity"},
		{"ttl over 24h", func(a *AccessToken) { a.TTL = 25 * time.Hour }, "maximum"},
		{"negative ttl", func(a *AccessToken) { a.TTL = -time.Hour }, "at least"},
		{"player not an object", func(a *AccessToken) { a.Grants.Player = json.RawMessage(`[1]`) }, "player"},
		{"nbf after exp", func(a *AccessToken) { a.NotBefore = goldenNow.Add(2 * time.Hour) }, "not before expiry"},
		{"window from nbf too long", func(a *AccessToken) { a.TTL = 24 * time.Hour; a.NotBefore = goldenNow.Add(-time.Hour) }, "valid for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.mod(&in)
			_, err := in.Sign(goldenNow)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
