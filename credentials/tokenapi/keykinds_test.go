package tokenapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// TestKeyKindsOnManagementResources: Standard keys get 401 / 20003 on Keys
// and Accounts; the auth token and Main keys may use them; every credential
// issues tokens.
func TestKeyKindsOnManagementResources(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	std, err := e.store.CreateKey(ctx, e.account.SID, "std")
	if err != nil {
		t.Fatal(err)
	}
	main, err := e.store.CreateMainKey(ctx, e.account.SID, "main")
	if err != nil {
		t.Fatal(err)
	}
	victim, err := e.store.CreateKey(ctx, e.account.SID, "victim")
	if err != nil {
		t.Fatal(err)
	}
	keyPath := "/2010-04-01/Accounts/" + e.account.SID + "/Keys/" + victim.SID + ".json"
	acctPath := "/2010-04-01/Accounts/" + e.account.SID + ".json"
	creds := []struct {
		name       string
		user, pass string
		main       bool
	}{
		{"auth token", e.account.SID, e.account.AuthToken, true},
		{"main key", main.SID, main.Secret, true},
		{"standard key", std.SID, std.Secret, false},
	}
	requests := []struct {
		name, method, path, body string
		okStatus                 int
		managed                  bool
	}{
		{"list keys", "GET", e.keysPath(), "", 200, true},
		{"create key", "POST", e.keysPath(), "FriendlyName=x", 201, true},
		{"fetch key", "GET", keyPath, "", 200, true},
		{"rename key", "POST", keyPath, "FriendlyName=y", 200, true},
		{"fetch account", "GET", acctPath, "", 200, true},
		{"issue token", "POST", e.tokensPath(), "Ttl=60", 201, false},
	}
	for _, c := range creds {
		for _, rq := range requests {
			t.Run(c.name+"/"+rq.name, func(t *testing.T) {
				res, body := e.do(rq.method, rq.path, c.user, c.pass, rq.body, nil)
				want := rq.okStatus
				if rq.managed && !c.main {
					want = 401
				}
				if res.StatusCode != want {
					t.Fatalf("status %d, want %d: %s", res.StatusCode, want, body)
				}
				if want == 401 {
					var te twilioError
					if err := json.Unmarshal(body, &te); err != nil || te.Code != 20003 {
						t.Errorf("body %s; want code 20003", body)
					}
				}
			})
		}
	}
	// A Standard key cannot delete keys, itself included: a leaked key must
	// not outlive its own deletion by minting another.
	for _, sid := range []string{victim.SID, std.SID} {
		path := "/2010-04-01/Accounts/" + e.account.SID + "/Keys/" + sid + ".json"
		if res, body := e.do("DELETE", path, std.SID, std.Secret, "", nil); res.StatusCode != 401 {
			t.Errorf("Standard key DELETE %s: %d %s", sid, res.StatusCode, body)
		}
	}
	if _, err := e.store.GetKey(ctx, "", victim.SID); err != nil {
		t.Errorf("victim key gone after refused delete: %v", err)
	}
	e.assertNoSecrets(e.account.AuthToken, std.Secret, main.Secret)
}

// TestKeysPageAndRemoveTwilioGo runs twilio-go's lazy stream over hundreds
// of keys, removing each as it arrives: the library fetches the next page
// while the current one is being removed, and keyset paging must still
// reach every key.
func TestKeysPageAndRemoveTwilioGo(t *testing.T) {
	for _, backend := range []string{"fake", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			var st store.Store
			if backend == "sqlite" {
				st = openSQLite(t)
			}
			e := newEnv(t, st, noRevokeHook)
			const n = 320
			for i := range n {
				if _, err := e.store.CreateKey(t.Context(), e.account.SID, fmt.Sprint("k", i)); err != nil {
					t.Fatal(err)
				}
			}
			c := e.accountClient()
			keys, errs := c.Api.StreamKey(&openapi.ListKeyParams{PageSize: ptr(50)})
			removed := 0
			for k := range keys {
				if err := c.Api.DeleteKey(*k.Sid, nil); err != nil {
					t.Fatalf("DeleteKey: %v", err)
				}
				removed++
			}
			if err := <-errs; err != nil {
				t.Fatalf("StreamKey: %v", err)
			}
			left, err := e.store.ListKeys(t.Context(), e.account.SID)
			if err != nil || len(left) != 0 || removed != n {
				t.Fatalf("removed %d of %d, %d left (%v)", removed, n, len(left), err)
			}
		})
	}
}

// TestKeysPageAndRemoveNode is the same loop through twilio-node's
// page()/nextPage(), plus its view of a Standard key on Keys.
func TestKeysPageAndRemoveNode(t *testing.T) {
	e := newEnv(t, nil, noRevokeHook)
	std, err := e.store.CreateKey(t.Context(), e.account.SID, "std")
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	for i := range n {
		if _, err := e.store.CreateKey(t.Context(), e.account.SID, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	var out struct {
		Removed, Pages int
		Left           []string
		Standard       struct{ Status, Code int }
	}
	runNode(t, e, "twilio-keys-remove.js", []string{"STANDARD_KEY=" + std.SID, "STANDARD_SECRET=" + std.Secret, "PAGE_SIZE=20"}, &out)
	if out.Removed != n || len(out.Left) != 1 || out.Left[0] != std.SID || out.Pages < n/20 {
		t.Errorf("node page-and-remove: %+v; want %d removed over >= %d pages, only the Standard key left", out, n, n/20)
	}
	if out.Standard.Status != 401 || out.Standard.Code != 20003 {
		t.Errorf("Standard key listing keys: %+v; want 401/20003", out.Standard)
	}
}

// noRevokeHook drops the test env's OnRevoke, whose buffered channel would
// fill up and block the handler after 100 deletions.
func noRevokeHook(c *Config) { c.OnRevoke = nil }

// TestOtherAccountPathIs401: valid credentials with another account's SID
// in the path get Twilio's 401 / 20003, on every resource.
func TestOtherAccountPathIs401(t *testing.T) {
	e := newEnv(t, nil, nil)
	other, err := e.store.CreateAccount(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	c := e.twilioClient(twilio.ClientParams{Username: e.account.SID, Password: e.account.AuthToken, AccountSid: other.SID})
	calls := []struct {
		name string
		call func() error
	}{
		{"tokens", func() error { _, err := c.Api.CreateToken(nil); return err }},
		{"list keys", func() error { _, err := c.Api.ListKey(nil); return err }},
		{"create key", func() error { _, err := c.Api.CreateNewKey(nil); return err }},
		{"fetch account", func() error { _, err := c.Api.FetchAccount(other.SID); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			var te *client.TwilioRestError
			if err := tc.call(); !errors.As(err, &te) || te.Status != 401 || te.Code != 20003 {
				t.Errorf("%v; want 401/20003", err)
			}
		})
	}
}
