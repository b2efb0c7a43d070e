package tokenapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials"
)

func TestKeysLifecycleTwilioGo(t *testing.T) {
	e := newEnv(t, nil, nil)
	c := e.accountClient()

	created, err := c.Api.CreateNewKey(&openapi.CreateNewKeyParams{FriendlyName: ptr("ci")})
	if err != nil {
		t.Fatalf("CreateNewKey: %v", err)
	}
	if !credentials.ValidSID(*created.Sid, "SK") || *created.FriendlyName != "ci" || created.Secret == nil || *created.Secret == "" {
		t.Fatalf("created key %+v", created)
	}
	if !strings.HasSuffix(*created.DateCreated, "+0000") {
		t.Errorf("date_created %q not RFC 2822 UTC", *created.DateCreated)
	}

	// The new key is Standard, as Twilio's Keys resource makes them: it
	// issues tokens but may not manage keys (401 / 20003).
	kc := e.twilioClient(twilio.ClientParams{Username: *created.Sid, Password: *created.Secret, AccountSid: e.account.SID})
	var refused *client.TwilioRestError
	if _, err := kc.Api.FetchKey(*created.Sid, nil); !errors.As(err, &refused) || refused.Status != 401 || refused.Code != 20003 {
		t.Fatalf("FetchKey with a Standard key: %v; want 401/20003", err)
	}
	fetched, err := c.Api.FetchKey(*created.Sid, nil)
	if err != nil {
		t.Fatalf("FetchKey: %v", err)
	}
	if *fetched.Sid != *created.Sid || *fetched.FriendlyName != "ci" {
		t.Errorf("fetched %+v", fetched)
	}
	tok, err := kc.Api.CreateToken(nil)
	if err != nil {
		t.Fatalf("CreateToken with the new key: %v", err)
	}
	checkTURNUser(t, *tok.Username, *tok.Password, e.account.SID, *created.Sid, e.clock.Now().Add(86400e9))

	updated, err := c.Api.UpdateKey(*created.Sid, &openapi.UpdateKeyParams{FriendlyName: ptr("renamed")})
	if err != nil || *updated.FriendlyName != "renamed" {
		t.Fatalf("UpdateKey: %+v, %v", updated, err)
	}

	list, err := c.Api.ListKey(nil)
	if err != nil || len(list) != 1 || *list[0].Sid != *created.Sid || *list[0].FriendlyName != "renamed" {
		t.Fatalf("ListKey: %+v, %v", list, err)
	}

	if err := c.Api.DeleteKey(*created.Sid, nil); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	select {
	case id := <-e.revoked:
		if id != *created.Sid {
			t.Errorf("OnRevoke(%q); want %q", id, *created.Sid)
		}
	default:
		t.Error("OnRevoke was not called")
	}
	_, err = c.Api.FetchKey(*created.Sid, nil)
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Status != 404 || te.Code != 20404 {
		t.Errorf("fetch after delete: %v; want 404/20404", err)
	}
	// The deleted key no longer authenticates.
	_, err = kc.Api.CreateToken(nil)
	if !errors.As(err, &te) || te.Code != 20003 {
		t.Errorf("token with deleted key: %v; want 20003", err)
	}
	e.assertNoSecrets(e.account.AuthToken, *created.Secret)
}

func TestKeysPagingTwilioGo(t *testing.T) {
	e := newEnv(t, nil, nil)
	c := e.accountClient()
	var want []string
	for i := range 7 {
		k, err := c.Api.CreateNewKey(&openapi.CreateNewKeyParams{FriendlyName: ptr(fmt.Sprint("k", i))})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, *k.Sid)
	}
	sort.Strings(want) // same creation second: ordered by SID
	tests := []struct {
		name   string
		params *openapi.ListKeyParams
		want   int
	}{
		{"all in pages of 3", &openapi.ListKeyParams{PageSize: ptr(3)}, 7},
		{"limit 5 in pages of 2", &openapi.ListKeyParams{PageSize: ptr(2), Limit: ptr(5)}, 5},
		{"default page", nil, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Api.ListKey(tc.params)
			if err != nil {
				t.Fatalf("ListKey: %v", err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d keys; want %d", len(got), tc.want)
			}
			for i, k := range got {
				if *k.Sid != want[i] {
					t.Errorf("key %d is %s; want %s", i, *k.Sid, want[i])
				}
			}
		})
	}

	// The envelope of a middle page, raw, reached through next_page_uri.
	res, body := e.do("GET", e.keysPath()+"?PageSize=3", e.account.SID, e.account.AuthToken, "", nil)
	var first keyList
	if err := json.Unmarshal(body, &first); err != nil || res.StatusCode != 200 || first.NextPageURI == nil {
		t.Fatalf("first page %d: %s", res.StatusCode, body)
	}
	res, body = e.do("GET", *first.NextPageURI, e.account.SID, e.account.AuthToken, "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	var page keyList
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	base := e.keysPath()
	if page.Page != 1 || page.PageSize != 3 || page.Start != 3 || page.End != 5 || len(page.Keys) != 3 ||
		page.FirstPageURI != base+"?Page=0&PageSize=3" || page.URI != *first.NextPageURI ||
		page.NextPageURI == nil || !strings.HasPrefix(*page.NextPageURI, base+"?Page=2&PageSize=3&PageToken=PA") ||
		page.PreviousPageURI != nil {
		t.Errorf("page envelope %s", body)
	}
	if strings.Contains(string(body), "secret") {
		t.Error("list shows secrets")
	}
	var rawPage map[string]any
	_ = json.Unmarshal(body, &rawPage)
	_, hasNext := rawPage["next_page_uri"]
	if !hasNext {
		t.Error("next_page_uri missing; Twilio always sends it (null at the end)")
	}
}

func TestKeysWire(t *testing.T) {
	e := newEnv(t, nil, nil)
	other := newEnv(t, e.store, nil) // second account in the same store
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "a")
	otherKey, _ := e.store.CreateKey(t.Context(), other.account.SID, "b")
	sid, tok := e.account.SID, e.account.AuthToken
	keyPath := func(k string) string { return "/2010-04-01/Accounts/" + sid + "/Keys/" + k + ".json" }
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		allow  string
	}{
		{"fetch", "GET", keyPath(key.SID), "", 200, ""},
		{"fetch without .json", "GET", strings.TrimSuffix(keyPath(key.SID), ".json"), "", 200, ""},
		{"fetch another account's key", "GET", keyPath(otherKey.SID), "", 404, ""},
		{"delete another account's key", "DELETE", keyPath(otherKey.SID), "", 404, ""},
		{"fetch malformed sid", "GET", keyPath("SKnope"), "", 404, ""},
		{"update without parameters", "POST", keyPath(key.SID), "", 200, ""},
		{"name too long", "POST", keyPath(key.SID), "FriendlyName=" + strings.Repeat("x", 65), 400, ""},
		{"create name too long", "POST", e.keysPath(), "FriendlyName=" + strings.Repeat("x", 65), 400, ""},
		{"PUT key", "PUT", keyPath(key.SID), "", 405, "GET, POST, DELETE"},
		{"DELETE list", "DELETE", e.keysPath(), "", 405, "GET, POST"},
		{"bad PageSize", "GET", e.keysPath() + "?PageSize=0", "", 400, ""},
		{"huge PageSize", "GET", e.keysPath() + "?PageSize=1001", "", 400, ""},
		{"bad Page", "GET", e.keysPath() + "?Page=-1", "", 400, ""},
		{"page without its PageToken", "GET", e.keysPath() + "?Page=9", "", 400, ""},
		{"forged PageToken", "GET", e.keysPath() + "?Page=1&PageToken=PAnope", "", 400, ""},
		{"PageToken of another shape", "GET", e.keysPath() + "?PageToken=PA" + "MTIzX1NLbm9wZQ", "", 400, ""},
		{"list without .json", "GET", strings.TrimSuffix(e.keysPath(), ".json"), "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.do(tc.method, tc.path, sid, tok, tc.body, nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d; want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.allow != "" && res.Header.Get("Allow") != tc.allow {
				t.Errorf("Allow %q; want %q", res.Header.Get("Allow"), tc.allow)
			}
		})
	}
	// Another account's auth token cannot list this account's keys.
	res, _ := e.do("GET", e.keysPath(), other.account.SID, other.account.AuthToken, "", nil)
	if res.StatusCode != 401 {
		t.Errorf("cross-account list: %d; want 401 as Twilio answers", res.StatusCode)
	}
	if _, err := e.store.GetKey(t.Context(), other.account.SID, otherKey.SID); err != nil {
		t.Errorf("another account's key was touched: %v", err)
	}
}

func TestKeysConcurrentCreate(t *testing.T) {
	e := newEnv(t, nil, nil)
	concurrentKeyCreation(t, e, 50)
}

// concurrentKeyCreation creates n keys at once through twilio-go and checks
// they are all distinct and listed.
func concurrentKeyCreation(t *testing.T, e *env, n int) {
	t.Helper()
	c := e.accountClient()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			k, err := c.Api.CreateNewKey(&openapi.CreateNewKeyParams{FriendlyName: ptr(fmt.Sprint("c", i))})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			seen[*k.Sid] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("CreateNewKey: %v", err)
	}
	if len(seen) != n {
		t.Fatalf("%d distinct keys; want %d", len(seen), n)
	}
	list, err := c.Api.ListKey(&openapi.ListKeyParams{PageSize: ptr(20)})
	if err != nil || len(list) != n {
		t.Fatalf("ListKey: %d keys, %v; want %d", len(list), err, n)
	}
	if res, _ := e.do("GET", e.keysPath(), e.account.SID, e.account.AuthToken, "", nil); res.StatusCode != http.StatusOK {
		t.Errorf("raw list %d", res.StatusCode)
	}
}
