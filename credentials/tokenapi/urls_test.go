package tokenapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRelayURLs(t *testing.T) {
	tests := []struct {
		name      string
		listeners []Listener
		want      string
	}{
		{"twilio order from shuffled input", []Listener{
			{"turns", 443, "tcp"}, {"turn", 443, "tcp"}, {"turns", 5349, "tcp"}, {"turn", 3478, "tcp"}, {"turn", 3478, "udp"},
		}, "stun:h:3478 turn:h:3478?transport=udp turn:h:3478?transport=tcp turn:h:443?transport=tcp turns:h:5349?transport=tcp turns:h:443?transport=tcp"},
		{"twilio order on non-standard ports", []Listener{
			{"turn", 443, "tcp"}, {"turn", 3479, "tcp"}, {"turn", 3479, "udp"},
		}, "stun:h:3479 turn:h:3479?transport=udp turn:h:3479?transport=tcp turn:h:443?transport=tcp"},
		{"443 last even below another port", []Listener{
			{"turn", 443, "tcp"}, {"turn", 8443, "tcp"}, {"turn", 3478, "tcp"}, {"turn", 10000, "udp"},
		}, "stun:h:10000 turn:h:10000?transport=udp turn:h:3478?transport=tcp turn:h:8443?transport=tcp turn:h:443?transport=tcp"},
		{"stun-only listener", []Listener{{"stun", 3478, "udp"}}, "stun:h:3478"},
		{"stun over tcp has no uri", []Listener{{"stun", 3478, "tcp"}}, ""},
		{"non-standard ports ascending after standard", []Listener{{"turn", 5000, "udp"}, {"turn", 3478, "udp"}, {"turn", 4000, "udp"}},
			"stun:h:3478 stun:h:4000 stun:h:5000 turn:h:3478?transport=udp turn:h:4000?transport=udp turn:h:5000?transport=udp"},
		{"duplicates collapse", []Listener{{"turn", 3478, "udp"}, {"turn", 3478, "udp"}, {"stun", 3478, "udp"}}, "stun:h:3478 turn:h:3478?transport=udp"},
		{"dtls", []Listener{{"turns", 5349, "udp"}}, "turns:h:5349?transport=udp"},
		{"invalid entries skipped", []Listener{{"turn", 0, "udp"}, {"turn", 70000, "tcp"}, {"turn", 3478, "sctp"}, {"http", 80, "tcp"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, u := range relayURLs(hostPair{stun: "h", turn: "h"}, tc.listeners) {
				got = append(got, u.uri)
				if u.turn == strings.HasPrefix(u.uri, "stun:") {
					t.Errorf("%s: turn=%v", u.uri, u.turn)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("got  %s\nwant %s", strings.Join(got, " "), tc.want)
			}
		})
	}
}

func TestFormatHost(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"relay.example.com", "relay.example.com", true},
		{"Relay.Example.COM.", "relay.example.com", true},
		{"192.0.2.1", "192.0.2.1", true},
		{"::ffff:192.0.2.1", "192.0.2.1", true},
		{"2001:db8::1", "[2001:db8::1]", true},
		{"[2001:DB8::1]", "[2001:db8::1]", true},
		{"fe80::1%eth0", "", false},
		{"", "", false},
		{"a..b", "", false},
		{"-a.example", "", false},
		{"a b", "", false},
		{"x.example/path", "", false},
		{strings.Repeat("a", 64) + ".example", "", false},
	}
	for _, tc := range tests {
		got, err := formatHost(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("formatHost(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestHostFor(t *testing.T) {
	tests := []struct {
		name    string
		public  string
		regions map[string]string
		reqHost string
		region  string
		want    string
		wantErr bool
	}{
		{"public host", "relay.example.com", nil, "api.example.com:8080", "", "relay.example.com", false},
		{"request host", "", nil, "api.example.com:8080", "", "api.example.com", false},
		{"request host ipv6 without port", "", nil, "[2001:db8::2]", "", "[2001:db8::2]", false},
		{"configured global wins", "relay.example.com", map[string]string{"global": "anycast.example.com"}, "x", "", "anycast.example.com", false},
		{"explicit global", "relay.example.com", nil, "x", "global", "relay.example.com", false},
		{"region", "", map[string]string{"eu": "eu.example.com"}, "x", "eu", "eu.example.com", false},
		{"unknown region", "", map[string]string{"eu": "eu.example.com"}, "x", "us", "", true},
		{"no host at all", "", nil, "", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newHostPolicy(tc.public, tc.regions)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/", nil)
			r.Host = tc.reqHost
			got, err := p.hostFor(r, tc.region)
			if (err != nil) != tc.wantErr || got.turn != tc.want || got.stun != tc.want {
				t.Errorf("hostFor = %q, %v; want %q err=%v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
