package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// SID prefixes, as Twilio spells them.
const (
	accountPrefix   = "AC"
	keyPrefix       = "SK"
	authTokenPrefix = "TK"
)

// secretAlphabet is what key secrets are drawn from: twilio-go and other
// SDKs reject secrets with anything but ASCII letters and digits.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomHex returns n random bytes as 2n lowercase hex characters.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// newSID returns prefix + 32 lowercase hex characters (128 random bits).
func newSID(prefix string) (string, error) {
	h, err := randomHex(16)
	if err != nil {
		return "", err
	}
	return prefix + h, nil
}

// newAuthToken returns 32 lowercase hex characters, the shape of a Twilio
// auth token.
func newAuthToken() (string, error) {
	return randomHex(16)
}

// newKeySecret returns 32 characters from secretAlphabet, about 190 bits.
func newKeySecret() (string, error) {
	const n = 32
	// Rejection sampling keeps every character equally likely: 62 does not
	// divide 256, so bytes >= 248 (4*62) are thrown away rather than folded.
	const limit = 256 - 256%len(secretAlphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("store: read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, secretAlphabet[int(b)%len(secretAlphabet)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// newAccountCredentials returns a fresh auth token and the ID naming it in
// the revocation feed.
func newAccountCredentials() (token, tokenID string, err error) {
	if token, err = newAuthToken(); err != nil {
		return "", "", err
	}
	if tokenID, err = newSID(authTokenPrefix); err != nil {
		return "", "", err
	}
	return token, tokenID, nil
}
