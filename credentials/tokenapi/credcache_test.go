package tokenapi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
)

// cacheClock drives the credential cache's expiry in tests, so staleness is
// tested by moving time rather than by sleeping.
type cacheClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *cacheClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *cacheClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newCacheEnv is an env on the fake store whose credential cache runs on a
// clock the test moves.
func newCacheEnv(t *testing.T) (*env, *cacheClock) {
	t.Helper()
	e := newEnv(t, nil, nil)
	clock := &cacheClock{now: time.Now()}
	e.api.creds.now = clock.Now
	return e, clock
}

func (e *env) basicStatus(user, pass string) int {
	res, _ := e.do("POST", e.tokensPath(), user, pass, "", nil)
	return res.StatusCode
}

func (e *env) iceStatus(token string) int {
	res, _ := e.iceCall("GET", token, "", "", nil)
	return res.StatusCode
}

// TestCacheServesRepeatedRequests: the point of the cache is that a hot
// credential does not read the store on every request.
func TestCacheServesRepeatedRequests(t *testing.T) {
	e, _ := newCacheEnv(t)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	tok := e.accessToken(t, key, "alice", time.Hour)
	if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 201 {
		t.Fatalf("first Tokens.json: %d", s)
	}
	if s := e.iceStatus(tok); s != 200 {
		t.Fatalf("first ice-servers: %d", s)
	}
	// With the store down, only the cache can answer.
	e.fake.setFail(errStoreDown)
	if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 201 {
		t.Errorf("cached Tokens.json with the store down: %d", s)
	}
	if s := e.iceStatus(tok); s != 200 {
		t.Errorf("cached ice-servers with the store down: %d", s)
	}
	if n := e.api.creds.len(); n != 2 {
		t.Errorf("%d cached credentials; want the account and the key", n)
	}
}

// TestCacheExpiresWhenStoreIsDown: past the TTL nothing is answered from
// the cache, so an outage cannot stretch the staleness bound.
func TestCacheExpiresWhenStoreIsDown(t *testing.T) {
	e, clock := newCacheEnv(t)
	if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 201 {
		t.Fatalf("Tokens.json: %d", s)
	}
	e.fake.setFail(errStoreDown)
	clock.Advance(credCacheTTL)
	if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 500 {
		t.Errorf("Tokens.json after the TTL with the store down: %d; want 500", s)
	}
}

// TestCacheKeyDeletedThroughAPI: a key deleted through this process stops
// authenticating on the next request, Basic and bearer alike.
func TestCacheKeyDeletedThroughAPI(t *testing.T) {
	e, _ := newCacheEnv(t)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "doomed")
	tok := e.accessToken(t, key, "alice", time.Hour)
	if s := e.basicStatus(key.SID, key.Secret); s != 201 {
		t.Fatalf("Basic with the key: %d", s)
	}
	if s := e.iceStatus(tok); s != 200 {
		t.Fatalf("Access Token: %d", s)
	}
	res, body := e.do("DELETE", "/2010-04-01/Accounts/"+e.account.SID+"/Keys/"+key.SID+".json",
		e.account.SID, e.account.AuthToken, "", nil)
	if res.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", res.StatusCode, body)
	}
	// The cache clock does not move: only the invalidation can refuse these.
	if s := e.basicStatus(key.SID, key.Secret); s != 401 {
		t.Errorf("Basic with the deleted key: %d; want 401", s)
	}
	if s := e.iceStatus(tok); s != 401 {
		t.Errorf("Access Token of the deleted key: %d; want 401", s)
	}
}

// TestCacheKeyDeletedElsewhere: a key deleted by another process (straight
// in the store) stops authenticating once the TTL has passed.
func TestCacheKeyDeletedElsewhere(t *testing.T) {
	e, clock := newCacheEnv(t)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "doomed")
	tok := e.accessToken(t, key, "alice", time.Hour)
	if s := e.iceStatus(tok); s != 200 {
		t.Fatalf("Access Token: %d", s)
	}
	if s := e.basicStatus(key.SID, key.Secret); s != 201 {
		t.Fatalf("Basic with the key: %d", s)
	}
	if err := e.store.DeleteKey(t.Context(), e.account.SID, key.SID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(credCacheTTL)
	if s := e.iceStatus(tok); s != 401 {
		t.Errorf("Access Token of the deleted key after the TTL: %d; want 401", s)
	}
	if s := e.basicStatus(key.SID, key.Secret); s != 401 {
		t.Errorf("Basic with the deleted key after the TTL: %d; want 401", s)
	}
	if n := e.api.creds.len(); n != 0 {
		t.Errorf("%d cached credentials; want the deleted key dropped", n)
	}
}

// TestCacheAuthTokenRotatedElsewhere: after another process rotates the
// auth token, the new token works at once (a mismatch is re-checked against
// the store) and the old one is refused, at the latest after the TTL.
func TestCacheAuthTokenRotatedElsewhere(t *testing.T) {
	e, clock := newCacheEnv(t)
	oldCap, err := credentials.CapabilityToken{AccountSID: e.account.SID, AuthToken: e.account.AuthToken, TTL: time.Hour,
		Scopes: credentials.Scopes{Incoming: &credentials.IncomingScope{ClientName: "tommy"}}}.Sign(e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 201 {
		t.Fatalf("Basic: %d", s)
	}
	if s := e.iceStatus(oldCap); s != 200 {
		t.Fatalf("Capability Token: %d", s)
	}
	rotated, err := e.store.RotateAuthToken(t.Context(), e.account.SID)
	if err != nil {
		t.Fatal(err)
	}
	newCap, err := credentials.CapabilityToken{AccountSID: e.account.SID, AuthToken: rotated.AuthToken, TTL: time.Hour,
		Scopes: credentials.Scopes{Incoming: &credentials.IncomingScope{ClientName: "tommy"}}}.Sign(e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s := e.basicStatus(e.account.SID, rotated.AuthToken); s != 201 {
		t.Errorf("Basic with the new auth token: %d; want 201 at once", s)
	}
	if s := e.iceStatus(newCap); s != 200 {
		t.Errorf("Capability Token signed with the new auth token: %d; want 200 at once", s)
	}
	clock.Advance(credCacheTTL)
	if s := e.basicStatus(e.account.SID, e.account.AuthToken); s != 401 {
		t.Errorf("Basic with the old auth token after the TTL: %d; want 401", s)
	}
	if s := e.iceStatus(oldCap); s != 401 {
		t.Errorf("Capability Token signed with the old auth token after the TTL: %d; want 401", s)
	}
}

// TestCacheDropsFillsRacingInvalidation: a store read that began before an
// invalidation must not re-cache what it read.
func TestCacheDropsFillsRacingInvalidation(t *testing.T) {
	f := newFakeStore(time.Now)
	c := newCredCache(f)
	acct, _ := f.CreateAccount(context.Background(), "a")
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	c.invalidate(acct.SID) // the change commits while the read is in flight
	c.put(acct.SID, cachedCred{AccountSID: acct.SID, Secret: acct.AuthToken, CredID: acct.AuthTokenID}, c.now(), gen)
	if n := c.len(); n != 0 {
		t.Errorf("a fill from before the invalidation was cached (%d entries)", n)
	}
}

// TestCacheUnknownSIDsNotCached: only credentials that exist take room.
func TestCacheUnknownSIDsNotCached(t *testing.T) {
	e, _ := newCacheEnv(t)
	for range 5 {
		if s := e.basicStatus("AC"+randHex(32), "00000000000000000000000000000000"); s != 401 {
			t.Fatalf("unknown account: %d", s)
		}
	}
	if n := e.api.creds.len(); n != 0 {
		t.Errorf("%d cached credentials after unknown SIDs only", n)
	}
}

// TestBearerCacheHonoursExpiry: a cached verification does not outlive the
// token's exp.
func TestBearerCacheHonoursExpiry(t *testing.T) {
	e, _ := newCacheEnv(t)
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
	e, _ := newCacheEnv(t)
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "k")
	rec := &recordingResolvers{keys: e.api.keys, accounts: e.api.accounts}
	if _, secret, err := rec.ResolveKey(t.Context(), key.SID); err != nil || secret != key.Secret || rec.secret != key.Secret {
		t.Errorf("ResolveKey: %v; recorded %q", err, rec.secret)
	}
	if _, _, err := rec.ResolveAccount(t.Context(), e.account.SID); err != nil || rec.secret != e.account.AuthToken {
		t.Errorf("ResolveAccount: %v; recorded %q", err, rec.secret)
	}
	// An account SID is never a key, even though one cache holds both.
	if _, _, err := e.api.KeyResolver().ResolveKey(t.Context(), e.account.SID); err == nil {
		t.Error("an account SID resolved as an API key")
	}
}
