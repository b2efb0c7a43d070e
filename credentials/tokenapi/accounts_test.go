package tokenapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// wantRestError checks err is Twilio's envelope with status and code.
func wantRestError(t *testing.T, what string, err error, status, code int) {
	t.Helper()
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		t.Errorf("%s: error %v (%T); want %d/%d", what, err, err, status, code)
		return
	}
	if te.Status != status || te.Code != code {
		t.Errorf("%s: %d/%d %q; want %d/%d", what, te.Status, te.Code, te.Message, status, code)
	}
}

// TestSubaccountLifecycle drives subaccounts with twilio-go: create, list,
// act as the parent, suspend, reactivate, close.
func TestSubaccountLifecycle(t *testing.T) {
	e := newEnv(t, openSQLite(t), nil)
	parent := e.accountClient()

	created, err := parent.Api.CreateAccount(&openapi.CreateAccountParams{FriendlyName: ptr("customer 1")})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if *created.OwnerAccountSid != e.account.SID || *created.Status != "active" || *created.AuthToken == e.account.AuthToken || *created.FriendlyName != "customer 1" {
		t.Fatalf("subaccount = owner %s status %s name %q", *created.OwnerAccountSid, *created.Status, *created.FriendlyName)
	}
	unnamed, err := parent.Api.CreateAccount(nil)
	if err != nil || !strings.HasPrefix(*unnamed.FriendlyName, "SubAccount Created at ") {
		t.Fatalf("CreateAccount(no name) = %v, %v", unnamed, err)
	}
	subSID := *created.Sid
	sub := e.twilioClient(twilio.ClientParams{Username: subSID, Password: *created.AuthToken})

	all, err := parent.Api.ListAccount(&openapi.ListAccountParams{PageSize: ptr(1)})
	if err != nil || len(all) != 3 {
		t.Fatalf("parent lists %d accounts, %v; want itself and 2 subaccounts", len(all), err)
	}
	if own, err := sub.Api.ListAccount(nil); err != nil || len(own) != 1 || *own[0].Sid != subSID {
		t.Errorf("a subaccount lists %d accounts, %v; want itself", len(own), err)
	}
	if _, err := sub.Api.CreateAccount(nil); err == nil {
		t.Error("a subaccount created a subaccount")
	} else {
		wantRestError(t, "subaccount creating a subaccount", err, 403, 20403)
	}

	// The parent's auth token acts for the subaccount; its keys do not.
	tok, err := parent.Api.CreateToken(&openapi.CreateTokenParams{PathAccountSid: &subSID})
	if err != nil || *tok.AccountSid != subSID || !strings.Contains(*tok.Username, subSID+"."+e.account.AuthTokenID) {
		t.Fatalf("parent's token for the subaccount = %v, %v", tok, err)
	}
	mainKey, err := e.store.CreateMainKey(t.Context(), e.account.SID, "main")
	if err != nil {
		t.Fatal(err)
	}
	viaKey := e.twilioClient(twilio.ClientParams{Username: mainKey.SID, Password: mainKey.Secret, AccountSid: e.account.SID})
	_, err = viaKey.Api.FetchAccount(subSID)
	wantRestError(t, "parent's Main key on a subaccount", err, 401, 20003)

	// Only the parent changes a subaccount's status.
	_, err = sub.Api.UpdateAccount(subSID, &openapi.UpdateAccountParams{Status: ptr("suspended")})
	wantRestError(t, "subaccount suspending itself", err, 403, 20403)
	_, err = parent.Api.UpdateAccount(e.account.SID, &openapi.UpdateAccountParams{Status: ptr("suspended")})
	wantRestError(t, "top-level account suspending itself", err, 403, 20403)
	_, err = parent.Api.UpdateAccount(subSID, &openapi.UpdateAccountParams{Status: ptr("paused")})
	wantRestError(t, "bad status", err, 400, 20001)

	subKey, err := sub.Api.CreateNewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	jwt := e.accessToken(t, store.Key{SID: *subKey.Sid, AccountSID: subSID, Secret: *subKey.Secret}, "alice", 3600e9)
	if res, body := e.iceCall("GET", jwt, "", "", nil); res.StatusCode != 200 {
		t.Fatalf("ice-servers before suspension: %d %s", res.StatusCode, body)
	}

	upd, err := parent.Api.UpdateAccount(subSID, &openapi.UpdateAccountParams{Status: ptr("suspended"), FriendlyName: ptr("late payer")})
	if err != nil || *upd.Status != "suspended" || *upd.FriendlyName != "late payer" {
		t.Fatalf("suspend = %v, %v", upd, err)
	}
	if id := <-e.revoked; id != subSID {
		t.Errorf("OnRevoke(%s); want the subaccount", id)
	}
	_, err = sub.Api.FetchAccount(subSID)
	wantRestError(t, "suspended subaccount fetching itself", err, 401, 20005)
	_, err = sub.Api.CreateToken(nil)
	wantRestError(t, "suspended subaccount creating a token", err, 401, 20005)
	_, err = parent.Api.CreateToken(&openapi.CreateTokenParams{PathAccountSid: &subSID})
	wantRestError(t, "parent creating a token for a suspended subaccount", err, 401, 20005)
	if res, body := e.iceCall("GET", jwt, "", "", nil); res.StatusCode != 401 || !strings.Contains(string(body), "20005") {
		t.Errorf("ice-servers for a suspended account: %d %s; want 401/20005", res.StatusCode, body)
	}
	if got, err := parent.Api.FetchAccount(subSID); err != nil || *got.Status != "suspended" {
		t.Errorf("parent fetching the suspended subaccount = %v, %v", got, err)
	}
	if list, err := parent.Api.ListAccount(&openapi.ListAccountParams{Status: ptr("suspended")}); err != nil || len(list) != 1 || *list[0].Sid != subSID {
		t.Errorf("ListAccount(Status=suspended) = %d, %v", len(list), err)
	}

	if _, err := parent.Api.UpdateAccount(subSID, &openapi.UpdateAccountParams{Status: ptr("active")}); err != nil {
		t.Fatalf("reactivate: %v", err)
	}
	if _, err := sub.Api.CreateToken(nil); err != nil {
		t.Errorf("reactivated subaccount creating a token: %v", err)
	}
	if res, body := e.iceCall("GET", jwt, "", "", nil); res.StatusCode != 200 {
		t.Errorf("ice-servers after reactivation: %d %s", res.StatusCode, body)
	}

	if _, err := parent.Api.UpdateAccount(subSID, &openapi.UpdateAccountParams{Status: ptr("closed")}); err != nil {
		t.Fatalf("close: %v", err)
	}
	_, err = parent.Api.UpdateAccount(subSID, &openapi.UpdateAccountParams{Status: ptr("active")})
	wantRestError(t, "reopening a closed subaccount", err, 400, 21479)
	_, err = sub.Api.CreateToken(nil)
	wantRestError(t, "closed subaccount creating a token", err, 401, 20005)

	// The operator suspends the parent: its subaccounts stop too.
	other, err := parent.Api.CreateAccount(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateAccount(t.Context(), e.account.SID, store.AccountUpdate{Status: store.StatusSuspended}); err != nil {
		t.Fatal(err)
	}
	_, err = parent.Api.FetchAccount(e.account.SID)
	wantRestError(t, "suspended parent", err, 401, 20005)
	otherClient := e.twilioClient(twilio.ClientParams{Username: *other.Sid, Password: *other.AuthToken})
	_, err = otherClient.Api.CreateToken(nil)
	wantRestError(t, "subaccount of a suspended parent", err, 401, 20005)
	e.assertNoSecrets(e.account.AuthToken, *created.AuthToken, *subKey.Secret, mainKey.Secret)
}

// TestAccountsListPaging pages hundreds of subaccounts the way the helper
// libraries do, with the filters.
func TestAccountsListPaging(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st, nil)
	const n = 260
	for i := range n {
		if _, err := st.CreateSubaccount(t.Context(), e.account.SID, fmt.Sprintf("tenant %d", i%4)); err != nil {
			t.Fatal(err)
		}
	}
	other, err := st.CreateAccount(t.Context(), "other tenant")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateSubaccount(t.Context(), other.SID, "tenant 0"); err != nil {
		t.Fatal(err)
	}
	c := e.accountClient()
	all, err := c.Api.ListAccount(&openapi.ListAccountParams{PageSize: ptr(50)})
	if err != nil || len(all) != n+1 {
		t.Fatalf("ListAccount = %d accounts, %v; want %d", len(all), err, n+1)
	}
	seen := map[string]bool{}
	for _, a := range all {
		if seen[*a.Sid] || (*a.OwnerAccountSid != e.account.SID) {
			t.Fatalf("account %s listed twice or not ours (owner %s)", *a.Sid, *a.OwnerAccountSid)
		}
		seen[*a.Sid] = true
	}
	named, err := c.Api.ListAccount(&openapi.ListAccountParams{FriendlyName: ptr("tenant 0"), PageSize: ptr(20)})
	if err != nil || len(named) != n/4 {
		t.Errorf("ListAccount(FriendlyName) = %d, %v; want %d", len(named), err, n/4)
	}

	res, body := e.do("GET", "/2010-04-01/Accounts.json?PageSize=100", e.account.SID, e.account.AuthToken, "", nil)
	var page accountList
	if res.StatusCode != 200 || json.Unmarshal(body, &page) != nil || len(page.Accounts) != 100 || page.NextPageURI == nil {
		t.Fatalf("first page: %d %s", res.StatusCode, body)
	}
	res, body = e.do("GET", *page.NextPageURI, e.account.SID, e.account.AuthToken, "", nil)
	if res.StatusCode != 200 || json.Unmarshal(body, &page) != nil || page.Page != 1 || page.Start != 100 {
		t.Fatalf("second page: %d %s", res.StatusCode, body)
	}
	for _, q := range []string{"PageSize=0", "Page=2", "PageToken=PAxyz", "Status=paused", "FriendlyName=" + strings.Repeat("x", 65)} {
		if res, body := e.do("GET", "/2010-04-01/Accounts.json?"+q, e.account.SID, e.account.AuthToken, "", nil); res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "20001") {
			t.Errorf("GET ?%s: %d %s; want 400/20001", q, res.StatusCode, body)
		}
	}
	if res, _ := e.do("DELETE", "/2010-04-01/Accounts.json", e.account.SID, e.account.AuthToken, "", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", res.StatusCode)
	}
	key, err := st.CreateKey(t.Context(), e.account.SID, "standard")
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := e.do("POST", "/2010-04-01/Accounts.json", key.SID, key.Secret, "", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a Standard key creating a subaccount: %d; want 401", res.StatusCode)
	}
}

// TestParentAuthTokenScope: the parent's auth token reaches its
// subaccount's 2010-04-01 resources (Keys, Tokens, Usage Records), not the
// IAM v1 Keys, and never a sibling's or another tenant's subaccount.
func TestParentAuthTokenScope(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st, nil)
	sub, err := st.CreateSubaccount(t.Context(), e.account.SID, "sub")
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateAccount(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	otherSub, err := st.CreateSubaccount(t.Context(), other.SID, "other's sub")
	if err != nil {
		t.Fatal(err)
	}
	u, p := e.account.SID, e.account.AuthToken
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/2010-04-01/Accounts/" + sub.SID + ".json", 200},
		{"GET", "/2010-04-01/Accounts/" + sub.SID + "/Keys.json", 200},
		{"POST", "/2010-04-01/Accounts/" + sub.SID + "/Tokens.json", 201},
		{"GET", "/2010-04-01/Accounts/" + sub.SID + "/Usage/Records.json", 200},
		{"GET", "/v1/Keys?AccountSid=" + sub.SID, 401},
		{"GET", "/2010-04-01/Accounts/" + otherSub.SID + ".json", 401},
		{"POST", "/2010-04-01/Accounts/" + otherSub.SID + "/Tokens.json", 401},
		{"GET", "/2010-04-01/Accounts/" + other.SID + ".json", 401},
	} {
		if res, body := e.do(tc.method, tc.path, u, p, "", nil); res.StatusCode != tc.want {
			t.Errorf("%s %s: %d %s; want %d", tc.method, tc.path, res.StatusCode, body, tc.want)
		}
	}
	// A subaccount's credentials never reach its parent.
	if res, _ := e.do("GET", "/2010-04-01/Accounts/"+e.account.SID+".json", sub.SID, sub.AuthToken, "", nil); res.StatusCode != 401 {
		t.Errorf("subaccount fetching its parent: %d, want 401", res.StatusCode)
	}
}
