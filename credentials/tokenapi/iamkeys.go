package tokenapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// Twilio's IAM v1 keys (/v1/Keys) are the same keys as the v2010 Keys
// resource, with the account in an AccountSid parameter and the v1 paging
// envelope ("meta", absolute URLs that twilio-node follows as they are).

// iamKey is the v1 Key resource; Secret only in the create response.
type iamKey struct {
	SID          string   `json:"sid"`
	FriendlyName string   `json:"friendly_name"`
	DateCreated  string   `json:"date_created"`
	DateUpdated  string   `json:"date_updated"`
	Flags        []string `json:"flags"`
	Secret       string   `json:"secret,omitempty"`
	Policy       any      `json:"policy"`
}

func iamKeyJSON(k store.Key) iamKey {
	return iamKey{SID: k.SID, FriendlyName: k.FriendlyName, DateCreated: rfc2822(k.DateCreated), DateUpdated: rfc2822(k.DateUpdated), Flags: []string{}}
}

type iamMeta struct {
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURL    string  `json:"first_page_url"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
	NextPageURL     *string `json:"next_page_url"`
	Key             string  `json:"key"`
}

type iamKeyList struct {
	Keys []iamKey `json:"keys"`
	Meta iamMeta  `json:"meta"`
}

// handleIAMKeys serves /v1/Keys: GET lists the keys of AccountSid, POST
// creates a Standard key in it.
func (a *API) handleIAMKeys(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, r, "GET, POST")
		return
	}
	if !a.parseForm(w, r) {
		return
	}
	accountSID := r.Form.Get("AccountSid")
	if !credentials.ValidSID(accountSID, "AC") {
		badParameter(w, "Invalid AccountSid: an account SID (AC followed by 32 hex digits) is required")
		return
	}
	p, ok := a.authMain(w, r, accountSID)
	if !ok {
		return
	}
	if p.viaParent() {
		// Twilio's IAM API (iam.twilio.com) takes only the account's own
		// credentials: a parent's reach covers the 2010-04-01 API alone.
		a.refuseOtherAccount(w, accountSID)
		return
	}
	if r.Method == http.MethodPost {
		switch kt := r.Form.Get("KeyType"); kt {
		case "", "standard":
		default:
			badParameter(w, "Invalid KeyType "+strconv.Quote(kt)+": only Standard keys are supported (no policies)")
			return
		}
		a.createStandardKey(w, r, accountSID, func(k store.Key) any {
			res := iamKeyJSON(k)
			res.Secret = k.Secret
			return res
		})
		return
	}
	keys, pr, next, ok := a.keyPage(w, r, accountSID)
	if !ok {
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base, filters := scheme+"://"+r.Host+"/v1/Keys", url.Values{"AccountSid": {accountSID}}
	res := iamKeyList{Keys: mapItems(keys, iamKeyJSON), Meta: iamMeta{
		Page: pr.page, PageSize: pr.size, FirstPageURL: pr.uri(base, filters, 0, ""), URL: pr.uri(base, filters, pr.page, pr.token), Key: "keys",
	}}
	if next != "" {
		u := pr.uri(base, filters, pr.page+1, next)
		res.Meta.NextPageURL = &u
	}
	writeJSON(w, http.StatusOK, res)
}

// handleIAMKey serves /v1/Keys/{Sid}: GET, POST (rename), DELETE, within the
// account of the Main credentials sent.
func (a *API) handleIAMKey(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodDelete {
		methodNotAllowed(w, r, "GET, POST, DELETE")
		return
	}
	p, ok := a.authMain(w, r, "")
	if !ok || !a.parseForm(w, r) {
		return
	}
	a.serveKey(w, r, p.AccountSID, func(k store.Key) any { return iamKeyJSON(k) })
}
