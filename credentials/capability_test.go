package credentials

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testAccounts = fakeAccounts{
	goldenAccount: {goldenAuthToken, goldenTokenID},
	otherAccount:  {"other_auth_token_0123456789abcdef", "TK99999999999999999999999999999999"},
}

func capabilityClaims(mod func(map[string]any)) map[string]any {
	c := map[string]any{
		"scope": "scope:client:incoming?clientName=tommy",
		"iss":   goldenAccount, "iat": 1700000000, "exp": 1700003600,
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestJSEscape(t *testing.T) {
	// Expected values are Node's querystring.escape output.
	tests := []struct{ in, want string }{
		{"tommy", "tommy"},
		{"bar baz", "bar%20baz"},
		{"a+b=c&d", "a%2Bb%3Dc%26d"},
		{"-_.!~*'()", "-_.!~*'()"},
		{"/?#[]@:;,$", "%2F%3F%23%5B%5D%40%3A%3B%2C%24"},
		{"é€", "%C3%A9%E2%82%AC"},
		{"100%", "100%25"},
	}
	for _, tt := range tests {
		if got := jsEscape(tt.in); got != tt.want {
			t.Errorf("jsEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name    string
		scope   string
		want    Scopes
		wantErr bool
	}{
		{name: "empty", scope: ""},
		{name: "golden", scope: goldenCapabilityInput().Scopes.String(), want: goldenCapabilityInput().Scopes},
		{
			name:  "other library's order and + for space",
			scope: "scope:client:outgoing?clientName=tom+my&appParams=a%3Db%2Bc&appSid=AP1",
			want:  Scopes{Outgoing: &OutgoingScope{ApplicationSID: "AP1", ClientName: "tom my", Params: map[string]string{"a": "b c"}}},
		},
		{name: "event stream without params", scope: "scope:stream:subscribe?path=/2010-04-01/Events", want: Scopes{EventStream: &EventStreamScope{}}},
		{name: "unknown scope ignored", scope: "scope:other:thing?x=1 scope:client:incoming?clientName=a", want: Scopes{Incoming: &IncomingScope{ClientName: "a"}}},
		{name: "first of repeated scopes counts", scope: "scope:client:incoming?clientName=a scope:client:incoming?clientName=b", want: Scopes{Incoming: &IncomingScope{ClientName: "a"}}},
		{name: "incoming without clientName", scope: "scope:client:incoming", wantErr: true},
		{name: "outgoing without appSid", scope: "scope:client:outgoing?clientName=a", wantErr: true},
		{name: "bad escape", scope: "scope:client:incoming?clientName=%zz", wantErr: true},
		{name: "bad inner escape", scope: "scope:client:outgoing?appSid=AP1&appParams=a%3D%25zz", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScopes(tt.scope)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !scopesEqual(got, tt.want) {
				t.Errorf("ParseScopes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCapabilityTokenRoundTrip(t *testing.T) {
	tricky := map[string]string{"to": "+1 555&x=y", "é": "100%", "empty": ""}
	tests := []struct {
		name   string
		scopes Scopes
	}{
		{"no scopes", Scopes{}},
		{"incoming", Scopes{Incoming: &IncomingScope{ClientName: "tommy & co"}}},
		{"outgoing bare", Scopes{Outgoing: &OutgoingScope{ApplicationSID: goldenAppSID}}},
		{"outgoing tricky params", Scopes{Outgoing: &OutgoingScope{ApplicationSID: goldenAppSID, ClientName: "x", Params: tricky}}},
		{"event stream", Scopes{EventStream: &EventStreamScope{Params: tricky}}},
		{"golden set", goldenCapabilityInput().Scopes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := CapabilityToken{AccountSID: goldenAccount, AuthToken: goldenAuthToken, TTL: 24 * time.Hour, Scopes: tt.scopes}.Sign(goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyCapabilityToken(context.Background(), tok, testAccounts, goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			if !scopesEqual(got.Scopes, tt.scopes) || got.AuthTokenID != goldenTokenID || got.ExpiresAt.Unix() != goldenNow.Unix()+86400 {
				t.Errorf("claims = %+v, scopes %+v", got, got.Scopes)
			}
		})
	}
}

func TestVerifyCapabilityTokenRefusals(t *testing.T) {
	hdr := map[string]any{"alg": "HS256", "typ": "JWT"}
	tests := []struct {
		name   string
		token  string
		now    time.Time
		reason string
	}{
		{name: "golden", token: goldenCapabilityToken},
		{name: "alg none", token: noneToken(t, capabilityClaims(nil)), reason: ReasonBadAlg},
		{name: "HS512", token: hsToken(t, jwt.SigningMethodHS512, capabilityClaims(nil))},
		{name: "RS256 header", token: forge(t, map[string]any{"alg": "RS256", "typ": "JWT"}, capabilityClaims(nil), goldenAuthToken), reason: ReasonBadAlg},
		{name: "wrong auth token", token: forge(t, hdr, capabilityClaims(nil), "stale_auth_token"), reason: ReasonBadSignature},
		{name: "signed by another account's token", token: forge(t, hdr, capabilityClaims(nil), "other_auth_token_0123456789abcdef"), reason: ReasonBadSignature},
		{name: "unknown account", token: forge(t, hdr, capabilityClaims(func(c map[string]any) { c["iss"] = "AC55555555555555555555555555555555" }), goldenAuthToken), reason: ReasonUnknownKey},
		{name: "no iss", token: forge(t, hdr, capabilityClaims(func(c map[string]any) { delete(c, "iss") }), goldenAuthToken), reason: ReasonMalformed},
		{name: "access token cty", token: forge(t, accessHeader(), capabilityClaims(nil), goldenAuthToken), reason: ReasonMalformed},
		{name: "expired", token: goldenCapabilityToken, now: time.Unix(1700003600+31, 0), reason: ReasonExpired},
		{name: "not yet valid", token: forge(t, hdr, capabilityClaims(func(c map[string]any) { c["nbf"] = 1700000100 }), goldenAuthToken), reason: ReasonNotYetValid},
		{name: "lifetime over 24h", token: forge(t, hdr, capabilityClaims(func(c map[string]any) { c["exp"] = 1700000000 + 86401 }), goldenAuthToken), reason: ReasonLifetimeTooLong},
		{name: "no exp", token: forge(t, hdr, capabilityClaims(func(c map[string]any) { delete(c, "exp") }), goldenAuthToken), reason: ReasonMalformed},
		{name: "bad scope", token: forge(t, hdr, capabilityClaims(func(c map[string]any) { c["scope"] = "scope:client:outgoing?clientName=x" }), goldenAuthToken), reason: ReasonMalformed},
		{name: "oversized", token: strings.Repeat("a", MaxTokenBytes+1), reason: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = goldenNow.Add(time.Minute)
			}
			_, err := VerifyCapabilityToken(context.Background(), tt.token, testAccounts, now)
			wantReason(t, "VerifyCapabilityToken", err, tt.reason)
			if err != nil && strings.Contains(err.Error(), goldenAuthToken) {
				t.Errorf("error message %q reveals the auth token", err)
			}
		})
	}
}

func TestCapabilityTokenSignRefusals(t *testing.T) {
	tests := []struct {
		name string
		in   CapabilityToken
	}{
		{"no account", CapabilityToken{AuthToken: "t"}},
		{"no auth token", CapabilityToken{AccountSID: goldenAccount}},
		{"ttl over 24h", CapabilityToken{AccountSID: goldenAccount, AuthToken: "t", TTL: 48 * time.Hour}},
		{"incoming without name", CapabilityToken{AccountSID: goldenAccount, AuthToken: "t", Scopes: Scopes{Incoming: &IncomingScope{}}}},
		{"outgoing without app", CapabilityToken{AccountSID: goldenAccount, AuthToken: "t", Scopes: Scopes{Outgoing: &OutgoingScope{ClientName: "x"}}}},
	}
	for _, tt := range tests {
		if _, err := tt.in.Sign(goldenNow); err == nil {
			t.Errorf("%s: Sign succeeded", tt.name)
		}
	}
}

func noneToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hsToken(t *testing.T, m jwt.SigningMethod, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, jwt.MapClaims(claims)).SignedString([]byte(goldenAuthToken))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
