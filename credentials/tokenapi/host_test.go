package tokenapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TestHostForGlobalLabel: separate STUN and TURN hosts, and Twilio's
// convention of pinning a region by replacing the "global" label.
func TestHostForGlobalLabel(t *testing.T) {
	tests := []struct {
		name             string
		public           string
		stun, turn       string
		regions          map[string]string
		region           string
		wantSTUN, wantTN string
		wantErr          bool
	}{
		{"global", "", "global.stun.example.com", "global.turn.example.com", nil, "", "global.stun.example.com", "global.turn.example.com", false},
		{"region by label", "", "global.stun.example.com", "global.turn.example.com", nil, "eu1", "eu1.stun.example.com", "eu1.turn.example.com", false},
		{"configured region wins", "", "global.stun.example.com", "global.turn.example.com", map[string]string{"eu1": "relay-eu.example.com"}, "eu1", "relay-eu.example.com", "relay-eu.example.com", false},
		{"only TURN labelled", "relay.example.com", "", "global.turn.example.com", nil, "us1", "relay.example.com", "us1.turn.example.com", false},
		{"STUN defaults to public", "relay.example.com", "", "turn.example.com", nil, "", "relay.example.com", "turn.example.com", false},
		{"no label, no region", "", "stun.example.com", "turn.example.com", nil, "eu1", "", "", true},
		{"region not a label", "", "global.stun.example.com", "global.turn.example.com", nil, "EU_1", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newHostPolicyNamed(tc.public, tc.stun, tc.turn, tc.regions)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/", nil)
			r.Host = "api.example.com"
			got, err := p.hostFor(r, tc.region)
			if (err != nil) != tc.wantErr || got.stun != tc.wantSTUN || got.turn != tc.wantTN {
				t.Errorf("hostFor(%q) = %+v, %v; want stun %q turn %q err=%v", tc.region, got, err, tc.wantSTUN, tc.wantTN, tc.wantErr)
			}
		})
	}
	if _, err := newHostPolicyNamed("", "bad host/x", "", nil); err == nil {
		t.Error("a bad STUN host was accepted")
	}
}

// TestTokensGlobalHostnames: twilio-go gets Twilio-shaped hostnames, and
// the Region field pins one by the same convention.
func TestTokensGlobalHostnames(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) {
		c.STUNHost, c.TURNHost = "global.stun.example.com", "global.turn.example.com"
	})
	c := e.accountClient()
	tok, err := c.Api.CreateToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	servers := *tok.IceServers
	if !strings.HasPrefix(servers[0].Urls, "stun:global.stun.example.com:") {
		t.Errorf("first server %q, want stun on global.stun", servers[0].Urls)
	}
	for _, s := range servers[1:] {
		if !strings.Contains(s.Urls, ":global.turn.example.com:") {
			t.Errorf("TURN server %q not on global.turn", s.Urls)
		}
	}
	res, body := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "Region=ie1", nil)
	if res.StatusCode != 201 || !strings.Contains(string(body), "stun:ie1.stun.example.com:3478") || !strings.Contains(string(body), "turn:ie1.turn.example.com:3478?transport=udp") {
		t.Errorf("Region=ie1: %d %s", res.StatusCode, body)
	}
	if strings.Contains(string(body), "global.") {
		t.Errorf("Region=ie1 answer still names global hosts: %s", body)
	}
	// The field keeps working next to the convention.
	tok, err = c.Api.CreateToken(&openapi.CreateTokenParams{Ttl: ptr(60)})
	if err != nil || *tok.Ttl != "60" {
		t.Fatalf("CreateToken(Ttl): %v, %v", tok, err)
	}
}
