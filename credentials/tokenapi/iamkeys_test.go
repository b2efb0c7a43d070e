package tokenapi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	iam "github.com/twilio/twilio-go/rest/iam/v1"
)

// TestIAMKeysTwilioGo drives /v1/Keys with twilio-go's IAM v1 client:
// create, list across pages, fetch, rename, delete; a Standard key is
// refused; a restricted key type is refused with 400.
func TestIAMKeysTwilioGo(t *testing.T) {
	e := newEnv(t, nil, noRevokeHook)
	c := e.accountClient()
	sid := e.account.SID
	var made []string
	for i := range 25 {
		k, err := c.IamV1.CreateNewKey(&iam.CreateNewKeyParams{AccountSid: &sid, FriendlyName: ptr(fmt.Sprint("iam", i))})
		if err != nil {
			t.Fatalf("CreateNewKey: %v", err)
		}
		if k.Secret == nil || *k.Secret == "" || k.Sid == nil {
			t.Fatalf("created %+v", k)
		}
		made = append(made, *k.Sid)
	}
	list, err := c.IamV1.ListGetKeys(&iam.ListGetKeysParams{AccountSid: &sid, PageSize: ptr(7)})
	if err != nil || len(list) != len(made) {
		t.Fatalf("ListGetKeys across pages of 7: %d keys, %v; want %d", len(list), err, len(made))
	}
	k, err := c.IamV1.FetchKey(made[0])
	if err != nil || *k.FriendlyName != "iam0" {
		t.Fatalf("FetchKey: %+v, %v", k, err)
	}
	u, err := c.IamV1.UpdateKey(made[0], &iam.UpdateKeyParams{FriendlyName: ptr("renamed")})
	if err != nil || *u.FriendlyName != "renamed" {
		t.Fatalf("UpdateKey: %+v, %v", u, err)
	}
	if err := c.IamV1.DeleteKey(made[0]); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	var te *client.TwilioRestError
	if _, err := c.IamV1.FetchKey(made[0]); !errors.As(err, &te) || te.Status != 404 {
		t.Errorf("fetch after delete: %v; want 404", err)
	}
	if _, err := c.IamV1.CreateNewKey(&iam.CreateNewKeyParams{AccountSid: &sid, KeyType: ptr("restricted")}); !errors.As(err, &te) || te.Status != 400 || te.Code != 20001 {
		t.Errorf("restricted key: %v; want 400/20001", err)
	}
	std, err := e.store.CreateKey(t.Context(), sid, "std")
	if err != nil {
		t.Fatal(err)
	}
	sc := e.twilioClient(twilio.ClientParams{Username: std.SID, Password: std.Secret, AccountSid: sid})
	if _, err := sc.IamV1.ListGetKeys(&iam.ListGetKeysParams{AccountSid: &sid}); !errors.As(err, &te) || te.Status != 401 || te.Code != 20003 {
		t.Errorf("Standard key on /v1/Keys: %v; want 401/20003", err)
	}
	if _, err := sc.IamV1.FetchKey(made[1]); !errors.As(err, &te) || te.Status != 401 || te.Code != 20003 {
		t.Errorf("Standard key on /v1/Keys/{Sid}: %v; want 401/20003", err)
	}
	other, err := e.store.CreateAccount(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.IamV1.ListGetKeys(&iam.ListGetKeysParams{AccountSid: &other.SID}); !errors.As(err, &te) || te.Status != 401 || te.Code != 20003 {
		t.Errorf("another account's keys: %v; want 401/20003", err)
	}
	e.assertNoSecrets(e.account.AuthToken, std.Secret)
}
