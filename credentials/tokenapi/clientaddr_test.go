package tokenapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		hdr     map[string]string
		want    string
	}{
		{"no trusted proxies ignores XFF", nil, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.7"}, "10.0.0.1:5000"},
		{"untrusted peer ignores XFF", trusted, "192.0.2.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.7"}, "192.0.2.1:5000"},
		{"trusted peer, XFF client", trusted, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"},
		{"prepended spoof does not help", trusted, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": "1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", trusted, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.7, 10.2.3.4, 10.9.9.9"}, "198.51.100.7"},
		{"Forwarded wins over XFF", trusted, "10.0.0.1:5000", map[string]string{"Forwarded": `for="[2001:db8::1]:443";proto=https, for=10.1.1.1`, "X-Forwarded-For": "203.0.113.1"}, "2001:db8::1"},
		{"Forwarded with port", trusted, "[2001:db8:ffff::5]:80", map[string]string{"Forwarded": "for=198.51.100.8:1234"}, "198.51.100.8"},
		{"obfuscated hop charges the proxy", trusted, "10.0.0.1:5000", map[string]string{"Forwarded": "for=_hidden"}, "10.0.0.1:5000"},
		{"garbage XFF charges the proxy", trusted, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": "not-an-ip"}, "10.0.0.1:5000"},
		{"all hops trusted: the oldest", trusted, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": "10.5.5.5"}, "10.5.5.5"},
		{"no header", trusted, "10.0.0.1:5000", nil, "10.0.0.1:5000"},
		{"huge header is bounded", trusted, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": strings.Repeat("10.0.0.2, ", 10000) + "10.0.0.3"}, "10.0.0.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &API{cfg: Config{TrustedProxies: tc.trusted}}
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			if got := a.clientAddr(r); got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFailedAuthBehindTrustedProxy: behind a trusted proxy (loopback here),
// one attacker's failures block that attacker, not the other clients of the
// same proxy; without the setting, the header is ignored.
func TestFailedAuthBehindTrustedProxy(t *testing.T) {
	tests := []struct {
		name          string
		trusted       []netip.Prefix
		victimBlocked bool
	}{
		{"trusted loopback proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, false},
		{"off by default", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(c *Config) { c.TrustedProxies = tc.trusted })
			attacker := map[string]string{"X-Forwarded-For": "198.51.100.7"}
			var last int
			for range 25 {
				res, _ := e.do("POST", e.tokensPath(), e.account.SID, "0123456789abcdef0123456789abcdef", "", attacker)
				last = res.StatusCode
			}
			if last != http.StatusTooManyRequests {
				t.Fatalf("attacker's 25th failure: %d, want 429", last)
			}
			// A spoofed left-most entry does not get the attacker out.
			res, _ := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", map[string]string{"X-Forwarded-For": "203.0.113.50, 198.51.100.7"})
			if res.StatusCode != http.StatusTooManyRequests {
				t.Errorf("attacker with a prepended address: %d, want 429", res.StatusCode)
			}
			res, body := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", map[string]string{"X-Forwarded-For": "203.0.113.9"})
			if blocked := res.StatusCode == http.StatusTooManyRequests; blocked != tc.victimBlocked {
				t.Errorf("victim behind the same proxy: %d %s; blocked=%v, want %v", res.StatusCode, body, blocked, tc.victimBlocked)
			}
			if !tc.victimBlocked && res.StatusCode != http.StatusCreated {
				t.Errorf("victim: %d %s", res.StatusCode, body)
			}
		})
	}
}
