package credentials

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Limits shared by Access and Capability Tokens.
const (
	// MaxTokenBytes bounds the raw token we are willing to parse, so a
	// hostile Authorization header costs nothing to refuse.
	MaxTokenBytes = 8 << 10
	// MaxTokenLifetime is Twilio's limit on a token's validity window.
	MaxTokenLifetime = 24 * time.Hour
	// DefaultTokenTTL is the lifetime minted when none is asked for.
	DefaultTokenTTL = time.Hour
	// DefaultClockSkew is how far clocks of minting servers and ours may
	// drift apart before exp, nbf and iat are held against a token.
	DefaultClockSkew = 30 * time.Second
)

// Bearer kinds.
const (
	BearerAccess     = "access"
	BearerCapability = "capability"
)

// Bearer is a verified token of either kind, reduced to what the API needs
// to authorise a request.
type Bearer struct {
	Kind       string // BearerAccess or BearerCapability
	AccountSID string
	// CredID is what signed the token: the API key SID of an Access Token,
	// the auth-token ID of a Capability Token. Revoking it revokes the token.
	CredID string
	// Identity is grants.identity of an Access Token; for a Capability Token
	// the incoming clientName, else the outgoing one.
	Identity string
	Expires  time.Time

	Access     *AccessTokenClaims // set when Kind is BearerAccess
	Capability *CapabilityClaims  // set when Kind is BearerCapability
}

// VerifyOption adjusts verification.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	skew time.Duration
}

// WithClockSkew sets the leeway allowed on exp, nbf and iat
// (DefaultClockSkew otherwise). Negative values count as zero.
func WithClockSkew(d time.Duration) VerifyOption {
	return func(c *verifyConfig) { c.skew = max(d, 0) }
}

func newVerifyConfig(opts []VerifyOption) verifyConfig {
	c := verifyConfig{skew: DefaultClockSkew}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// acceptedAlgs are the algorithms Twilio's helper libraries sign with:
// twilio-node and twilio-php can choose HS384 and HS512. All are HMAC over
// the same secret, so accepting them admits no key confusion.
var acceptedAlgs = []string{
	jwt.SigningMethodHS256.Alg(), jwt.SigningMethodHS384.Alg(), jwt.SigningMethodHS512.Alg(),
}

func (c verifyConfig) parser(now time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods(acceptedAlgs),
		jwt.WithLeeway(c.skew),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
}

// VerifyBearer verifies a token of either kind, chosen by its header: the
// twilio-fpa content type marks an Access Token, a token without one that
// carries a scope claim is a Capability Token.
func VerifyBearer(ctx context.Context, raw string, keys KeyResolver, accounts AccountResolver, now time.Time, opts ...VerifyOption) (*Bearer, error) {
	hdr, err := peekHeader(raw)
	if err != nil {
		return nil, err
	}
	kind, err := bearerKind(raw, hdr)
	if err != nil {
		return nil, err
	}
	if kind == BearerAccess {
		c, err := VerifyAccessToken(ctx, raw, keys, now, opts...)
		if err != nil {
			return nil, err
		}
		return &Bearer{
			Kind: BearerAccess, AccountSID: c.Subject, CredID: c.Issuer,
			Identity: c.Grants.Identity, Expires: c.ExpiresAt.Time, Access: c,
		}, nil
	}
	c, err := VerifyCapabilityToken(ctx, raw, accounts, now, opts...)
	if err != nil {
		return nil, err
	}
	b := &Bearer{
		Kind: BearerCapability, AccountSID: c.Issuer, CredID: c.AuthTokenID,
		Expires: c.ExpiresAt.Time, Capability: c,
	}
	switch {
	case c.Scopes.Incoming != nil:
		b.Identity = c.Scopes.Incoming.ClientName
	case c.Scopes.Outgoing != nil:
		b.Identity = c.Scopes.Outgoing.ClientName
	}
	return b, nil
}

// bearerKind tells the two token kinds apart. A token with a grants claim
// but no content type is still routed to the Access Token verifier so its
// holder hears that the cty is missing rather than that it is unrecognised.
func bearerKind(raw string, hdr tokenHeader) (string, error) {
	if hdr.cty == AccessTokenContentType {
		return BearerAccess, nil
	}
	claims, err := peekClaimNames(raw)
	if err != nil {
		return "", err
	}
	if !hdr.hasCty {
		if _, ok := claims["scope"]; ok {
			return BearerCapability, nil
		}
	}
	if _, ok := claims["grants"]; ok {
		return BearerAccess, nil
	}
	return "", refuse(ReasonMalformed, "neither an Access Token (cty %q) nor a Capability Token (scope claim)", AccessTokenContentType)
}

// tokenHeader is the part of a JOSE header we route and refuse on.
type tokenHeader struct {
	alg    string
	cty    string
	hasCty bool
	twr    string
}

// peekHeader checks the size and the header of a token before the JWT
// library sees it, so a wrong algorithm is reported as such rather than as
// a bad signature. The header is read as a map because encoding/json
// matches struct fields case-insensitively and "CTY" is not "cty".
func peekHeader(raw string) (tokenHeader, error) {
	if len(raw) > MaxTokenBytes {
		return tokenHeader{}, refuse(ReasonMalformed, "token is %d bytes; at most %d are accepted", len(raw), MaxTokenBytes)
	}
	seg, _, ok := strings.Cut(raw, ".")
	if !ok || strings.Count(raw, ".") != 2 {
		return tokenHeader{}, refuse(ReasonMalformed, "a JWT has three dot-separated segments")
	}
	var m map[string]any
	if err := decodeSegment(seg, &m); err != nil {
		return tokenHeader{}, refuse(ReasonMalformed, "header: %v", err)
	}
	var h tokenHeader
	alg, isString := m["alg"].(string)
	switch {
	case !isString:
		return h, refuse(ReasonBadAlg, "header has no alg; only HS256, HS384 and HS512 are accepted")
	case !slices.Contains(acceptedAlgs, alg):
		return h, refuse(ReasonBadAlg, "alg %s is not accepted; only HS256, HS384 and HS512 are", clip(alg))
	}
	h.alg = alg
	if v, present := m["cty"]; present {
		h.hasCty = true
		h.cty, _ = v.(string)
	}
	h.twr, _ = m["twr"].(string)
	return h, nil
}

// peekClaimNames decodes the payload only to see which claims it has.
func peekClaimNames(raw string) (map[string]json.RawMessage, error) {
	parts := strings.Split(raw, ".")
	var m map[string]json.RawMessage
	if err := decodeSegment(parts[1], &m); err != nil {
		return nil, refuse(ReasonMalformed, "payload: %v", err)
	}
	return m, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not a JSON object")
	}
	if m, ok := v.(*map[string]any); ok && *m == nil {
		return errors.New("not a JSON object")
	}
	if m, ok := v.(*map[string]json.RawMessage); ok && *m == nil {
		return errors.New("not a JSON object")
	}
	return nil
}

// clip keeps attacker-chosen header values short in error messages.
func clip(s string) string {
	const n = 32
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// signHS256 encodes header and payload in the field order their structs
// declare and signs them. jwt.Token would marshal its header from a map,
// which sorts keys and so cannot reproduce Twilio's header byte for byte.
func signHS256(header, payload any, secret string) (string, error) {
	h, err := marshalJSON(header)
	if err != nil {
		return "", fmt.Errorf("encode header: %w", err)
	}
	p, err := marshalJSON(payload)
	if err != nil {
		return "", fmt.Errorf("encode payload: %w", err)
	}
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte(secret))
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// marshalJSON encodes like JavaScript's JSON.stringify for the values we
// emit: no HTML escaping of <, > and &, no trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// classifyParseError turns the JWT library's verdict into a TokenError; kind
// names the secret in the bad-signature message.
func classifyParseError(err error, secretName string, exp, nbf, iat *jwt.NumericDate) error {
	var te *TokenError
	if errors.As(err, &te) {
		return te
	}
	var re *resolverError
	if errors.As(err, &re) {
		return re.err
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ReasonMalformed, "cannot decode token: %v", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ReasonBadSignature, "signature does not match the %s", secretName)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse(ReasonMalformed, "token has no exp claim")
	case errors.Is(err, jwt.ErrTokenExpired) && exp != nil:
		return refuse(ReasonExpired, "token expired at %s", exp.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet) && nbf != nil:
		return refuse(ReasonNotYetValid, "token is not valid before %s", nbf.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued) && iat != nil:
		return refuse(ReasonNotYetValid, "token is issued in the future, at %s", iat.UTC().Format(time.RFC3339))
	}
	return refuse(ReasonMalformed, "%v", err)
}

// checkLifetime refuses tokens valid for longer than Twilio allows. The
// window starts at nbf when there is one, else at iat. twilio-php, -java,
// -csharp and python 5.x emit neither by default; such a token may then be
// valid for at most the maximum (plus skew) from now on.
func checkLifetime(exp, nbf, iat *jwt.NumericDate, now time.Time, skew time.Duration) error {
	start := iat
	if nbf != nil {
		start = nbf
	}
	if start == nil {
		if left := exp.Sub(now); left > MaxTokenLifetime+skew {
			return refuse(ReasonLifetimeTooLong, "token has neither iat nor nbf and is valid for %s more; at most %s is allowed", left.Truncate(time.Second), MaxTokenLifetime)
		}
		return nil
	}
	if life := exp.Sub(start.Time); life > MaxTokenLifetime {
		return refuse(ReasonLifetimeTooLong, "token is valid for %s; at most %s is allowed", life, MaxTokenLifetime)
	}
	return nil
}
