// Package config holds turnkey's one typed configuration: defaults, then a
// YAML file, then TURNKEY_* environment variables, then command-line flags,
// each overriding the one before. Validate names the offending field.
package config

import (
	"time"
)

// Config is the whole configuration of a turnkey process.
type Config struct {
	// Role selects what this process runs: "all" (relay and API), "relay"
	// (TURN only: secrets and the revocation feed) or "api" (HTTP API only).
	Role string `yaml:"role" env:"ROLE" flag:"role" help:"what this node runs: all, relay or api"`
	// DataDir keeps the generated secret, the embedded store and the
	// bootstrap account file. Empty means /var/lib/turnkey as root, else
	// $XDG_STATE_HOME/turnkey (or ~/.local/state/turnkey).
	DataDir string `yaml:"data_dir" env:"DATA_DIR" flag:"data-dir" help:"directory for generated secrets and the embedded store"`

	Log   Log   `yaml:"log"`
	TURN  TURN  `yaml:"turn"`
	API   API   `yaml:"api"`
	Admin Admin `yaml:"admin"`
	Store Store `yaml:"store"`
	TLS   TLS   `yaml:"tls"`

	// DrainTimeout bounds how long SIGTERM waits for live allocations.
	DrainTimeout Duration `yaml:"drain_timeout" env:"DRAIN_TIMEOUT" flag:"drain-timeout" help:"how long SIGTERM waits for live allocations before exiting"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level" env:"LOG_LEVEL" flag:"log-level" help:"debug, info, warn or error"`
	Format string `yaml:"format" env:"LOG_FORMAT" flag:"log-format" help:"text or json"`
}

// TURN configures the STUN/TURN relay.
type TURN struct {
	Realm string `yaml:"realm" env:"REALM" flag:"realm" help:"TURN realm; requests with another REALM are refused"`
	// ListenIP is where the TURN listeners bind.
	ListenIP string `yaml:"listen_ip" env:"LISTEN_IP" flag:"listen-ip" help:"address the TURN listeners bind to"`
	UDPPort  int    `yaml:"udp_port" env:"UDP_PORT" flag:"udp-port" help:"STUN/TURN over UDP (0 disables)"`
	TCPPort  int    `yaml:"tcp_port" env:"TCP_PORT" flag:"tcp-port" help:"STUN/TURN over TCP (0 disables)"`
	// AltTCPPort is the plain TURN-over-TCP listener for networks that only
	// let 443 out; with TLS configured it also accepts TLS on the same port.
	AltTCPPort int `yaml:"alt_tcp_port" env:"ALT_TCP_PORT" flag:"alt-tcp-port" help:"second TCP port, plain TURN and (with a certificate) TLS (0 disables)"`
	TLSPort    int `yaml:"tls_port" env:"TLS_PORT" flag:"tls-port" help:"TURN over TLS when a certificate is configured (0 disables)"`
	// SocketsPerPort is the number of SO_REUSEPORT UDP sockets per address;
	// 0 means one per CPU.
	SocketsPerPort int `yaml:"sockets_per_port" env:"SOCKETS_PER_PORT" flag:"sockets-per-port" help:"UDP sockets per listen address with SO_REUSEPORT (0: one per CPU)"`

	// RelayIP is the local address relay sockets bind to. Empty: ListenIP
	// when it is a specific address, else the host's first global IPv4.
	RelayIP string `yaml:"relay_ip" env:"RELAY_IP" flag:"relay-ip" help:"local address relay sockets bind to"`
	// PublicIP is the relay address advertised to clients (1:1 NAT).
	PublicIP string `yaml:"public_ip" env:"PUBLIC_IP" flag:"public-ip" help:"relay address advertised to clients when behind 1:1 NAT"`
	MinPort  int    `yaml:"min_port" env:"MIN_PORT" flag:"min-port" help:"lowest relay port"`
	MaxPort  int    `yaml:"max_port" env:"MAX_PORT" flag:"max-port" help:"highest relay port"`

	// Secrets verify TURN REST credentials; the first one signs.
	Secrets []Secret `yaml:"secrets" env:"SECRETS" flag:"secret" help:"TURN REST shared secrets, comma separated; the first signs, all verify"`
	// MaxTTL is the longest credential lifetime accepted.
	MaxTTL Duration `yaml:"max_ttl" env:"MAX_TTL" flag:"max-ttl" help:"longest credential lifetime accepted"`
	// ClockSkew is tolerated between the issuer's clock and ours.
	ClockSkew Duration `yaml:"clock_skew" env:"CLOCK_SKEW" flag:"clock-skew" help:"clock difference tolerated on credential expiry"`
	// AllocationLifetime is granted when a client asks for none (or for
	// more than the 3600 s maximum, which is never granted).
	AllocationLifetime Duration `yaml:"allocation_lifetime" env:"ALLOCATION_LIFETIME" flag:"allocation-lifetime" help:"allocation lifetime granted when the client asks for none or too much (max 1h)"`

	PeerPolicy PeerPolicy `yaml:"peer_policy"`
	Quotas     Quotas     `yaml:"quotas"`
}

// PeerPolicy decides which peers a client may relay to.
type PeerPolicy struct {
	// Allow lists CIDRs or addresses relayed to even when the deny-list
	// covers them.
	Allow []string `yaml:"allow" env:"PEER_ALLOW" flag:"peer-allow" help:"CIDRs relayed to despite the deny-list, comma separated"`
	// Deny adds CIDRs to the built-in deny-list.
	Deny []string `yaml:"deny" env:"PEER_DENY" flag:"peer-deny" help:"CIDRs denied in addition to the built-in list, comma separated"`
	// DisableDefaultDeny turns the built-in deny-list off (not recommended).
	DisableDefaultDeny bool `yaml:"disable_default_deny" env:"PEER_DISABLE_DEFAULT_DENY" flag:"peer-disable-default-deny" help:"turn off the built-in deny-list (unsafe on a public server)"`
}

// Quotas protect the server from one user or account taking it all.
type Quotas struct {
	PerIdentity int `yaml:"allocations_per_identity" env:"QUOTA_PER_IDENTITY" flag:"quota-per-identity" help:"concurrent allocations per identity (0: unlimited)"`
	PerAccount  int `yaml:"allocations_per_account" env:"QUOTA_PER_ACCOUNT" flag:"quota-per-account" help:"concurrent allocations per account (0: unlimited)"`
	Total       int `yaml:"allocations_total" env:"QUOTA_TOTAL" flag:"quota-total" help:"concurrent allocations on this server (0: unlimited)"`
	// BandwidthBPS limits each allocation, in bytes per second each way.
	BandwidthBPS int64 `yaml:"bandwidth_bytes_per_second" env:"QUOTA_BANDWIDTH" flag:"quota-bandwidth" help:"bytes per second per allocation and direction (0: unlimited)"`
}

// API configures the token-issuing HTTP API.
type API struct {
	Listen string `yaml:"listen" env:"API_LISTEN" flag:"api-listen" help:"address of the HTTP API"`
	// PublicHost names this relay in issued ICE servers; empty means the
	// host the request was addressed to.
	PublicHost string `yaml:"public_host" env:"PUBLIC_HOST" flag:"public-host" help:"host named in issued ICE server URLs (default: the request's Host)"`
	// Regions maps a region name to the relay host issued for it.
	Regions map[string]string `yaml:"regions" env:"REGIONS" flag:"region" help:"region=host pairs, comma separated"`
	// CORSOrigins may call /v1/ice-servers from a browser; "*" allows all.
	CORSOrigins []string `yaml:"cors_origins" env:"CORS_ORIGINS" flag:"cors-origin" help:"origins allowed to call /v1/ice-servers from a browser"`
	// TLS serves the API over HTTPS with the certificate in the tls section.
	TLS bool `yaml:"tls" env:"API_TLS" flag:"api-tls" help:"serve the API over HTTPS with the tls certificate"`
	// AuthFailuresPerMinute limits failed authentications per source IP.
	AuthFailuresPerMinute int `yaml:"auth_failures_per_minute" env:"API_AUTH_FAILURES_PER_MINUTE" flag:"api-auth-failures-per-minute" help:"failed authentications allowed per source address per minute"`
	// TrustedProxies are reverse-proxy addresses or CIDRs whose Forwarded /
	// X-Forwarded-For header names the client for the failed-auth limiter.
	// Empty (the default) trusts no header: behind a proxy, every client
	// would then share the proxy's failure budget.
	TrustedProxies []string `yaml:"trusted_proxies" env:"API_TRUSTED_PROXIES" flag:"api-trusted-proxy" help:"reverse-proxy CIDRs whose X-Forwarded-For/Forwarded names the client, comma separated (default: none)"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes" env:"API_MAX_BODY_BYTES" flag:"api-max-body-bytes" help:"largest request body accepted"`
	// TrackedAccounts caps the accounts given their own usage series.
	TrackedAccounts int `yaml:"tracked_accounts" env:"TRACKED_ACCOUNTS" flag:"tracked-accounts" help:"accounts given their own usage metric series"`
}

// Admin configures the operator listener.
type Admin struct {
	Listen string `yaml:"listen" env:"ADMIN_LISTEN" flag:"admin-listen" help:"address of /metrics, /healthz and /readyz (empty disables)"`
	Pprof  bool   `yaml:"pprof" env:"ADMIN_PPROF" flag:"admin-pprof" help:"serve Go's pprof on the admin listener"`
}

// Store chooses where accounts, keys and revocations live.
type Store struct {
	// DSN: empty for SQLite in the data directory, "sqlite:PATH", or a
	// postgres:// URL.
	DSN Secret `yaml:"dsn" env:"STORE_DSN" flag:"store-dsn" help:"empty (SQLite in the data dir), sqlite:PATH or postgres://..."`
	// EncryptionKey seals key secrets and auth tokens at rest; empty means a
	// key generated in the data directory. Nodes sharing a database must
	// share it.
	EncryptionKey Secret `yaml:"encryption_key" env:"STORE_ENCRYPTION_KEY" flag:"store-encryption-key" help:"base64 32-byte key sealing stored secrets (default: generated in the data dir)"`
	// RevocationPoll is how often relays read the revocation feed.
	RevocationPoll Duration `yaml:"revocation_poll" env:"REVOCATION_POLL" flag:"revocation-poll" help:"how often the revocation feed is read"`
}

// TLS names the certificate used by turns: listeners and optionally the API.
type TLS struct {
	CertFile string `yaml:"cert_file" env:"TLS_CERT_FILE" flag:"tls-cert" help:"PEM certificate chain for turns: and HTTPS"`
	KeyFile  string `yaml:"key_file" env:"TLS_KEY_FILE" flag:"tls-key" help:"PEM private key for turns: and HTTPS"`
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// Default returns the embedded defaults: a working single node.
func Default() Config {
	return Config{
		Role:         "all",
		Log:          Log{Level: "info", Format: "text"},
		DrainTimeout: Duration(30 * time.Second),
		TURN: TURN{
			Realm:              "turnkey",
			ListenIP:           "0.0.0.0",
			UDPPort:            3478,
			TCPPort:            3478,
			AltTCPPort:         443,
			TLSPort:            5349,
			MinPort:            49152,
			MaxPort:            65535,
			MaxTTL:             Duration(24 * time.Hour),
			ClockSkew:          Duration(60 * time.Second),
			AllocationLifetime: Duration(10 * time.Minute),
			Quotas: Quotas{
				PerIdentity: 10,
				PerAccount:  1000,
				Total:       10000,
			},
		},
		API: API{
			Listen:                ":8080",
			Regions:               map[string]string{},
			AuthFailuresPerMinute: 20,
			MaxBodyBytes:          16 << 10,
			TrackedAccounts:       100,
		},
		Admin: Admin{Listen: "127.0.0.1:9641"},
		Store: Store{RevocationPoll: Duration(time.Second)},
	}
}
