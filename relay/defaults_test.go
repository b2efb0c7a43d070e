package relay

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/turnkey-dev/turnkey/config"
)

// withDefaults fills what New requires and a test's Config leaves unset
// with config.Default's values: tests take the defaults from the one place
// that owns them, as cmd/turnkey does.
func withDefaults(cfg Config) Config {
	d := config.Default().TURN
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = d.Limits.MaxFrameBytes
	}
	if cfg.AllocationLifetime == 0 {
		cfg.AllocationLifetime = d.AllocationLifetime.D()
	}
	return cfg
}

// TestNewRequiresConfig: New fills in no default; a Config without a value
// it needs is refused, naming the field.
func TestNewRequiresConfig(t *testing.T) {
	cases := map[string]func(*Config){
		"Config.Keyring":            func(c *Config) { c.Keyring = nil },
		"Config.ListenIPs":          func(c *Config) { c.ListenIPs = nil },
		"Config.AllocationLifetime": func(c *Config) { c.AllocationLifetime = 0 },
		"Config.MaxFrame":           func(c *Config) { c.MaxFrame = 0 },
	}
	for field, unset := range cases {
		cfg := withDefaults(Config{Realm: testRealm, ListenIPs: []netip.Addr{loopback}, RelayIPs: []netip.Addr{loopback},
			MinPort: 61000, MaxPort: 61999, Keyring: testRing(t, testSecret)})
		unset(&cfg)
		s, err := New(cfg)
		if err == nil {
			s.Close()
			t.Errorf("%s unset: New succeeded", field)
			continue
		}
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%s unset: %v does not name it", field, err)
		}
	}
}
