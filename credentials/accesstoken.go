package credentials

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessTokenContentType is the cty header that marks a Twilio Access Token.
const AccessTokenContentType = "twilio-fpa;v=1"

// KeyResolver finds an API key by SID for Access Token verification.
type KeyResolver interface {
	// ResolveKey returns the account the key belongs to and its secret; ErrUnknownKey if none.
	ResolveKey(ctx context.Context, keySID string) (accountSID, secret string, err error)
}

// AccessToken is what an Access Token is minted from, mirroring the options
// of twilio-node's AccessToken.
type AccessToken struct {
	AccountSID string
	KeySID     string
	Secret     string // the API key secret; it signs the token
	// TTL is the lifetime from iat; DefaultTokenTTL when zero, at most
	// MaxTokenLifetime.
	TTL time.Duration
	// NotBefore, when set, is sent as nbf.
	NotBefore time.Time
	// Region, when set, is sent in the header as twr.
	Region string
	Grants Grants // Grants.Identity is required
}

// AccessTokenClaims is an Access Token's payload. Fields are declared in
// twilio-node's output order, so Sign can reproduce its tokens exactly.
type AccessTokenClaims struct {
	ID        string           `json:"jti"`
	Grants    Grants           `json:"grants"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	Issuer    string           `json:"iss"` // API key SID
	Subject   string           `json:"sub"` // account SID

	// Region is the twr header of a verified token, if any.
	Region string `json:"-"`
}

type accessTokenHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Cty string `json:"cty"`
	Twr string `json:"twr,omitempty"`
}

// Sign mints the token at now.
func (t AccessToken) Sign(now time.Time) (string, error) {
	claims, err := t.claims(now)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	hdr := accessTokenHeader{Alg: jwt.SigningMethodHS256.Alg(), Typ: "JWT", Cty: AccessTokenContentType, Twr: t.Region}
	tok, err := signHS256(hdr, claims, t.Secret)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	return tok, nil
}

func (t AccessToken) claims(now time.Time) (*AccessTokenClaims, error) {
	switch {
	case t.AccountSID == "":
		return nil, errors.New("account SID is required")
	case t.KeySID == "":
		return nil, errors.New("API key SID is required")
	case t.Secret == "":
		return nil, errors.New("API key secret is required")
	}
	if err := t.Grants.validate(); err != nil {
		return nil, err
	}
	ttl, err := effectiveTTL(t.TTL)
	if err != nil {
		return nil, err
	}
	iat := now.Truncate(time.Second)
	exp := iat.Add(ttl)
	c := &AccessTokenClaims{
		ID:        t.KeySID + "-" + strconv.FormatInt(iat.Unix(), 10),
		Grants:    t.Grants,
		IssuedAt:  jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(exp),
		Issuer:    t.KeySID,
		Subject:   t.AccountSID,
	}
	if !t.NotBefore.IsZero() {
		nbf := t.NotBefore.Truncate(time.Second)
		// A verifier measures the window from nbf; refuse to mint what it
		// would refuse to accept.
		switch {
		case !nbf.Before(exp):
			return nil, fmt.Errorf("not-before %s is not before expiry %s", nbf.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))
		case exp.Sub(nbf) > MaxTokenLifetime:
			return nil, fmt.Errorf("not-before %s makes the token valid for %s; at most %s is allowed", nbf.UTC().Format(time.RFC3339), exp.Sub(nbf), MaxTokenLifetime)
		}
		c.NotBefore = jwt.NewNumericDate(nbf)
	}
	return c, nil
}

// effectiveTTL applies the default and the Twilio maximum.
func effectiveTTL(ttl time.Duration) (time.Duration, error) {
	switch {
	case ttl == 0:
		return DefaultTokenTTL, nil
	case ttl < time.Second:
		return 0, fmt.Errorf("ttl %s must be at least 1s", ttl)
	case ttl > MaxTokenLifetime:
		return 0, fmt.Errorf("ttl %s exceeds the maximum of %s", ttl, MaxTokenLifetime)
	}
	return ttl.Truncate(time.Second), nil
}

// VerifyAccessToken checks raw is an Access Token signed by a live API key of
// the account it names, valid at now. Refusals are *TokenError; resolver
// failures other than ErrUnknownKey are returned wrapped, as they are.
func VerifyAccessToken(ctx context.Context, raw string, keys KeyResolver, now time.Time, opts ...VerifyOption) (*AccessTokenClaims, error) {
	hdr, err := peekHeader(raw)
	if err != nil {
		return nil, err
	}
	if hdr.cty != AccessTokenContentType {
		return nil, refuse(ReasonMissingCty, "an Access Token needs the header cty %q", AccessTokenContentType)
	}
	cfg := newVerifyConfig(opts)
	claims := &AccessTokenClaims{}
	var keyAccount string
	_, err = cfg.parser(now).ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		switch {
		case claims.Issuer == "":
			return nil, refuse(ReasonMalformed, "token has no iss claim naming its API key")
		case claims.Subject == "":
			return nil, refuse(ReasonMalformed, "token has no sub claim naming its account")
		}
		acct, secret, err := keys.ResolveKey(ctx, claims.Issuer)
		if errors.Is(err, ErrUnknownKey) || (err == nil && secret == "") {
			return nil, refuse(ReasonUnknownKey, "API key %s does not exist or was deleted", clip(claims.Issuer))
		}
		if err != nil {
			return nil, &resolverError{fmt.Errorf("resolve API key %s: %w", claims.Issuer, err)}
		}
		keyAccount = acct
		return []byte(secret), nil
	})
	// The account is compared only once the signature is known good (a
	// claims error implies it), so forged tokens cannot probe which account
	// a key belongs to.
	if (err == nil || errors.Is(err, jwt.ErrTokenInvalidClaims)) && keyAccount != claims.Subject {
		return nil, refuse(ReasonWrongAccount, "API key %s does not belong to account %s", clip(claims.Issuer), clip(claims.Subject))
	}
	if err != nil {
		return nil, classifyParseError(err, "API key secret", claims.ExpiresAt, claims.NotBefore, claims.IssuedAt)
	}
	if err := checkLifetime(claims.ExpiresAt, claims.NotBefore, claims.IssuedAt, now, cfg.skew); err != nil {
		return nil, err
	}
	claims.Region = hdr.twr
	return claims, nil
}

// The jwt.Claims methods let the JWT library check exp, nbf and iat.

func (c *AccessTokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *AccessTokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *AccessTokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *AccessTokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *AccessTokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *AccessTokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }
