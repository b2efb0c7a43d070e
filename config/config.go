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
	Role string `yaml:"role" env:"ROLE" flag:"role" help:"what this node runs: all, relay or api" reload:"restart"`
	// DataDir keeps the generated secret, the embedded store and the
	// bootstrap account file. Empty means /var/lib/turnkey as root, else
	// $XDG_STATE_HOME/turnkey (or ~/.local/state/turnkey).
	DataDir string `yaml:"data_dir" env:"DATA_DIR" flag:"data-dir" help:"directory for generated secrets and the embedded store" reload:"restart"`

	Log   Log   `yaml:"log"`
	TURN  TURN  `yaml:"turn"`
	API   API   `yaml:"api"`
	Admin Admin `yaml:"admin"`
	Store Store `yaml:"store"`
	TLS   TLS   `yaml:"tls"`

	// DrainTimeout bounds how long SIGTERM waits for live allocations.
	DrainTimeout Duration `yaml:"drain_timeout" env:"DRAIN_TIMEOUT" flag:"drain-timeout" help:"how long SIGTERM waits for live allocations before exiting" reload:"restart"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level" env:"LOG_LEVEL" flag:"log-level" help:"debug, info, warn or error" reload:"live"`
	Format string `yaml:"format" env:"LOG_FORMAT" flag:"log-format" help:"text or json" reload:"restart"`
}

// TURN configures the STUN/TURN relay.
type TURN struct {
	Realm string `yaml:"realm" env:"REALM" flag:"realm" help:"TURN realm; requests with another REALM are refused" reload:"restart"`
	// ListenIP is where the TURN listeners bind: at most one address per
	// family, each port bound on each; "::" alone listens on both.
	ListenIP AddrList `yaml:"listen_ip" env:"LISTEN_IP" flag:"listen-ip" help:"addresses the TURN listeners bind to, at most one IPv4 and one IPv6 (:: alone: both), comma separated" reload:"restart"`
	UDPPort  int      `yaml:"udp_port" env:"UDP_PORT" flag:"udp-port" help:"STUN/TURN over UDP (0 disables)" reload:"restart"`
	TCPPort  int      `yaml:"tcp_port" env:"TCP_PORT" flag:"tcp-port" help:"STUN/TURN over TCP (0 disables)" reload:"restart"`
	// AltTCPPort is the plain TURN-over-TCP listener for networks that only
	// let 443 out; with TLS configured it also accepts TLS on the same port.
	AltTCPPort int `yaml:"alt_tcp_port" env:"ALT_TCP_PORT" flag:"alt-tcp-port" help:"second TCP port, plain TURN and (with a certificate) TLS (0 disables)" reload:"restart"`
	TLSPort    int `yaml:"tls_port" env:"TLS_PORT" flag:"tls-port" help:"TURN over TLS when a certificate is configured (0 disables)" reload:"restart"`
	// SocketsPerPort is the number of SO_REUSEPORT UDP sockets per address;
	// 0 means one per CPU.
	SocketsPerPort int `yaml:"sockets_per_port" env:"SOCKETS_PER_PORT" flag:"sockets-per-port" help:"UDP sockets per listen address with SO_REUSEPORT (0: one per CPU)" reload:"restart"`
	// ListenSocketBuffer is the receive and send buffer of each UDP
	// listening socket, which carries every client's traffic: deep enough
	// for the bursts a read loop falls behind by. 0 keeps the kernel's.
	ListenSocketBuffer int `yaml:"listen_socket_buffer_bytes" env:"LISTEN_SOCKET_BUFFER" flag:"listen-socket-buffer" help:"receive/send buffer of each UDP listening socket in bytes (0: kernel default)" reload:"restart"`
	// RelaySocketBuffer is the same for each allocation's UDP relay
	// socket, which carries one allocation's peer traffic.
	RelaySocketBuffer int `yaml:"relay_socket_buffer_bytes" env:"RELAY_SOCKET_BUFFER" flag:"relay-socket-buffer" help:"receive/send buffer of each UDP relay socket in bytes (0: kernel default)" reload:"restart"`

	// RelayIP are the local addresses relay sockets bind to, at most one
	// per address family (IPv4, IPv6); an Allocate gets the family it asks
	// for. Empty: the specific ListenIP addresses, else the host's first
	// global address of each family.
	RelayIP AddrList `yaml:"relay_ip" env:"RELAY_IP" flag:"relay-ip" help:"local addresses relay sockets bind to, at most one IPv4 and one IPv6, comma separated" reload:"restart"`
	// PublicIP are the relay addresses advertised to clients behind 1:1
	// NAT, at most one per family, each paired with the relay IP of its
	// family; a family without one advertises its relay IP.
	PublicIP AddrList `yaml:"public_ip" env:"PUBLIC_IP" flag:"public-ip" help:"relay addresses advertised behind 1:1 NAT, at most one per family, comma separated" reload:"restart"`
	MinPort  int      `yaml:"min_port" env:"MIN_PORT" flag:"min-port" help:"lowest relay port" reload:"restart"`
	MaxPort  int      `yaml:"max_port" env:"MAX_PORT" flag:"max-port" help:"highest relay port" reload:"restart"`

	// Secrets verify TURN REST credentials; the first one signs.
	Secrets []Secret `yaml:"secrets" env:"SECRETS" flag:"secret" help:"TURN REST shared secrets, comma separated; the first signs, all verify" reload:"live"`
	// MaxTTL is the longest credential lifetime accepted.
	MaxTTL Duration `yaml:"max_ttl" env:"MAX_TTL" flag:"max-ttl" help:"longest credential lifetime accepted" reload:"restart"`
	// ClockSkew is tolerated between the issuer's clock and ours.
	ClockSkew Duration `yaml:"clock_skew" env:"CLOCK_SKEW" flag:"clock-skew" help:"clock difference tolerated on credential expiry" reload:"restart"`
	// AllocationLifetime is granted when a client asks for none (or for
	// more than the 3600 s maximum, which is never granted).
	// LegacyChannelNumbers accepts ChannelBind numbers 0x5000-0x7FFF, which
	// RFC 5766 allowed and RFC 8656 reserves: coturn's own test clients
	// (turnutils_uclient) still pick them. Off, they get 400 as RFC 8656 says.
	LegacyChannelNumbers bool     `yaml:"legacy_channel_numbers" env:"LEGACY_CHANNEL_NUMBERS" flag:"legacy-channel-numbers" help:"accept RFC 5766 channel numbers 0x5000-0x7FFF (coturn's test clients use them)" reload:"restart"`
	AllocationLifetime   Duration `yaml:"allocation_lifetime" env:"ALLOCATION_LIFETIME" flag:"allocation-lifetime" help:"allocation lifetime granted when the client asks for none or too much (max 1h)" reload:"restart"`
	// Region names this relay node in usage records: its bytes count under
	// the turnmegabytes-<region> category as well as turnmegabytes.
	Region string `yaml:"region" env:"NODE_REGION" flag:"node-region" help:"region this relay's relayed bytes are recorded under in usage records (empty: none)" reload:"restart"`
	// KernelOffload relays UDP ChannelData in the kernel (eBPF on TCX
	// ingress): auto when it can attach, on or fail start-up, off.
	KernelOffload string `yaml:"kernel_offload" env:"KERNEL_OFFLOAD" flag:"kernel-offload" help:"relay UDP ChannelData in the kernel with eBPF: auto, on (fail start-up if it cannot attach) or off" reload:"restart"`

	PeerPolicy PeerPolicy `yaml:"peer_policy"`
	Quotas     Quotas     `yaml:"quotas"`
	Limits     Limits     `yaml:"limits"`
}

// Limits bound what one connection or allocation can cost the server.
type Limits struct {
	// MaxFrameBytes is the longest STUN or ChannelData frame accepted on
	// TCP and TLS; a longer declared length closes the connection.
	MaxFrameBytes int `yaml:"max_frame_bytes" env:"MAX_FRAME_BYTES" flag:"max-frame-bytes" help:"longest STUN/ChannelData frame accepted on TCP and TLS" reload:"restart"`
	// IdleTimeout closes a TCP/TLS connection without an allocation that
	// completes no request for this long, or one slower to send a frame.
	IdleTimeout Duration `yaml:"tcp_idle_timeout" env:"TCP_IDLE_TIMEOUT" flag:"tcp-idle-timeout" help:"close TCP/TLS connections without an allocation idle this long, and frames slower than this" reload:"restart"`
	// ConnectionsPerSource caps open TCP/TLS connections per client IP.
	ConnectionsPerSource int `yaml:"connections_per_source" env:"CONNECTIONS_PER_SOURCE" flag:"connections-per-source" help:"open TCP/TLS connections allowed per client IP (0: unlimited)" reload:"restart"`
	// PermissionsPerAllocation caps the peers one allocation may permit.
	PermissionsPerAllocation int `yaml:"permissions_per_allocation" env:"PERMISSIONS_PER_ALLOCATION" flag:"permissions-per-allocation" help:"peer permissions one allocation may hold" reload:"restart"`
}

// PeerPolicy decides which peers a client may relay to.
type PeerPolicy struct {
	// Allow lists CIDRs or addresses relayed to even when the deny-list
	// covers them.
	Allow []string `yaml:"allow" env:"PEER_ALLOW" flag:"peer-allow" help:"CIDRs relayed to despite the deny-list, comma separated" reload:"live"`
	// Deny adds CIDRs to the built-in deny-list.
	Deny []string `yaml:"deny" env:"PEER_DENY" flag:"peer-deny" help:"CIDRs denied in addition to the built-in list, comma separated" reload:"live"`
	// DisableDefaultDeny turns the built-in deny-list off (not recommended).
	DisableDefaultDeny bool `yaml:"disable_default_deny" env:"PEER_DISABLE_DEFAULT_DENY" flag:"peer-disable-default-deny" help:"turn off the built-in deny-list (unsafe on a public server)" reload:"live"`
}

// Quotas protect the server from one user or account taking it all.
type Quotas struct {
	PerIdentity int `yaml:"allocations_per_identity" env:"QUOTA_PER_IDENTITY" flag:"quota-per-identity" help:"concurrent allocations per identity (0: unlimited)" reload:"live"`
	PerAccount  int `yaml:"allocations_per_account" env:"QUOTA_PER_ACCOUNT" flag:"quota-per-account" help:"concurrent allocations per account (0: unlimited)" reload:"live"`
	Total       int `yaml:"allocations_total" env:"QUOTA_TOTAL" flag:"quota-total" help:"concurrent allocations on this server (0: unlimited)" reload:"live"`
	// BandwidthBPS limits each allocation, in bytes per second each way.
	BandwidthBPS int64 `yaml:"bandwidth_bytes_per_second" env:"QUOTA_BANDWIDTH" flag:"quota-bandwidth" help:"bytes per second per allocation and direction (0: unlimited)" reload:"live"`
}

// API configures the token-issuing HTTP API.
type API struct {
	Listen string `yaml:"listen" env:"API_LISTEN" flag:"api-listen" help:"address of the HTTP API" reload:"restart"`
	// PublicHost names this relay in issued ICE servers; empty means the
	// host the request was addressed to.
	PublicHost string `yaml:"public_host" env:"PUBLIC_HOST" flag:"public-host" help:"host named in issued ICE server URLs (default: the request's Host)" reload:"restart"`
	// STUNHost and TURNHost name the STUN and TURN servers apart in issued
	// URLs (Twilio: global.stun.twilio.com, global.turn.twilio.com); a
	// leading "global" label is replaced by the region's name for a Region
	// not in Regions.
	STUNHost string `yaml:"stun_host" env:"STUN_HOST" flag:"stun-host" help:"host named in issued stun: URLs, e.g. global.stun.example.com (default: public_host)" reload:"restart"`
	TURNHost string `yaml:"turn_host" env:"TURN_HOST" flag:"turn-host" help:"host named in issued turn:/turns: URLs, e.g. global.turn.example.com (default: public_host)" reload:"restart"`
	// Regions maps a region name to the relay host issued for it.
	Regions map[string]string `yaml:"regions" env:"REGIONS" flag:"region" help:"region=host pairs, comma separated" reload:"live"`
	// CORSOrigins may call /v1/ice-servers from a browser; "*" allows all.
	CORSOrigins []string `yaml:"cors_origins" env:"CORS_ORIGINS" flag:"cors-origin" help:"origins allowed to call /v1/ice-servers from a browser" reload:"restart"`
	// TLS serves the API over HTTPS with the certificate in the tls section.
	TLS bool `yaml:"tls" env:"API_TLS" flag:"api-tls" help:"serve the API over HTTPS with the tls certificate" reload:"restart"`
	// AuthFailuresPerMinute limits failed authentications per source IP.
	AuthFailuresPerMinute int `yaml:"auth_failures_per_minute" env:"API_AUTH_FAILURES_PER_MINUTE" flag:"api-auth-failures-per-minute" help:"failed authentications allowed per source address per minute" reload:"restart"`
	// TrustedProxies are reverse-proxy addresses or CIDRs whose Forwarded /
	// X-Forwarded-For header names the client for the failed-auth limiter.
	// Empty (the default) trusts no header: behind a proxy, every client
	// would then share the proxy's failure budget.
	TrustedProxies []string `yaml:"trusted_proxies" env:"API_TRUSTED_PROXIES" flag:"api-trusted-proxy" help:"reverse-proxy CIDRs whose X-Forwarded-For/Forwarded names the client, comma separated (default: none)" reload:"restart"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes" env:"API_MAX_BODY_BYTES" flag:"api-max-body-bytes" help:"largest request body accepted" reload:"restart"`
	// TrackedAccounts caps the accounts given their own usage series.
	TrackedAccounts int `yaml:"tracked_accounts" env:"TRACKED_ACCOUNTS" flag:"tracked-accounts" help:"accounts given their own usage metric series" reload:"restart"`
}

// Admin configures the operator listener.
type Admin struct {
	Listen string `yaml:"listen" env:"ADMIN_LISTEN" flag:"admin-listen" help:"address of /metrics, /healthz and /readyz (empty disables)" reload:"restart"`
	Pprof  bool   `yaml:"pprof" env:"ADMIN_PPROF" flag:"admin-pprof" help:"serve Go's pprof on the admin listener" reload:"restart"`
}

// Store chooses where accounts, keys and revocations live.
type Store struct {
	// DSN: empty for SQLite in the data directory, "sqlite:PATH", or a
	// postgres:// URL.
	DSN Secret `yaml:"dsn" env:"STORE_DSN" flag:"store-dsn" help:"empty (SQLite in the data dir), sqlite:PATH or postgres://..." reload:"restart"`
	// EncryptionKey seals key secrets and auth tokens at rest; empty means a
	// key generated in the data directory. Nodes sharing a database must
	// share it.
	EncryptionKey Secret `yaml:"encryption_key" env:"STORE_ENCRYPTION_KEY" flag:"store-encryption-key" help:"base64 32-byte key sealing stored secrets (default: generated in the data dir)" reload:"restart"`
	// RevocationPoll is how often relays read the revocation feed.
	RevocationPoll Duration `yaml:"revocation_poll" env:"REVOCATION_POLL" flag:"revocation-poll" help:"how often the revocation feed is read" reload:"restart"`
	// UsageFlush is how often relays add their relayed bytes to the usage
	// records in the store (and once more at shutdown).
	UsageFlush Duration `yaml:"usage_flush" env:"USAGE_FLUSH" flag:"usage-flush" help:"how often relays write relayed bytes to the usage records" reload:"restart"`
}

// TLS names the certificate used by turns: listeners and optionally the API.
type TLS struct {
	CertFile string `yaml:"cert_file" env:"TLS_CERT_FILE" flag:"tls-cert" help:"PEM certificate chain for turns: and HTTPS" reload:"restart"`
	KeyFile  string `yaml:"key_file" env:"TLS_KEY_FILE" flag:"tls-key" help:"PEM private key for turns: and HTTPS" reload:"restart"`
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
			ListenIP:           AddrList{"0.0.0.0"},
			UDPPort:            3478,
			TCPPort:            3478,
			AltTCPPort:         443,
			TLSPort:            5349,
			ListenSocketBuffer: 8 << 20,
			RelaySocketBuffer:  512 << 10,
			MinPort:            49152,
			MaxPort:            65535,
			MaxTTL:             Duration(24 * time.Hour),
			ClockSkew:          Duration(60 * time.Second),
			AllocationLifetime: Duration(10 * time.Minute),
			KernelOffload:      "auto",
			Quotas: Quotas{
				// One identity in an 8-party mesh: 7 peer connections × the
				// 3 TURN URLs of an ICE server list, with room to spare.
				PerIdentity: 32,
				PerAccount:  1000,
				Total:       10000,
			},
			Limits: Limits{
				MaxFrameBytes:            4096,
				IdleTimeout:              Duration(30 * time.Second),
				ConnectionsPerSource:     256,
				PermissionsPerAllocation: 500,
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
		Store: Store{RevocationPoll: Duration(time.Second), UsageFlush: Duration(10 * time.Second)},
	}
}
