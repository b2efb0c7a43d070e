package credentials

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Benchmarks of minting and checking credentials, the CPU every token
// request and every TURN authentication pays:
//
//	go test -run '^$' -bench . -benchmem ./credentials/

const (
	benchAccount = "AC0123456789abcdef0123456789abcdef"
	benchKey     = "SK0123456789abcdef0123456789abcdef"
	benchSecret  = "abcdefghijklmnopqrstuvwxyz012345"
)

var benchTURNSecret = []byte("bench-turn-rest-secret")

// benchKeys resolves the one benchmark key.
type benchKeys struct{}

func (benchKeys) ResolveKey(_ context.Context, sid string) (string, string, error) {
	if sid != benchKey {
		return "", "", ErrUnknownKey
	}
	return benchAccount, benchSecret, nil
}

func BenchmarkMintTURN(b *testing.B) {
	rest, err := IssuedRest(benchAccount, benchKey, SecretID(benchTURNSecret), "alice")
	if err != nil {
		b.Fatal(err)
	}
	expiry := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		MintTURN(benchTURNSecret, expiry, rest)
	}
}

// BenchmarkIssuedRestAndMint is what the API does per credential: a fresh
// nonce'd username, then the password.
func BenchmarkIssuedRestAndMint(b *testing.B) {
	expiry := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		rest, err := IssuedRest(benchAccount, benchKey, SecretID(benchTURNSecret), "alice")
		if err != nil {
			b.Fatal(err)
		}
		MintTURN(benchTURNSecret, expiry, rest)
	}
}

// BenchmarkTURNPassword is the relay's check of a REST credential.
func BenchmarkTURNPassword(b *testing.B) {
	rest, _ := IssuedRest(benchAccount, benchKey, SecretID(benchTURNSecret), "alice")
	user, _ := MintTURN(benchTURNSecret, time.Now().Add(time.Hour), rest)
	b.ReportAllocs()
	for b.Loop() {
		TURNPassword(benchTURNSecret, user)
	}
}

func BenchmarkParseTURNUsername(b *testing.B) {
	rest, _ := IssuedRest(benchAccount, benchKey, SecretID(benchTURNSecret), "alice")
	user, _ := MintTURN(benchTURNSecret, time.Now().Add(time.Hour), rest)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTURNUsername(user); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAccessToken() AccessToken {
	return AccessToken{AccountSID: benchAccount, KeySID: benchKey, Secret: benchSecret, TTL: time.Hour,
		Grants: Grants{Identity: "alice"}}
}

func BenchmarkAccessTokenSign(b *testing.B) {
	tok, now := benchAccessToken(), time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tok.Sign(now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAccessToken(b *testing.B) {
	now := time.Now()
	raw, err := benchAccessToken().Sign(now)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := VerifyAccessToken(ctx, raw, benchKeys{}, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A forged signature costs as much as a valid one: what an attacker
	// spends of ours per guess.
	forged := raw[:strings.LastIndexByte(raw, '.')+1] + strings.Repeat("A", 43)
	b.Run("forged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := VerifyAccessToken(ctx, forged, benchKeys{}, now); err == nil {
				b.Fatal("forged token verified")
			}
		}
	})
	b.Run("bearer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := VerifyBearer(ctx, raw, benchKeys{}, nil, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
