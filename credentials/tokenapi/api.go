package tokenapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
	"github.com/turnkey-dev/turnkey/sessions"
)

// Defaults applied by New to zero Config fields.
const (
	defaultMaxBodyBytes = 16 << 10
	defaultMaxTTL       = 24 * time.Hour
	// twilioMaxTTL is the largest Ttl Twilio's token resource accepts; it is
	// also its default.
	twilioMaxTTL = 86400 * time.Second
)

// Config is everything the API needs from the process around it. Store,
// Keyring and Listeners are required; the rest have defaults.
type Config struct {
	Store store.Store
	// Keyring holds the TURN REST secrets; its primary signs. It is loaded
	// on every issue, so a reload's swap takes effect at once, in step with
	// a relay holding the same keyring.
	Keyring *credentials.KeyringHolder
	// Listeners returns the TURN listeners running right now; only those are
	// advertised, so clients never get a URL nothing answers.
	Listeners func() []Listener
	// PublicHost is the relay host put in URLs. Empty: the host the request
	// was sent to (Host header, port stripped).
	PublicHost string
	// STUNHost and TURNHost, when set, name the STUN and the TURN servers
	// in issued URLs instead of PublicHost. A leading "global" label makes
	// every region reachable by replacing it with the region's name, as
	// Twilio's global.stun.twilio.com / global.turn.twilio.com do.
	STUNHost, TURNHost string
	// Regions maps a region name to its relay host. "global" is PublicHost
	// (or the request host) unless configured here.
	Regions map[string]string
	// CORSOrigins may call /v1/ice-servers from a browser; "*" allows any.
	CORSOrigins []string
	// AuthFailuresPerMinute is how many failed authentications a source
	// address may make per minute; 0 disables the limit.
	AuthFailuresPerMinute int
	// TrustedProxies are the reverse proxies whose Forwarded or
	// X-Forwarded-For header names the client; empty (the default) trusts
	// no header, and every request is charged to its TCP peer.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes bounds request bodies (default 16 KiB).
	MaxBodyBytes int64
	// MaxTTL caps every issued credential (default 24h).
	MaxTTL time.Duration
	// OnRevoke is called after a key is deleted so the local relay refuses
	// its credentials at once, before the revocation feed is polled.
	OnRevoke func(credID string)
	// Metrics receives the API's collectors; nil leaves them unregistered.
	Metrics prometheus.Registerer
	// TrackedAccounts is how many accounts get their own series in
	// turnkey_api_account_tokens_issued_total; the rest share "other".
	TrackedAccounts int
	// Usage reports an account's relay usage for GET /v1/usage; nil reports
	// zeros.
	Usage func(accountSID string) UsageReport
	// Allocations is the relay's allocation registry, for an account's
	// view of its live allocations (/v1/allocations); nil on a node
	// without a relay.
	Allocations sessions.Registry
	// Console, if set, is served at /console/ (the web console's tenant
	// view, which calls this API).
	Console http.Handler
	Logger  *slog.Logger
	Now     func() time.Time
}

// Listener is a TURN/STUN listener the relay runs.
type Listener struct {
	Scheme    string // "stun", "turn" or "turns"
	Port      int
	Transport string // "udp" or "tcp"
}

// UsageReport is an account's relay usage, as GET /v1/usage returns it.
type UsageReport struct {
	AccountSID        string `json:"account_sid"`
	RelayBytes        uint64 `json:"relay_bytes"` // both directions
	BytesClientToPeer uint64 `json:"bytes_client_to_peer"`
	BytesPeerToClient uint64 `json:"bytes_peer_to_client"`
	AllocationsActive int    `json:"allocations_active"`
}

// API serves the token and key HTTP API.
type API struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	hosts    hostPolicy
	cors     corsPolicy
	limiter  *failureLimiter
	metrics  *metrics
	handler  http.Handler
	bearers  *bearerCache
	keys     keyResolver
	accounts accountResolver
}

// New checks cfg and builds the API.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil {
		return nil, errors.New("tokenapi: Config.Store is required")
	}
	if cfg.Keyring == nil || cfg.Keyring.Load() == nil {
		return nil, errors.New("tokenapi: Config.Keyring is required")
	}
	if cfg.Listeners == nil {
		return nil, errors.New("tokenapi: Config.Listeners is required")
	}
	if cfg.AuthFailuresPerMinute < 0 {
		return nil, fmt.Errorf("tokenapi: AuthFailuresPerMinute is %d; want 0 (off) or more", cfg.AuthFailuresPerMinute)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = defaultMaxTTL
	}
	if cfg.MaxTTL < time.Second {
		return nil, fmt.Errorf("tokenapi: MaxTTL %v is under a second", cfg.MaxTTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hosts, err := newHostPolicyNamed(cfg.PublicHost, cfg.STUNHost, cfg.TURNHost, cfg.Regions)
	if err != nil {
		return nil, fmt.Errorf("tokenapi: %w", err)
	}
	cors, err := newCORSPolicy(cfg.CORSOrigins)
	if err != nil {
		return nil, fmt.Errorf("tokenapi: %w", err)
	}
	m, err := newMetrics(cfg.Metrics, cfg.TrackedAccounts)
	if err != nil {
		return nil, fmt.Errorf("tokenapi: %w", err)
	}
	a := &API{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		hosts:   hosts,
		cors:    cors,
		limiter: newFailureLimiter(cfg.AuthFailuresPerMinute, maxTrackedSources, cfg.Now),
		metrics: m,
		bearers: newBearerCache(),
	}
	a.keys, a.accounts = keyResolver{st: cfg.Store}, accountResolver{st: cfg.Store}
	a.handler = a.routes()
	return a, nil
}

// Handler returns the API's HTTP handler.
func (a *API) Handler() http.Handler { return a.handler }

// Server returns an http.Server for the API on addr with timeouts that keep
// slow or idle clients from holding connections open.
func (a *API) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}
