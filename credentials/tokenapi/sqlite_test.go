package tokenapi

import (
	"bytes"
	"crypto/rand"
	"testing"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// openSQLite opens the real embedded store in a temporary directory.
func openSQLite(t *testing.T) store.Store {
	t.Helper()
	key := make([]byte, store.SealKeySize)
	_, _ = rand.Read(key)
	st, err := store.Open(t.Context(), "", t.TempDir(), key)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestSQLiteConcurrentKeyCreation(t *testing.T) {
	e := newEnv(t, openSQLite(t), nil)
	concurrentKeyCreation(t, e, 50)
}

func TestSQLiteTokensAndKeys(t *testing.T) {
	e := newEnv(t, openSQLite(t), nil)
	c := e.accountClient()
	tok, err := c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: ptr(300)})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	checkTURNUser(t, *tok.Username, *tok.Password, e.account.SID, e.account.AuthTokenID, e.clock.Now().Add(300e9))
	k, err := c.Api.CreateNewKey(&openapi.CreateNewKeyParams{FriendlyName: ptr("sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	res, body := e.iceCall("GET", e.accessToken(t, store.Key{SID: *k.Sid, AccountSID: e.account.SID, Secret: *k.Secret}, "alice", 3600e9), "", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("ice-servers: %d %s", res.StatusCode, body)
	}
	if err := c.Api.DeleteKey(*k.Sid, nil); err != nil {
		t.Fatal(err)
	}
	if id := <-e.revoked; id != *k.Sid {
		t.Errorf("OnRevoke(%s)", id)
	}
	e.assertNoSecrets(e.account.AuthToken, *k.Secret)
}

func TestSQLiteBootstrap(t *testing.T) {
	st, dir, out := openSQLite(t), t.TempDir(), &bytes.Buffer{}
	created, err := EnsureBootstrapAccount(t.Context(), st, dir, out)
	if err != nil || !created {
		t.Fatalf("created %v, %v", created, err)
	}
	if created, err = EnsureBootstrapAccount(t.Context(), st, dir, out); err != nil || created {
		t.Errorf("second run: %v, %v", created, err)
	}
}
