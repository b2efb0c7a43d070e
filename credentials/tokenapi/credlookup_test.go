package tokenapi

import (
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
)

func (e *env) basicStatus(user, pass string) int {
	res, _ := e.do("POST", e.tokensPath(), user, pass, "", nil)
	return res.StatusCode
}

func (e *env) iceStatus(token string) int {
	res, _ := e.iceCall("GET", token, "", "", nil)
	return res.StatusCode
}

// TestCredentialChangesApplyAtTheNextRequest: a key deleted or an auth token
// rotated, whether through this API or by another process writing the store
// (the CLI, another API node), is refused by the very next request, Basic
// and bearer alike, and a rotated auth token works at once. The bearer
// cache has verified each token once before the change, so a hit that
// ignored the change would show here.
func TestCredentialChangesApplyAtTheNextRequest(t *testing.T) {
	capToken := func(t *testing.T, e *env, authToken string) string {
		t.Helper()
		tok, err := credentials.CapabilityToken{AccountSID: e.account.SID, AuthToken: authToken, TTL: time.Hour,
			Scopes: credentials.Scopes{Incoming: &credentials.IncomingScope{ClientName: "tommy"}}}.Sign(e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	t.Run("key deleted", func(t *testing.T) {
		for _, via := range []string{"api", "store"} {
			t.Run(via, func(t *testing.T) {
				e := newEnv(t, nil, nil)
				key, _ := e.store.CreateKey(t.Context(), e.account.SID, "doomed")
				tok := e.accessToken(t, key, "alice", time.Hour)
				for range 2 { // the second pass is a bearer-cache hit
					if s := e.basicStatus(key.SID, key.Secret); s != 201 {
						t.Fatalf("Basic with the key: %d", s)
					}
					if s := e.iceStatus(tok); s != 200 {
						t.Fatalf("Access Token: %d", s)
					}
				}
				if via == "api" {
					res, body := e.do("DELETE", "/2010-04-01/Accounts/"+e.account.SID+"/Keys/"+key.SID+".json",
						e.account.SID, e.account.AuthToken, "", nil)
					if res.StatusCode != 204 {
						t.Fatalf("DELETE: %d %s", res.StatusCode, body)
					}
				} else if err := e.store.DeleteKey(t.Context(), e.account.SID, key.SID); err != nil {
					t.Fatal(err)
				}
				if s := e.basicStatus(key.SID, key.Secret); s != 401 {
					t.Errorf("Basic with the deleted key: %d; want 401", s)
				}
				if s := e.iceStatus(tok); s != 401 {
					t.Errorf("Access Token of the deleted key: %d; want 401", s)
				}
			})
		}
	})
	t.Run("auth token rotated elsewhere", func(t *testing.T) {
		e := newEnv(t, nil, nil)
		oldCap := capToken(t, e, e.account.AuthToken)
		for range 2 {
			if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 201 {
				t.Fatalf("Basic: %d", s)
			}
			if s := e.iceStatus(oldCap); s != 200 {
				t.Fatalf("Capability Token: %d", s)
			}
		}
		rotated, err := e.store.RotateAuthToken(t.Context(), e.account.SID)
		if err != nil {
			t.Fatal(err)
		}
		if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 401 {
			t.Errorf("Basic with the old auth token: %d; want 401", s)
		}
		if s := e.iceStatus(oldCap); s != 401 {
			t.Errorf("Capability Token signed with the old auth token: %d; want 401", s)
		}
		if s := e.basicStatus(e.account.SID, rotated.AuthToken); s != 201 {
			t.Errorf("Basic with the new auth token: %d; want 201", s)
		}
		if s := e.iceStatus(capToken(t, e, rotated.AuthToken)); s != 200 {
			t.Errorf("Capability Token signed with the new auth token: %d; want 200", s)
		}
	})
}

// TestStoreDownIsNotAnAnswer: with the store unreachable nothing is
// answered from memory, not even a token verified a moment before.
func TestStoreDownIsNotAnAnswer(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	tok := e.accessToken(t, key, "alice", time.Hour)
	if s := e.iceStatus(tok); s != 200 {
		t.Fatalf("ice-servers: %d", s)
	}
	e.fake.setFail(errStoreDown)
	if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 500 {
		t.Errorf("Tokens.json with the store down: %d; want 500", s)
	}
	if s := e.iceStatus(tok); s == 200 {
		t.Errorf("ice-servers with the store down: %d; want a refusal", s)
	}
}

// TestBearerCacheHonoursExpiry: a cached verification does not outlive the
// token's exp.
func TestBearerCacheHonoursExpiry(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	tok := e.accessToken(t, key, "alice", time.Minute)
	if s := e.iceStatus(tok); s != 200 {
		t.Fatalf("fresh token: %d", s)
	}
	e.clock.Advance(time.Minute + credentials.DefaultClockSkew + time.Second)
	res, body := e.iceCall("GET", tok, "", "", nil)
	if res.StatusCode != 401 {
		t.Errorf("expired token: %d %s; want 401", res.StatusCode, body)
	}
}

// TestRecordingResolversKeepSigningSecret: the bearer cache ties a
// verification to the secret that verified it, not to whatever the store
// holds by the time it is cached.
func TestRecordingResolversKeepSigningSecret(t *testing.T) {
	e := newEnv(t, nil, nil)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	rec := &recordingResolvers{keys: e.api.keys, accounts: e.api.accounts}
	if _, secret, err := rec.ResolveKey(t.Context(), key.SID); err != nil || secret != key.Secret || rec.secret != key.Secret {
		t.Errorf("ResolveKey: %v; recorded %q", err, rec.secret)
	}
	if _, _, err := rec.ResolveAccount(t.Context(), e.account.SID); err != nil || rec.secret != e.account.AuthToken {
		t.Errorf("ResolveAccount: %v; recorded %q", err, rec.secret)
	}
	// An account SID is never a key, though one lookup reads both.
	if _, _, err := e.api.KeyResolver().ResolveKey(t.Context(), e.account.SID); err == nil {
		t.Error("an account SID resolved as an API key")
	}
}
