package relay

import (
	"net/netip"
	"slices"
	"testing"
)

func mustAddrs(list ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(list))
	for _, s := range list {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// TestChooseRelayIPs covers the choices that do not look at the host:
// configured addresses win, then listen addresses when all are specific.
func TestChooseRelayIPs(t *testing.T) {
	tests := []struct {
		name       string
		configured []string
		listen     []netip.Addr
		want       []netip.Addr
	}{
		{name: "configured win over specific listen addresses", configured: []string{"192.0.2.7", " 2001:db8::7 "},
			listen: mustAddrs("198.51.100.1"), want: mustAddrs("192.0.2.7", "2001:db8::7")},
		{name: "configured mapped IPv4 unmapped", configured: []string{"::ffff:192.0.2.7"},
			listen: mustAddrs("0.0.0.0"), want: mustAddrs("192.0.2.7")},
		{name: "specific listen addresses", listen: mustAddrs("198.51.100.1", "2001:db8::1"),
			want: mustAddrs("198.51.100.1", "2001:db8::1")},
		{name: "specific mapped listen address unmapped", listen: mustAddrs("::ffff:198.51.100.1"),
			want: mustAddrs("198.51.100.1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseRelayIPs(tt.configured, tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestChooseRelayIPsFromHost: with any unspecified listen address the host
// is asked; whatever it has, the answer is at most one address per family,
// each one a relay can bind and advertise.
func TestChooseRelayIPsFromHost(t *testing.T) {
	tests := []struct {
		name   string
		listen []netip.Addr
	}{
		{name: "unspecified IPv4", listen: mustAddrs("0.0.0.0")},
		{name: "unspecified IPv6", listen: mustAddrs("::")},
		{name: "one specific, one unspecified", listen: mustAddrs("198.51.100.1", "::")},
		{name: "no listen address", listen: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseRelayIPs(nil, tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || len(got) > 2 {
				t.Fatalf("got %v, want one or two addresses", got)
			}
			if len(got) == 2 && got[0].Is4() == got[1].Is4() {
				t.Errorf("got %v: two of one family", got)
			}
			for _, a := range got {
				if slices.Contains(tt.listen, a) {
					t.Errorf("got %v: a listen address, not a host one", got)
				}
				if !a.IsGlobalUnicast() && a != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("got %v: %v is neither global nor the loopback fallback", got, a)
				}
			}
		})
	}
}

func TestPickHostRelayIPs(t *testing.T) {
	tests := []struct {
		name string
		host []netip.Addr
		want []netip.Addr
	}{
		{name: "no network: IPv4 loopback", want: mustAddrs("127.0.0.1")},
		{name: "only link-local and loopback", host: mustAddrs("fe80::1", "169.254.1.1", "::1", "127.0.0.2"),
			want: mustAddrs("127.0.0.1")},
		{name: "first of each family", host: mustAddrs("fe80::1", "2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"),
			want: mustAddrs("192.0.2.1", "2001:db8::1")},
		{name: "private IPv4 counts", host: mustAddrs("10.0.0.5"), want: mustAddrs("10.0.0.5")},
		{name: "ULA only without global IPv6", host: mustAddrs("fd00::1", "192.0.2.1"), want: mustAddrs("192.0.2.1", "fd00::1")},
		{name: "global IPv6 beats an earlier ULA", host: mustAddrs("fd00::1", "2001:db8::1"), want: mustAddrs("2001:db8::1")},
		{name: "mapped IPv4 is IPv4", host: mustAddrs("::ffff:192.0.2.9"), want: mustAddrs("192.0.2.9")},
		{name: "unspecified and multicast skipped", host: mustAddrs("0.0.0.0", "::", "ff02::1", "224.0.0.1"),
			want: mustAddrs("127.0.0.1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickHostRelayIPs(tt.host); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseAddrs(t *testing.T) {
	tests := []struct {
		name    string
		list    []string
		want    []netip.Addr
		wantErr bool
	}{
		{name: "none"},
		{name: "both families, spaces trimmed", list: []string{" 192.0.2.1", "2001:db8::1 "}, want: mustAddrs("192.0.2.1", "2001:db8::1")},
		{name: "mapped IPv4 unmapped", list: []string{"::ffff:192.0.2.1"}, want: mustAddrs("192.0.2.1")},
		{name: "not an address", list: []string{"192.0.2.1", "relay.example"}, wantErr: true},
		{name: "a prefix is not an address", list: []string{"192.0.2.0/24"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddrs(tt.list)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
