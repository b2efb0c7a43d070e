package credentials

import (
	"cmp"
	"context"
	"encoding/base64"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signAlg signs header and claims with an HMAC method of the caller's
// choice; the header's alg is set to match.
func signAlg(t *testing.T, m jwt.SigningMethod, header, claims map[string]any, secret string) string {
	t.Helper()
	h := map[string]any{}
	for k, v := range header {
		h[k] = v
	}
	h["alg"] = m.Alg()
	hb, err := marshalJSON(h)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := marshalJSON(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)
	sig, err := m.Sign(signing, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestHelperLibraryAccessTokenShapes verifies claim sets built the way each
// official helper library builds them (read from their source): which of
// iat and nbf they emit, and which algorithms they sign with.
func TestHelperLibraryAccessTokenShapes(t *testing.T) {
	now := goldenNow
	u := now.Unix()
	grants := map[string]any{"identity": "alice", "video": map[string]any{"room": "room1"}}
	jti := goldenKey + "-" + strconv.FormatInt(u, 10)
	fpa := map[string]any{"typ": "JWT", "cty": AccessTokenContentType}
	claims := func(pairs ...any) map[string]any {
		c := map[string]any{"jti": jti, "iss": goldenKey, "sub": goldenAccount, "grants": grants}
		for i := 0; i < len(pairs); i += 2 {
			if pairs[i+1] == nil {
				delete(c, pairs[i].(string))
				continue
			}
			c[pairs[i].(string)] = pairs[i+1]
		}
		return c
	}
	day := int64(MaxTokenLifetime / time.Second)
	skew := int64(DefaultClockSkew / time.Second)
	tests := []struct {
		name   string
		method jwt.SigningMethod
		claims map[string]any
		secret string
		reason string
	}{
		// Accepted: each library's default output.
		{name: "twilio-php toJWT (no iat, no nbf)", method: jwt.SigningMethodHS256, claims: claims("exp", u+3600)},
		{name: "twilio-php HS384", method: jwt.SigningMethodHS384, claims: claims("exp", u+3600)},
		{name: "twilio-php HS512", method: jwt.SigningMethodHS512, claims: claims("exp", u+3600)},
		{name: "twilio-java (iss, exp, grants, jti, sub)", method: jwt.SigningMethodHS256, claims: claims("exp", u+3600)},
		{name: "twilio-csharp (iss, exp, jti, sub, grants)", method: jwt.SigningMethodHS256, claims: claims("exp", u+86400)},
		{name: "twilio-python nbf=None", method: jwt.SigningMethodHS256, claims: claims("exp", u+3600)},
		{name: "twilio-python >= 6 (nbf)", method: jwt.SigningMethodHS256, claims: claims("nbf", u, "exp", u+3600)},
		{name: "twilio-go (nbf = now)", method: jwt.SigningMethodHS256, claims: claims("nbf", u, "exp", u+3600)},
		{name: "twilio-ruby (nbf = now)", method: jwt.SigningMethodHS256, claims: claims("nbf", u, "exp", u+3600)},
		{name: "twilio-node HS256 (iat)", method: jwt.SigningMethodHS256, claims: claims("iat", u, "exp", u+3600)},
		{name: "twilio-node HS384", method: jwt.SigningMethodHS384, claims: claims("iat", u, "exp", u+3600)},
		{name: "twilio-node HS512", method: jwt.SigningMethodHS512, claims: claims("iat", u, "exp", u+3600)},
		{name: "no iat nor nbf, exactly 24h + skew left", method: jwt.SigningMethodHS256, claims: claims("exp", u+day+skew)},

		// Refused.
		{name: "php shape forged", method: jwt.SigningMethodHS256, claims: claims("exp", u+3600), secret: "guessed", reason: ReasonBadSignature},
		{name: "node HS512 forged", method: jwt.SigningMethodHS512, claims: claims("iat", u, "exp", u+3600), secret: "guessed", reason: ReasonBadSignature},
		{name: "php shape expired", method: jwt.SigningMethodHS256, claims: claims("exp", u-skew-1), reason: ReasonExpired},
		{name: "node HS384 expired", method: jwt.SigningMethodHS384, claims: claims("iat", u-7200, "exp", u-3600), reason: ReasonExpired},
		{name: "no iat nor nbf, over 24h + skew left", method: jwt.SigningMethodHS256, claims: claims("exp", u+day+skew+1), reason: ReasonLifetimeTooLong},
		{name: "no iat nor nbf, a year", method: jwt.SigningMethodHS512, claims: claims("exp", u+365*day), reason: ReasonLifetimeTooLong},
		{name: "python nbf over 24h", method: jwt.SigningMethodHS256, claims: claims("nbf", u, "exp", u+day+1), reason: ReasonLifetimeTooLong},
		{name: "node HS384 iat over 24h", method: jwt.SigningMethodHS384, claims: claims("iat", u, "exp", u+day+1), reason: ReasonLifetimeTooLong},
		{name: "no exp at all", method: jwt.SigningMethodHS256, claims: claims("exp", nil), reason: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAlg(t, tt.method, fpa, tt.claims, cmp.Or(tt.secret, goldenSecret))
			c, err := VerifyAccessToken(context.Background(), tok, testKeys, now)
			wantReason(t, "VerifyAccessToken", err, tt.reason)
			if err == nil && (c.Grants.Identity != "alice" || c.Subject != goldenAccount) {
				t.Errorf("claims = %+v", c)
			}
			b, err := VerifyBearer(context.Background(), tok, testKeys, testAccounts, now)
			wantReason(t, "VerifyBearer", err, tt.reason)
			if err == nil && b.Kind != BearerAccess {
				t.Errorf("kind = %s", b.Kind)
			}
		})
	}
}

// TestHelperLibraryCapabilityTokenShapes covers the legacy Capability Token
// as twilio-python 5.x, twilio-php's ClientToken and twilio-node write it,
// including event-stream filters sent as params (python, php) or appParams
// (node).
func TestHelperLibraryCapabilityTokenShapes(t *testing.T) {
	now := goldenNow
	u := now.Unix()
	jwtHdr := map[string]any{"typ": "JWT"}
	in := "scope:client:incoming?clientName=tommy"
	tests := []struct {
		name   string
		method jwt.SigningMethod
		claims map[string]any
		secret string
		stream map[string]string // want event-stream params; nil: no stream scope
		reason string
	}{
		{name: "python 5.x generate() (scope, iss, exp)", method: jwt.SigningMethodHS256, claims: map[string]any{"scope": in, "iss": goldenAccount, "exp": u + 3600}},
		{name: "php ClientToken (scope, iss, exp)", method: jwt.SigningMethodHS256, claims: map[string]any{"scope": in, "iss": goldenAccount, "exp": u + 3600}},
		{name: "php ClientToken HS512", method: jwt.SigningMethodHS512, claims: map[string]any{"scope": in, "iss": goldenAccount, "exp": u + 3600}},
		{name: "python event stream params", method: jwt.SigningMethodHS256, stream: map[string]string{"foo": "bar", "n": "1"},
			claims: map[string]any{"scope": in + " scope:stream:subscribe?path=/2010-04-01/Events&params=foo%3Dbar%26n%3D1", "iss": goldenAccount, "exp": u + 3600}},
		{name: "php event stream params", method: jwt.SigningMethodHS256, stream: map[string]string{"foo": "bar baz"},
			claims: map[string]any{"scope": "scope:stream:subscribe?params=foo%3Dbar%2Bbaz&path=%2F2010-04-01%2FEvents", "iss": goldenAccount, "exp": u + 3600}},
		{name: "node event stream appParams", method: jwt.SigningMethodHS256, stream: map[string]string{"foo": "bar"},
			claims: map[string]any{"scope": "scope:stream:subscribe?path=/2010-04-01/Events&appParams=foo%3Dbar", "iss": goldenAccount, "iat": u, "exp": u + 3600}},
		{name: "event stream without filters", method: jwt.SigningMethodHS256, stream: map[string]string{},
			claims: map[string]any{"scope": "scope:stream:subscribe?path=/2010-04-01/Events", "iss": goldenAccount, "exp": u + 3600}},
		{name: "python 5.x forged", method: jwt.SigningMethodHS256, secret: "guessed", reason: ReasonBadSignature,
			claims: map[string]any{"scope": in, "iss": goldenAccount, "exp": u + 3600}},
		{name: "python 5.x expired", method: jwt.SigningMethodHS256, reason: ReasonExpired,
			claims: map[string]any{"scope": in, "iss": goldenAccount, "exp": u - 60}},
		{name: "python 5.x over 24h", method: jwt.SigningMethodHS256, reason: ReasonLifetimeTooLong,
			claims: map[string]any{"scope": in, "iss": goldenAccount, "exp": u + 86400 + 31}},
		{name: "bad params escaping", method: jwt.SigningMethodHS256, reason: ReasonMalformed,
			claims: map[string]any{"scope": "scope:stream:subscribe?params=%zz", "iss": goldenAccount, "exp": u + 3600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAlg(t, tt.method, jwtHdr, tt.claims, cmp.Or(tt.secret, goldenAuthToken))
			c, err := VerifyCapabilityToken(context.Background(), tok, testAccounts, now)
			wantReason(t, "VerifyCapabilityToken", err, tt.reason)
			if err != nil || tt.stream == nil {
				return
			}
			if c.Scopes.EventStream == nil {
				t.Fatal("event stream scope dropped")
			}
			got := c.Scopes.EventStream.Params
			if len(got) != 0 || len(tt.stream) != 0 {
				if !reflect.DeepEqual(got, tt.stream) {
					t.Errorf("event stream params = %v, want %v", got, tt.stream)
				}
			}
		})
	}
}
