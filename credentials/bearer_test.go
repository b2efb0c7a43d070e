package credentials

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Inputs and outputs of the golden vectors in
// shared/reference/twilio-wire-format.md, minted by twilio-node 6.2.0.
const (
	goldenAccount   = "AC00000000000000000000000000000000"
	goldenKey       = "SK11111111111111111111111111111111"
	goldenSecret    = "golden_api_key_secret_0123456789"
	goldenAuthToken = "golden_auth_token_0123456789abcd"
	goldenTokenID   = "TK33333333333333333333333333333333"
	goldenAppSID    = "AP22222222222222222222222222222222"

	goldenAccessToken     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJqdGkiOiJTSzExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiaWRlbnRpdHkiOiJhbGljZSIsInZpZGVvIjp7InJvb20iOiJyb29tMSJ9fSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDAsImlzcyI6IlNLMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTEiLCJzdWIiOiJBQzAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIn0.XnUrlIVUrSfo4fw8iu1IwiYzLfUzO3Wk_yvHuKN2jG0"
	goldenCapabilityToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6InNjb3BlOmNsaWVudDppbmNvbWluZz9jbGllbnROYW1lPXRvbW15IHNjb3BlOmNsaWVudDpvdXRnb2luZz9hcHBTaWQ9QVAyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMiZjbGllbnROYW1lPXRvbW15JmFwcFBhcmFtcz1mb28lM0RiYXIlMjUyMGJheiUyNm4lM0QxIHNjb3BlOnN0cmVhbTpzdWJzY3JpYmU_cGF0aD0vMjAxMC0wNC0wMS9FdmVudHMmYXBwUGFyYW1zPWZvbyUzRGJhciIsImlzcyI6IkFDMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAiLCJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMH0.zcN35rIclxqpwQPAFTskef3XTMCbewE_GsLA2IJy3P0"
)

var goldenNow = time.Unix(1700000000, 0)

func goldenAccessInput() AccessToken {
	return AccessToken{
		AccountSID: goldenAccount, KeySID: goldenKey, Secret: goldenSecret,
		Grants: Grants{Identity: "alice", Video: &VideoGrant{Room: "room1"}},
	}
}

func goldenCapabilityInput() CapabilityToken {
	return CapabilityToken{
		AccountSID: goldenAccount, AuthToken: goldenAuthToken,
		Scopes: Scopes{
			Incoming:    &IncomingScope{ClientName: "tommy"},
			Outgoing:    &OutgoingScope{ApplicationSID: goldenAppSID, ClientName: "tommy", Params: map[string]string{"foo": "bar baz", "n": "1"}},
			EventStream: &EventStreamScope{Params: map[string]string{"foo": "bar"}},
		},
	}
}

func TestGoldenMintByteForByte(t *testing.T) {
	tests := []struct {
		name string
		sign func() (string, error)
		want string
	}{
		{"access", func() (string, error) { return goldenAccessInput().Sign(goldenNow) }, goldenAccessToken},
		{"capability", func() (string, error) { return goldenCapabilityInput().Sign(goldenNow) }, goldenCapabilityToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sign()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("minted token differs from twilio-node's\n got: %s\nwant: %s\n got payload: %s\nwant payload: %s",
					got, tt.want, payloadOf(t, got), payloadOf(t, tt.want))
			}
		})
	}
}

func payloadOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "<not a JWT>"
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "<bad base64>"
	}
	return string(b)
}

func TestGoldenVerify(t *testing.T) {
	ctx := context.Background()
	keys := fakeKeys{goldenKey: {goldenAccount, goldenSecret}}
	accounts := fakeAccounts{goldenAccount: {goldenAuthToken, goldenTokenID}}

	at, err := VerifyAccessToken(ctx, goldenAccessToken, keys, goldenNow)
	if err != nil {
		t.Fatalf("golden Access Token: %v", err)
	}
	if at.Grants.Identity != "alice" || at.Grants.Video == nil || at.Grants.Video.Room != "room1" ||
		at.Issuer != goldenKey || at.Subject != goldenAccount || at.ID != goldenKey+"-1700000000" ||
		at.IssuedAt.Unix() != 1700000000 || at.ExpiresAt.Unix() != 1700003600 || at.NotBefore != nil {
		t.Errorf("golden Access Token claims = %+v", at)
	}

	ct, err := VerifyCapabilityToken(ctx, goldenCapabilityToken, accounts, goldenNow)
	if err != nil {
		t.Fatalf("golden Capability Token: %v", err)
	}
	want := goldenCapabilityInput().Scopes
	if !scopesEqual(ct.Scopes, want) || ct.Issuer != goldenAccount || ct.AuthTokenID != goldenTokenID ||
		ct.IssuedAt.Unix() != 1700000000 || ct.ExpiresAt.Unix() != 1700003600 {
		t.Errorf("golden Capability Token claims = %+v, scopes %+v %+v %+v", ct, ct.Scopes.Incoming, ct.Scopes.Outgoing, ct.Scopes.EventStream)
	}

	for _, tok := range []string{goldenAccessToken, goldenCapabilityToken} {
		if _, err := VerifyBearer(ctx, tok, keys, accounts, goldenNow.Add(2*time.Hour)); !hasReason(err, ReasonExpired) {
			t.Errorf("golden token two hours later: err = %v, want expired", err)
		}
	}
}

type keyEntry struct{ account, secret string }

// fakeKeys is a KeyResolver over a map; missing SIDs are ErrUnknownKey, as
// for a deleted key.
type fakeKeys map[string]keyEntry

func (f fakeKeys) ResolveKey(_ context.Context, sid string) (string, string, error) {
	k, err := lookup(f, sid, ErrUnknownKey)
	return k.account, k.secret, err
}

type accountEntry struct{ token, id string }

// fakeAccounts is an AccountResolver over a map; missing SIDs are
// ErrUnknownAccount.
type fakeAccounts map[string]accountEntry

func (f fakeAccounts) ResolveAccount(_ context.Context, sid string) (string, string, error) {
	a, err := lookup(f, sid, ErrUnknownAccount)
	return a.token, a.id, err
}

// lookup is m[sid], or missing when m has no sid.
func lookup[V any](m map[string]V, sid string, missing error) (V, error) {
	v, ok := m[sid]
	if !ok {
		return v, missing
	}
	return v, nil
}

// failingResolver stands for a store that cannot be reached.
type failingResolver struct{ err error }

func (f failingResolver) ResolveKey(context.Context, string) (string, string, error) {
	return "", "", f.err
}

func (f failingResolver) ResolveAccount(context.Context, string) (string, string, error) {
	return "", "", f.err
}

// TestVerifyResolverFailure: a store that cannot be reached is the
// resolver's error, passed on, not a TokenError (which would blame the
// token).
func TestVerifyResolverFailure(t *testing.T) {
	down := errors.New("store unreachable")
	ctx, store := context.Background(), failingResolver{down}
	for name, verify := range map[string]func() error{
		"access token": func() error {
			_, err := VerifyAccessToken(ctx, goldenAccessToken, store, goldenNow)
			return err
		},
		"capability token": func() error {
			_, err := VerifyCapabilityToken(ctx, goldenCapabilityToken, store, goldenNow)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := verify()
			var te *TokenError
			if errors.As(err, &te) || !errors.Is(err, down) {
				t.Fatalf("err = %v; want the resolver's error, not a TokenError", err)
			}
		})
	}
}

func hasReason(err error, reason string) bool {
	var te *TokenError
	return errors.As(err, &te) && te.Reason == reason
}

// wantReason fails the test unless err is a TokenError for reason ("":
// no error).
func wantReason(t *testing.T, what string, err error, reason string) {
	t.Helper()
	if got := reasonOf(err); got != reason {
		t.Fatalf("%s: reason = %q, want %q (err: %v)", what, got, reason, err)
	}
}

func reasonOf(err error) string {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	if err != nil {
		return "<not a TokenError: " + err.Error() + ">"
	}
	return ""
}

// scopesEqual compares parsed scopes, treating nil and empty params alike.
func scopesEqual(a, b Scopes) bool {
	norm := func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		return m
	}
	if (a.Incoming == nil) != (b.Incoming == nil) || (a.Outgoing == nil) != (b.Outgoing == nil) || (a.EventStream == nil) != (b.EventStream == nil) {
		return false
	}
	if a.Incoming != nil && *a.Incoming != *b.Incoming {
		return false
	}
	if a.Outgoing != nil && (a.Outgoing.ApplicationSID != b.Outgoing.ApplicationSID || a.Outgoing.ClientName != b.Outgoing.ClientName ||
		!reflect.DeepEqual(norm(a.Outgoing.Params), norm(b.Outgoing.Params))) {
		return false
	}
	if a.EventStream != nil && !reflect.DeepEqual(norm(a.EventStream.Params), norm(b.EventStream.Params)) {
		return false
	}
	return true
}

func TestVerifyBearer(t *testing.T) {
	ctx := context.Background()
	capTok := func(s Scopes) string {
		tok, err := CapabilityToken{AccountSID: goldenAccount, AuthToken: goldenAuthToken, Scopes: s}.Sign(goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := goldenNow.Add(time.Hour)
	tests := []struct {
		name   string
		token  string
		want   Bearer
		reason string
	}{
		{name: "access", token: goldenAccessToken, want: Bearer{Kind: BearerAccess, AccountSID: goldenAccount, CredID: goldenKey, Identity: "alice", Expires: exp}},
		{name: "capability incoming wins", token: goldenCapabilityToken, want: Bearer{Kind: BearerCapability, AccountSID: goldenAccount, CredID: goldenTokenID, Identity: "tommy", Expires: exp}},
		{name: "capability outgoing only", token: capTok(Scopes{Outgoing: &OutgoingScope{ApplicationSID: goldenAppSID, ClientName: "otto"}}), want: Bearer{Kind: BearerCapability, AccountSID: goldenAccount, CredID: goldenTokenID, Identity: "otto", Expires: exp}},
		{name: "capability event stream only", token: capTok(Scopes{EventStream: &EventStreamScope{}}), want: Bearer{Kind: BearerCapability, AccountSID: goldenAccount, CredID: goldenTokenID, Expires: exp}},
		{name: "grants without cty", token: forge(t, map[string]any{"alg": "HS256"}, accessClaims(nil), goldenSecret), reason: ReasonMissingCty},
		{name: "neither kind", token: forge(t, map[string]any{"alg": "HS256"}, map[string]any{"iss": goldenAccount, "exp": 1700003600}, goldenAuthToken), reason: ReasonMalformed},
		{name: "scope with foreign cty", token: forge(t, map[string]any{"alg": "HS256", "cty": "x"}, capabilityClaims(nil), goldenAuthToken), reason: ReasonMalformed},
		{name: "HS384 capability", token: hsToken(t, jwt.SigningMethodHS384, capabilityClaims(nil)), want: Bearer{Kind: BearerCapability, AccountSID: goldenAccount, CredID: goldenTokenID, Identity: "tommy", Expires: exp}},
		{name: "bad alg", token: noneToken(t, capabilityClaims(nil)), reason: ReasonBadAlg},
		{name: "payload not JSON", token: "eyJhbGciOiJIUzI1NiJ9.bm9wZQ.c2ln", reason: ReasonMalformed},
		{name: "garbage", token: "Basic abc", reason: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyBearer(ctx, tt.token, testKeys, testAccounts, goldenNow)
			if reason := reasonOf(err); reason != tt.reason {
				t.Fatalf("reason = %q, want %q (err: %v)", reason, tt.reason, err)
			}
			if err != nil {
				return
			}
			got.Access, got.Capability = nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("bearer = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestTokenErrorMessage(t *testing.T) {
	err := error(refuse(ReasonExpired, "token expired at %s", "2023-11-14T23:13:20Z"))
	if got, want := err.Error(), "token rejected (expired): token expired at 2023-11-14T23:13:20Z"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var te *TokenError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &te) || te.Reason != ReasonExpired {
		t.Errorf("TokenError not found through wrapping")
	}
	if got := (&TokenError{Reason: ReasonMalformed}).Error(); got != "token rejected: malformed" {
		t.Errorf("Error() without Err = %q", got)
	}
}
