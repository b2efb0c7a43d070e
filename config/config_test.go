package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, yaml string, env []string, args ...string) (*Loaded, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	b := RegisterFlags(fs)
	if yaml != "" {
		path := filepath.Join(t.TempDir(), "turnkey.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"-config", path}, args...)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(b, env)
}

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	yaml := "turn:\n  udp_port: 4000\n  tcp_port: 4001\n  realm: fromfile\nlog:\n  level: warn\n"
	cases := []struct {
		name      string
		env       []string
		args      []string
		udp, tcp  int
		realm     string
		level     string
		secretLen int
	}{
		{"file only", nil, nil, 4000, 4001, "fromfile", "warn", 0},
		{"env over file", []string{"TURNKEY_UDP_PORT=5000", "TURNKEY_SECRETS=aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb"}, nil, 5000, 4001, "fromfile", "warn", 2},
		{"flag over env", []string{"TURNKEY_UDP_PORT=5000"}, []string{"-udp-port", "6000", "-realm", "flagrealm"}, 6000, 4001, "flagrealm", "warn", 0},
		{"repeated list flag appends", nil, []string{"-secret", "aaaaaaaaaaaaaaaa", "-secret", "bbbbbbbbbbbbbbbb"}, 4000, 4001, "fromfile", "warn", 2},
		{"unrelated env ignored", []string{"OTHER_UDP_PORT=1"}, nil, 4000, 4001, "fromfile", "warn", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := load(t, yaml, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if l.TURN.UDPPort != tc.udp || l.TURN.TCPPort != tc.tcp || l.TURN.Realm != tc.realm || l.Log.Level != tc.level {
				t.Errorf("got udp %d tcp %d realm %q level %q", l.TURN.UDPPort, l.TURN.TCPPort, l.TURN.Realm, l.Log.Level)
			}
			if len(l.TURN.Secrets) != tc.secretLen {
				t.Errorf("secrets %d, want %d", len(l.TURN.Secrets), tc.secretLen)
			}
			if err := l.Validate(); err != nil {
				t.Errorf("valid config refused: %v", err)
			}
		})
	}
}

func TestIsSetTracksExplicitSettings(t *testing.T) {
	l, err := load(t, "turn:\n  alt_tcp_port: 8443\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !l.IsSet("turn.alt_tcp_port") || l.IsSet("turn.udp_port") {
		t.Errorf("IsSet wrong: alt %v udp %v", l.IsSet("turn.alt_tcp_port"), l.IsSet("turn.udp_port"))
	}
	l, err = load(t, "", []string{"TURNKEY_ALT_TCP_PORT=443"})
	if err != nil {
		t.Fatal(err)
	}
	if !l.IsSet("turn.alt_tcp_port") {
		t.Error("env setting not marked explicit")
	}
	l, err = load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.IsSet("turn.alt_tcp_port") {
		t.Error("default marked explicit")
	}
}

func TestValidationNamesTheField(t *testing.T) {
	cases := []struct {
		yaml, env, field string
	}{
		{"turn:\n  max_port: 70000\n", "", "turn.max_port"},
		{"turn:\n  min_port: 60000\n  max_port: 50000\n", "", "turn.min_port"},
		{"turn:\n  realm: \"\"\n", "", "turn.realm"},
		{"turn:\n  listen_ip: not-an-ip\n", "", "turn.listen_ip"},
		{"turn:\n  listen_ip: [10.0.0.5, 10.0.0.6]\n", "", "turn.listen_ip"},
		{"turn:\n  listen_ip: [\"::\", 10.0.0.5]\n", "", "turn.listen_ip"},
		{"turn:\n  listen_ip: []\n", "", "turn.listen_ip"},
		{"", "TURNKEY_LISTEN_IP=2001:db8::1,2001:db8::2", "turn.listen_ip"},
		{"turn:\n  secrets: [short]\n", "", "turn.secrets[0]"},
		{"turn:\n  peer_policy:\n    allow: [10.0.0.0/33]\n", "", "turn.peer_policy.allow[0]"},
		{"turn:\n  quotas:\n    bandwidth_bytes_per_second: 100\n", "", "turn.quotas.bandwidth_bytes_per_second"},
		{"role: edge\n", "", "role"},
		{"log:\n  level: loud\n", "", "log.level"},
		{"api:\n  cors_origins: [example.com]\n", "", "api.cors_origins[0]"},
		{"api:\n  tls: true\n", "", "api.tls"},
		{"store:\n  dsn: mysql://x\n", "", "store.dsn"},
		{"store:\n  encryption_key: nope\n", "", "store.encryption_key"},
		{"store:\n  revocation_poll: 1m\n", "", "store.revocation_poll"},
		{"tls:\n  cert_file: /x.pem\n", "", "tls"},
		{"", "TURNKEY_CLOCK_SKEW=1h", "turn.clock_skew"},
		{"turn:\n  limits:\n    max_frame_bytes: 70000\n", "", "turn.limits.max_frame_bytes"},
		{"turn:\n  limits:\n    tcp_idle_timeout: 10ms\n", "", "turn.limits.tcp_idle_timeout"},
		{"turn:\n  limits:\n    connections_per_source: -1\n", "", "turn.limits.connections_per_source"},
		{"turn:\n  limits:\n    permissions_per_allocation: 0\n", "", "turn.limits.permissions_per_allocation"},
		{"api:\n  listen: \":50000\"\n", "", "api.listen"},
		{"admin:\n  listen: 127.0.0.1:60000\n", "", "admin.listen"},
		{"turn:\n  min_port: 3000\n  max_port: 4000\n", "", "turn.udp_port"},
		{"", "TURNKEY_TLS_PORT=50000", "turn.tls_port"},
		{"turn:\n  listen_socket_buffer_bytes: 100\n", "", "turn.listen_socket_buffer_bytes"},
		{"", "TURNKEY_RELAY_SOCKET_BUFFER=2147483647", "turn.relay_socket_buffer_bytes"},
		{"turn:\n  relay_ip: [10.0.0.5, 10.0.0.6]\n", "", "turn.relay_ip"},
		{"", "TURNKEY_RELAY_IP=2001:db8::1,2001:db8::2", "turn.relay_ip"},
		{"turn:\n  relay_ip: \"::\"\n", "", "turn.relay_ip"},
		{"turn:\n  relay_ip: [10.0.0.5, nope]\n", "", "turn.relay_ip"},
		{"turn:\n  relay_ip: 10.0.0.5\n  public_ip: [203.0.113.7, 2001:db8::7]\n", "", "turn.public_ip"},
		{"turn:\n  public_ip: [203.0.113.7, 203.0.113.8]\n", "", "turn.public_ip"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			var env []string
			if tc.env != "" {
				env = []string{tc.env}
			}
			l, err := load(t, tc.yaml, env)
			if err != nil {
				t.Fatal(err)
			}
			err = l.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("no FieldError: %v", err)
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

// TestListenIPForms (#19): turn.listen_ip takes one address, or one per
// family, from YAML (scalar or list), the environment and repeated flags.
func TestListenIPForms(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		env  []string
		args []string
		want AddrList
	}{
		{"", nil, nil, AddrList{"0.0.0.0"}},
		{"turn:\n  listen_ip: \"::\"\n", nil, nil, AddrList{"::"}},
		{"turn:\n  listen_ip: [127.0.0.1, \"::1\"]\n", nil, nil, AddrList{"127.0.0.1", "::1"}},
		{"", []string{"TURNKEY_LISTEN_IP=10.0.0.5,2001:db8::5"}, nil, AddrList{"10.0.0.5", "2001:db8::5"}},
		{"", nil, []string{"-listen-ip", "127.0.0.1", "-listen-ip", "::1"}, AddrList{"127.0.0.1", "::1"}},
	} {
		l, err := load(t, tc.yaml, tc.env, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Validate(); err != nil {
			t.Errorf("%q %v: %v", tc.yaml, tc.env, err)
		}
		if !slices.Equal(l.TURN.ListenIP, tc.want) {
			t.Errorf("%q %v: listen_ip %v, want %v", tc.yaml, tc.env, l.TURN.ListenIP, tc.want)
		}
	}
}

// TestPublicHostForms (#19): api.public_host takes a name or an address of
// either family, an IPv6 literal bracketed or not; a URL or host:port is
// refused.
func TestPublicHostForms(t *testing.T) {
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"turn.example.com", true},
		{"203.0.113.10", true},
		{"2001:db8::10", true},
		{"[2001:db8::10]", true},
		{"::1", true},
		{"fe80::1%eth0", false},
		{"turn.example.com:3478", false},
		{"https://turn.example.com", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			l, err := load(t, "api:\n  public_host: \""+tc.host+"\"\n", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unknown key", "turn:\n  udp_prot: 1\n", nil, "udp_prot"},
		{"bad env number", "", []string{"TURNKEY_UDP_PORT=abc"}, "TURNKEY_UDP_PORT"},
		{"bad env duration", "", []string{"TURNKEY_MAX_TTL=forever"}, "TURNKEY_MAX_TTL"},
		{"bad region pair", "", []string{"TURNKEY_REGIONS=eu"}, "TURNKEY_REGIONS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want mention of %s", err, tc.want)
			}
		})
	}
}

func TestDurationsAndMaps(t *testing.T) {
	l, err := load(t, "turn:\n  max_ttl: 3600\n  clock_skew: 5s\napi:\n  regions: {eu: turn-eu.example.com}\n",
		[]string{"TURNKEY_DRAIN_TIMEOUT=1m"}, "-region", "us=turn-us.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if l.TURN.MaxTTL.D() != time.Hour || l.TURN.ClockSkew.D() != 5*time.Second || l.DrainTimeout.D() != time.Minute {
		t.Errorf("durations %v %v %v", l.TURN.MaxTTL, l.TURN.ClockSkew, l.DrainTimeout)
	}
	if l.API.Regions["us"] != "turn-us.example.com" {
		t.Errorf("regions %v", l.API.Regions)
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	l, err := load(t, "turn:\n  secrets: [supersecret-value-123456]\nstore:\n  dsn: postgres://u:pw-in-dsn@db/turnkey\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"supersecret-value-123456", "pw-in-dsn"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("config print shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(string(out), "[redacted]") {
		t.Errorf("no redaction marker:\n%s", out)
	}
}

func TestLoadOrCreateSecretFile(t *testing.T) {
	dir := t.TempDir()
	v1, created, err := LoadOrCreateSecretFile(dir, "turn-secret")
	if err != nil || !created || len(v1) < 32 {
		t.Fatalf("first: %q %v %v", v1, created, err)
	}
	st, err := os.Stat(filepath.Join(dir, "turn-secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	v2, created, err := LoadOrCreateSecretFile(dir, "turn-secret")
	if err != nil || created || v2 != v1 {
		t.Fatalf("second read %q %v %v", v2, created, err)
	}
}

// TestRelayIPForms: turn.relay_ip and turn.public_ip take one address per
// family as a YAML list, a single scalar (the form before IPv6), a
// comma-separated variable or repeated / comma-separated flags.
func TestRelayIPForms(t *testing.T) {
	cases := []struct {
		name       string
		yaml       string
		env, args  []string
		relay, pub AddrList
	}{
		{"yaml scalar", "turn:\n  relay_ip: 10.0.0.5\n  public_ip: 203.0.113.7\n", nil, nil,
			AddrList{"10.0.0.5"}, AddrList{"203.0.113.7"}},
		{"yaml list", "turn:\n  relay_ip: [10.0.0.5, \"2001:db8::5\"]\n  public_ip: [203.0.113.7]\n", nil, nil,
			AddrList{"10.0.0.5", "2001:db8::5"}, AddrList{"203.0.113.7"}},
		{"env", "", []string{"TURNKEY_RELAY_IP=10.0.0.5, 2001:db8::5", "TURNKEY_PUBLIC_IP=203.0.113.7"}, nil,
			AddrList{"10.0.0.5", "2001:db8::5"}, AddrList{"203.0.113.7"}},
		{"repeated flag", "", nil, []string{"-relay-ip", "10.0.0.5", "-relay-ip", "2001:db8::5"},
			AddrList{"10.0.0.5", "2001:db8::5"}, nil},
		{"comma flag", "", nil, []string{"-relay-ip", "10.0.0.5,2001:db8::5", "-public-ip", "2001:db8::7"},
			AddrList{"10.0.0.5", "2001:db8::5"}, AddrList{"2001:db8::7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := load(t, tc.yaml, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Validate(); err != nil {
				t.Fatalf("invalid: %v", err)
			}
			if got := l.Config.TURN.RelayIP; !slices.Equal(got, tc.relay) {
				t.Errorf("relay_ip %q, want %q", got, tc.relay)
			}
			if got := l.Config.TURN.PublicIP; !slices.Equal(got, tc.pub) {
				t.Errorf("public_ip %q, want %q", got, tc.pub)
			}
		})
	}
}

func TestParseTrustedProxy(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", true},
		{"10.1.2.3/8", "10.0.0.0/8", true},
		{"192.0.2.7", "192.0.2.7/32", true},
		{"::ffff:192.0.2.7", "192.0.2.7/32", true},
		{"2001:db8::/32", "2001:db8::/32", true},
		{" 2001:db8::1 ", "2001:db8::1/128", true},
		{"fe80::1%eth0", "", false},
		{"10.0.0.0/33", "", false},
		{"proxy.local", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		p, err := ParseTrustedProxy(tc.in)
		if (err == nil) != tc.ok || (tc.ok && p.String() != tc.want) {
			t.Errorf("ParseTrustedProxy(%q) = %v, %v; want %s ok=%v", tc.in, p, err, tc.want, tc.ok)
		}
	}
}
