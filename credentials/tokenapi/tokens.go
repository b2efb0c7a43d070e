package tokenapi

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"time"
)

// ntsToken is Twilio's Token resource. Every scalar is a string (twilio-go
// refuses a numeric ttl), and each ICE server carries both the legacy "url"
// and "urls", each a single string.
type ntsToken struct {
	XMLName     xml.Name       `json:"-" xml:"Token"`
	AccountSID  string         `json:"account_sid" xml:"AccountSid"`
	DateCreated string         `json:"date_created" xml:"DateCreated"`
	DateUpdated string         `json:"date_updated" xml:"DateUpdated"`
	IceServers  []ntsIceServer `json:"ice_servers" xml:"IceServers>IceServer"`
	Password    string         `json:"password" xml:"Password"`
	TTL         string         `json:"ttl" xml:"Ttl"`
	Username    string         `json:"username" xml:"Username"`
}

type ntsIceServer struct {
	URL        string `json:"url" xml:"Url"`
	URLs       string `json:"urls" xml:"Urls"`
	Username   string `json:"username,omitempty" xml:"Username,omitempty"`
	Credential string `json:"credential,omitempty" xml:"Credential,omitempty"`
}

// rfc2822 formats t as Twilio's dates: "Tue, 14 Nov 2023 22:13:20 +0000".
func rfc2822(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

// handleTokens serves POST /2010-04-01/Accounts/{AccountSid}/Tokens.json
// (and, in XML, the extensionless .../Tokens).
func (a *API) handleTokens(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	p, ok := a.authBasic(w, r, r.PathValue("AccountSid"))
	if !ok || !a.parseForm(w, r) {
		return
	}
	maxTTL := min(twilioMaxTTL, a.cfg.MaxTTL)
	ttl, msg := parseTTL(r, "Ttl", maxTTL, maxTTL)
	if msg != "" {
		badParameter(w, msg)
		return
	}
	host, ok := a.regionHost(w, r, "Region")
	if !ok {
		return
	}
	now := a.now().Truncate(time.Second)
	cred, err := a.issue(host, p.AccountSID, p.CredID, "", now, ttl)
	if err != nil {
		a.issueFailed(w, err)
		return
	}
	servers := make([]ntsIceServer, len(cred.URLs))
	for i, u := range cred.URLs {
		servers[i] = ntsIceServer{URL: u.uri, URLs: u.uri}
		if u.turn {
			servers[i].Username, servers[i].Credential = cred.Username, cred.Password
		}
	}
	date := rfc2822(now)
	a.metrics.issued(kindNTS, p.AccountSID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, ntsToken{
		AccountSID:  p.AccountSID,
		DateCreated: date,
		DateUpdated: date,
		IceServers:  servers,
		Password:    cred.Password,
		TTL:         strconv.FormatInt(int64(ttl/time.Second), 10),
		Username:    cred.Username,
	})
}
