package peerpolicy

import (
	"net/netip"
	"regexp"
	"testing"
)

func TestReasonStrings(t *testing.T) {
	label := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seen := map[string]Reason{}
	for _, r := range AllReasons() {
		s := r.String()
		if !label.MatchString(s) {
			t.Errorf("Reason(%d).String() = %q, not a valid metric label value", r, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("Reason(%d) and Reason(%d) share the label %q", prev, r, s)
		}
		seen[s] = r
	}
	if got := Reason(200).String(); got != "unknown" {
		t.Errorf("out-of-range Reason.String() = %q, want unknown", got)
	}
}

func TestDefaultDenyMatchesReference(t *testing.T) {
	// The list in shared/reference/turn-servers.md, verbatim.
	want := []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "100::/64",
		"2001::/32", "2001:db8::/32", "2002::/16", "64:ff9b::/96",
	}
	got := DefaultDeny()
	if len(got) != len(want) {
		t.Fatalf("DefaultDeny has %d prefixes, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i] != netip.MustParsePrefix(w) {
			t.Errorf("DefaultDeny()[%d] = %s, want %s", i, got[i], w)
		}
		if got[i] != got[i].Masked() {
			t.Errorf("DefaultDeny()[%d] = %s has host bits set", i, got[i])
		}
	}
	// Every entry's first address must be denied with a non-allowed reason.
	p := New(nil, nil, true)
	for _, pfx := range got {
		if ok, r := p.Check(pfx.Addr()); ok || r == ReasonAllowed || r == ReasonDeniedExtra {
			t.Errorf("Check(%s) = %v, %s; want a default-deny reason", pfx.Addr(), ok, r)
		}
	}
	// The returned slice is a copy.
	got[0] = netip.MustParsePrefix("8.8.8.0/24")
	if DefaultDeny()[0] != netip.MustParsePrefix("0.0.0.0/8") {
		t.Error("DefaultDeny returned the package's own slice")
	}
}
