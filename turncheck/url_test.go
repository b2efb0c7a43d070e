package turncheck

import "testing"

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{in: "stun:stun.example.com", want: Target{"stun", "stun.example.com", 3478, "udp"}},
		{in: "turn:203.0.113.10:3479?transport=tcp", want: Target{"turn", "203.0.113.10", 3479, "tcp"}},
		{in: "turn:turn.example.com", want: Target{"turn", "turn.example.com", 3478, "udp"}},
		{in: "TURN:turn.example.com:443?transport=tcp", want: Target{"turn", "turn.example.com", 443, "tcp"}},
		{in: "turns:turn.example.com", want: Target{"turns", "turn.example.com", 5349, "tcp"}},
		{in: "turns:turn.example.com:443?transport=tcp", want: Target{"turns", "turn.example.com", 443, "tcp"}},
		{in: "turn:[2001:db8::1]:3478?transport=udp", want: Target{"turn", "2001:db8::1", 3478, "udp"}},
		{in: "turn:[2001:db8::1]", want: Target{"turn", "2001:db8::1", 3478, "udp"}},
		{in: "turns:turn.example.com?transport=udp", wantErr: true},
		{in: "stun:stun.example.com?transport=tcp", wantErr: true},
		{in: "turn:turn.example.com?transport=sctp", wantErr: true},
		{in: "turn:turn.example.com?foo=bar", wantErr: true},
		{in: "http://turn.example.com", wantErr: true},
		{in: "turn:", wantErr: true},
		{in: "turn:host:0", wantErr: true},
		{in: "turn:host:70000", wantErr: true},
		{in: "turn:user@host", wantErr: true},
		{in: "turn.example.com", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseURL(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestTargetString(t *testing.T) {
	for _, in := range []string{"stun:h:3478", "turn:h:3478?transport=udp", "turns:h:5349?transport=tcp", "turn:[2001:db8::1]:3478?transport=tcp"} {
		tg, err := ParseURL(in)
		if err != nil {
			t.Fatal(err)
		}
		if tg.String() != in {
			t.Errorf("%q round-trips as %q", in, tg.String())
		}
	}
}
