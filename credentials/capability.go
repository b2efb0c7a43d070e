package credentials

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccountResolver finds an account's current auth token for Capability Token verification.
type AccountResolver interface {
	// ResolveAccount returns the auth token that signs the account's
	// Capability Tokens and its ID; ErrUnknownAccount if there is no such
	// account.
	ResolveAccount(ctx context.Context, accountSID string) (authToken, authTokenID string, err error)
}

// Scope prefixes of the legacy Twilio Client capabilities.
const (
	scopeIncoming    = "scope:client:incoming"
	scopeOutgoing    = "scope:client:outgoing"
	scopeEventStream = "scope:stream:subscribe"
	eventStreamPath  = "/2010-04-01/Events"
)

// IncomingScope lets a device receive calls for ClientName.
type IncomingScope struct {
	ClientName string
}

// OutgoingScope lets a device place calls through a TwiML app.
type OutgoingScope struct {
	ApplicationSID string
	ClientName     string // optional
	Params         map[string]string
}

// EventStreamScope lets a device subscribe to the account's event stream.
type EventStreamScope struct {
	Params map[string]string // filters
}

// Scopes are a Capability Token's capabilities; nil ones are absent.
type Scopes struct {
	Incoming    *IncomingScope
	Outgoing    *OutgoingScope
	EventStream *EventStreamScope
}

// CapabilityToken is what a Capability Token is minted from, mirroring
// twilio-node's ClientCapability.
type CapabilityToken struct {
	AccountSID string
	AuthToken  string // signs the token
	// TTL is the lifetime from iat; DefaultTokenTTL when zero, at most
	// MaxTokenLifetime.
	TTL    time.Duration
	Scopes Scopes
}

// CapabilityClaims is a Capability Token's payload, fields in twilio-node's
// order.
type CapabilityClaims struct {
	Scope     string           `json:"scope"`
	Issuer    string           `json:"iss"` // account SID
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`

	// Scopes is Scope parsed, and AuthTokenID the ID of the auth token
	// that verified it; both are filled in by VerifyCapabilityToken.
	Scopes      Scopes `json:"-"`
	AuthTokenID string `json:"-"`
}

type capabilityHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
}

// Sign mints the token at now.
func (t CapabilityToken) Sign(now time.Time) (string, error) {
	switch {
	case t.AccountSID == "":
		return "", errors.New("capability token: account SID is required")
	case t.AuthToken == "":
		return "", errors.New("capability token: auth token is required")
	}
	if err := t.Scopes.validate(); err != nil {
		return "", fmt.Errorf("capability token: %w", err)
	}
	ttl, err := effectiveTTL(t.TTL)
	if err != nil {
		return "", fmt.Errorf("capability token: %w", err)
	}
	iat := now.Truncate(time.Second)
	claims := CapabilityClaims{
		Scope:     t.Scopes.String(),
		Issuer:    t.AccountSID,
		ExpiresAt: jwt.NewNumericDate(iat.Add(ttl)),
		IssuedAt:  jwt.NewNumericDate(iat),
	}
	tok, err := signHS256(capabilityHeader{Alg: jwt.SigningMethodHS256.Alg(), Typ: "JWT"}, claims, t.AuthToken)
	if err != nil {
		return "", fmt.Errorf("capability token: %w", err)
	}
	return tok, nil
}

func (s Scopes) validate() error {
	if s.Incoming != nil && s.Incoming.ClientName == "" {
		return errors.New("incoming scope needs a client name")
	}
	if s.Outgoing != nil && s.Outgoing.ApplicationSID == "" {
		return errors.New("outgoing scope needs an application SID")
	}
	return nil
}

// String renders the scope claim as twilio-node does: incoming, outgoing,
// event stream, space-separated, each value escaped like Node's
// querystring.escape, and app params escaped twice (once as pairs, once as
// the value of appParams).
func (s Scopes) String() string {
	var out []string
	if s.Incoming != nil {
		out = append(out, scopeIncoming+"?clientName="+jsEscape(s.Incoming.ClientName))
	}
	if s.Outgoing != nil {
		q := "appSid=" + jsEscape(s.Outgoing.ApplicationSID)
		if s.Outgoing.ClientName != "" {
			q += "&clientName=" + jsEscape(s.Outgoing.ClientName)
		}
		if len(s.Outgoing.Params) > 0 {
			q += "&appParams=" + jsEscape(encodeParams(s.Outgoing.Params))
		}
		out = append(out, scopeOutgoing+"?"+q)
	}
	if s.EventStream != nil {
		q := "path=" + eventStreamPath
		if len(s.EventStream.Params) > 0 {
			q += "&appParams=" + jsEscape(encodeParams(s.EventStream.Params))
		}
		out = append(out, scopeEventStream+"?"+q)
	}
	return strings.Join(out, " ")
}

// encodeParams joins k=v pairs in key order (Go maps have none of their own).
func encodeParams(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = jsEscape(k) + "=" + jsEscape(p[k])
	}
	return strings.Join(pairs, "&")
}

// jsEscape is Node's querystring.escape (encodeURIComponent): everything but
// A-Z a-z 0-9 - _ . ! ~ * ' ( ) is percent-encoded as UTF-8 bytes.
// url.QueryEscape differs (space as +, ! * ' ( ) escaped).
func jsEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ParseScopes parses a scope claim. Libraries order query parameters
// differently, so scopes are compared parsed, never as text. Scopes of other
// services are ignored; of repeated ones the first counts.
func ParseScopes(scope string) (Scopes, error) {
	var s Scopes
	for _, item := range strings.Fields(scope) {
		name, query, _ := strings.Cut(item, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return Scopes{}, fmt.Errorf("scope %s: %w", clip(name), err)
		}
		switch name {
		case scopeIncoming:
			if s.Incoming != nil {
				continue
			}
			if q.Get("clientName") == "" {
				return Scopes{}, errors.New("incoming scope has no clientName")
			}
			s.Incoming = &IncomingScope{ClientName: q.Get("clientName")}
		case scopeOutgoing:
			if s.Outgoing != nil {
				continue
			}
			if q.Get("appSid") == "" {
				return Scopes{}, errors.New("outgoing scope has no appSid")
			}
			params, err := parseAppParams(q, "appParams")
			if err != nil {
				return Scopes{}, fmt.Errorf("outgoing scope: %w", err)
			}
			s.Outgoing = &OutgoingScope{ApplicationSID: q.Get("appSid"), ClientName: q.Get("clientName"), Params: params}
		case scopeEventStream:
			if s.EventStream != nil {
				continue
			}
			// twilio-node writes the filters as appParams, twilio-python
			// and twilio-php as params.
			params, err := parseAppParams(q, "appParams", "params")
			if err != nil {
				return Scopes{}, fmt.Errorf("event stream scope: %w", err)
			}
			s.EventStream = &EventStreamScope{Params: params}
		}
	}
	return s, nil
}

// parseAppParams decodes the first of names present in q as a nested
// query string.
func parseAppParams(q url.Values, names ...string) (map[string]string, error) {
	var raw, name string
	for _, name = range names {
		if raw = q.Get(name); raw != "" {
			break
		}
	}
	if raw == "" {
		return nil, nil
	}
	inner, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	params := make(map[string]string, len(inner))
	for k, v := range inner {
		params[k] = v[0]
	}
	return params, nil
}

// VerifyCapabilityToken checks raw is a Capability Token signed with the
// current auth token of the account in iss, valid at now. Refusals are
// *TokenError; resolver failures other than ErrUnknownAccount are returned
// wrapped, as they are.
func VerifyCapabilityToken(ctx context.Context, raw string, accounts AccountResolver, now time.Time, opts ...VerifyOption) (*CapabilityClaims, error) {
	hdr, err := peekHeader(raw)
	if err != nil {
		return nil, err
	}
	if hdr.cty == AccessTokenContentType {
		return nil, refuse(ReasonMalformed, "this is an Access Token, not a Capability Token")
	}
	cfg := newVerifyConfig(opts)
	claims := &CapabilityClaims{}
	_, err = cfg.parser(now).ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		if claims.Issuer == "" {
			return nil, refuse(ReasonMalformed, "token has no iss claim naming its account")
		}
		token, tokenID, err := accounts.ResolveAccount(ctx, claims.Issuer)
		if errors.Is(err, ErrUnknownAccount) || errors.Is(err, ErrUnknownKey) || (err == nil && token == "") {
			return nil, refuse(ReasonUnknownKey, "account %s does not exist", clip(claims.Issuer))
		}
		if err != nil {
			return nil, &resolverError{fmt.Errorf("resolve account %s: %w", claims.Issuer, err)}
		}
		claims.AuthTokenID = tokenID
		return []byte(token), nil
	})
	if err != nil {
		return nil, classifyParseError(err, "account's auth token", claims.ExpiresAt, claims.NotBefore, claims.IssuedAt)
	}
	if err := checkLifetime(claims.ExpiresAt, claims.NotBefore, claims.IssuedAt, now, cfg.skew); err != nil {
		return nil, err
	}
	scopes, err := ParseScopes(claims.Scope)
	if err != nil {
		return nil, refuse(ReasonMalformed, "scope claim: %v", err)
	}
	claims.Scopes = scopes
	return claims, nil
}

// The jwt.Claims methods let the JWT library check exp, nbf and iat.

func (c *CapabilityClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *CapabilityClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *CapabilityClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *CapabilityClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *CapabilityClaims) GetSubject() (string, error)                  { return "", nil }
func (c *CapabilityClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }
