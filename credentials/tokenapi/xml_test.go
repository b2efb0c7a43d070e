package tokenapi

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/turnkey-dev/turnkey/credentials"
)

// xmlToken and xmlError decode Twilio's XML bodies independently of the
// types the server encodes with.
type xmlToken struct {
	XMLName xml.Name `xml:"TwilioResponse"`
	Token   struct {
		AccountSid, DateCreated, Ttl, Username, Password string
		IceServers                                       []struct {
			Url, Urls, Username, Credential string
		} `xml:"IceServers>IceServer"`
	}
	RestException *struct {
		Code, Status      int
		Message, MoreInfo string
	}
}

// TestTokensWithoutExtensionAnswerXML: Twilio's 2010-04-01 API answers XML
// when the path has no .json, for the resource and for its errors alike.
func TestTokensWithoutExtensionAnswerXML(t *testing.T) {
	e := newEnv(t, nil, nil)
	bare := strings.TrimSuffix(e.tokensPath(), ".json")
	sid, tok := e.account.SID, e.account.AuthToken
	tests := []struct {
		name       string
		method     string
		body       string
		user, pass string
		status     int
		code       int
	}{
		{name: "created", method: "POST", body: "Ttl=120", user: sid, pass: tok, status: 201},
		{name: "bad ttl", method: "POST", body: "Ttl=0", user: sid, pass: tok, status: 400, code: 20001},
		{name: "no credentials", method: "POST", status: 401, code: 20003},
		{name: "wrong method", method: "GET", user: sid, pass: tok, status: 405, code: 20004},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.do(tc.method, bare, tc.user, tc.pass, tc.body, nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/xml; charset=utf-8" {
				t.Fatalf("Content-Type %q: %s", ct, body)
			}
			if !strings.HasPrefix(string(body), "<?xml") {
				t.Errorf("no XML declaration: %s", body)
			}
			var x xmlToken
			if err := xml.Unmarshal(body, &x); err != nil {
				t.Fatalf("not XML: %v: %s", err, body)
			}
			if tc.status >= 400 {
				if x.RestException == nil || x.RestException.Code != tc.code || x.RestException.Status != tc.status ||
					x.RestException.MoreInfo == "" || x.RestException.Message == "" {
					t.Fatalf("RestException = %+v: %s", x.RestException, body)
				}
				return
			}
			if x.Token.AccountSid != sid || x.Token.Ttl != "120" || len(x.Token.IceServers) < 4 {
				t.Fatalf("token = %+v", x.Token)
			}
			if credentials.TURNPassword(testSecret, x.Token.Username) != x.Token.Password {
				t.Error("password does not verify")
			}
			if s := x.Token.IceServers[0]; !strings.HasPrefix(s.Url, "stun:") || s.Username != "" {
				t.Errorf("first server %+v", s)
			}
			if s := x.Token.IceServers[1]; s.Urls != s.Url || s.Credential != x.Token.Password {
				t.Errorf("turn server %+v", s)
			}
		})
	}
	e.assertNoSecrets(tok)
}
