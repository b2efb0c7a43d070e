package config

import (
	"slices"
	"testing"
	"time"
)

// TestEverySettingDeclaresItsReloadClass: a setting added without saying
// whether SIGHUP applies it fails here, not silently at the operator's.
func TestEverySettingDeclaresItsReloadClass(t *testing.T) {
	settings := Settings()
	if len(settings) < 40 {
		t.Fatalf("only %d settings found; the walk misses some", len(settings))
	}
	for path, class := range settings {
		if class != ReloadLive && class != ReloadRestart {
			t.Errorf("%s: reload:%q; declare reload:\"live\" or reload:\"restart\"", path, class)
		}
	}
}

func TestRestartOnlyChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"live settings only", func(c *Config) {
			c.TURN.Secrets = []Secret{"another-secret-0123456789"}
			c.TURN.Quotas.PerIdentity = 3
			c.TURN.PeerPolicy.Allow = []string{"10.0.0.0/8"}
			c.Log.Level = "debug"
			c.API.Regions = map[string]string{"eu": "eu.example.com"}
		}, nil},
		{"the settings once silently ignored", func(c *Config) {
			c.TURN.Realm = "other"
			c.TURN.MaxTTL = Duration(time.Hour)
			c.TURN.ClockSkew = Duration(time.Second)
			c.TURN.AllocationLifetime = Duration(time.Minute)
			c.TURN.SocketsPerPort = 4
			c.API.TLS = true
			c.API.AuthFailuresPerMinute = 1
			c.API.MaxBodyBytes = 1
			c.API.TrackedAccounts = 1
			c.Admin.Pprof = true
			c.Store.EncryptionKey = "key"
			c.Store.RevocationPoll = Duration(2 * time.Second)
			c.Log.Format = "json"
			c.DrainTimeout = Duration(time.Second)
		}, []string{"log.format", "turn.realm", "turn.sockets_per_port", "turn.max_ttl", "turn.clock_skew",
			"turn.allocation_lifetime", "api.tls", "api.auth_failures_per_minute", "api.max_body_bytes",
			"api.tracked_accounts", "admin.pprof", "store.encryption_key", "store.revocation_poll", "drain_timeout"}},
		{"listeners", func(c *Config) { c.TURN.UDPPort = 1; c.API.Listen = ":1" }, []string{"turn.udp_port", "api.listen"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old, next := Default(), Default()
			tc.change(&next)
			got := RestartOnlyChanges(&old, &next)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
