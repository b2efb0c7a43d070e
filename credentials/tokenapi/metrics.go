package tokenapi

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
)

// Token kinds counted by turnkey_tokens_issued_total. nts and ice_servers
// count every credential, by endpoint; access and capability split
// ice_servers by the bearer token that authorised the request, which is
// what tells browser apps on Access Tokens from legacy Capability Token
// ones. Minting those tokens is offline (`turnkey token`), so the server
// has no other issue of them to count.
const (
	kindNTS        = "nts"
	kindICEServers = "ice_servers"
	kindAccess     = "access"
	kindCapability = "capability"
)

// metrics are the API's collectors. Every label has a bounded set of values:
// routes are registered patterns, never raw paths, and per-account series
// are capped by Config.TrackedAccounts.
type metrics struct {
	tokensIssued   *prometheus.CounterVec
	accountTokens  *prometheus.CounterVec
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	authFailures   *prometheus.CounterVec
	trackedMax     int
	trackedMu      sync.Mutex
	trackedAccount map[string]bool
}

func newMetrics(reg prometheus.Registerer, trackedAccounts int) (*metrics, error) {
	m := &metrics{
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_tokens_issued_total",
			Help: "TURN credentials issued by the HTTP API, by kind: nts (Tokens.json) and ice_servers (/v1/ice-servers) count every credential; access and capability split ice_servers by the bearer token that authorised it (ice_servers = access + capability), so sum only nts and ice_servers for a total.",
		}, []string{"kind"}),
		accountTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_api_account_tokens_issued_total",
			Help: "TURN credentials issued by the HTTP API per account; accounts beyond the tracked limit count as \"other\".",
		}, []string{"account"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_http_requests_total",
			Help: "HTTP API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "turnkey_http_request_duration_seconds",
			Help:    "HTTP API request duration by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_api_auth_failures_total",
			Help: "Failed HTTP API authentications by reason (basic, basic_missing, bearer_<reason>, rate_limited).",
		}, []string{"reason"}),
		trackedMax:     trackedAccounts,
		trackedAccount: make(map[string]bool),
	}
	// Every kind exists from the start, so rate() and dashboards see zeros
	// rather than series appearing with the first issue.
	for _, k := range []string{kindNTS, kindICEServers, kindAccess, kindCapability} {
		m.tokensIssued.WithLabelValues(k)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.tokensIssued, m.accountTokens, m.requests, m.duration, m.authFailures} {
		if err := reg.Register(c); err != nil {
			// Most often a second API on the same registry: one per process.
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}

// issued counts a credential for account.
func (m *metrics) issued(kind, account string) {
	m.tokensIssued.WithLabelValues(kind).Inc()
	m.accountTokens.WithLabelValues(m.accountLabel(account)).Inc()
}

// issuedForBearer counts a /v1/ice-servers credential for account, also
// under the kind of bearer token (credentials.BearerAccess or
// BearerCapability) that authorised it.
func (m *metrics) issuedForBearer(bearerKind, account string) {
	m.issued(kindICEServers, account)
	switch bearerKind {
	case credentials.BearerAccess:
		m.tokensIssued.WithLabelValues(kindAccess).Inc()
	case credentials.BearerCapability:
		m.tokensIssued.WithLabelValues(kindCapability).Inc()
	}
}

// accountLabel gives the first trackedMax accounts seen their own series.
func (m *metrics) accountLabel(account string) string {
	m.trackedMu.Lock()
	defer m.trackedMu.Unlock()
	if m.trackedAccount[account] {
		return account
	}
	if len(m.trackedAccount) < m.trackedMax {
		m.trackedAccount[account] = true
		return account
	}
	return "other"
}

// reasonLabel matches the reason codes credentials.TokenError uses; anything
// else is folded into "other" so a label can never carry free text.
var reasonLabel = regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)

func (m *metrics) authFailure(reason string) {
	m.authFailures.WithLabelValues(reason).Inc()
}

func bearerReason(reason string) string {
	if !reasonLabel.MatchString(reason) {
		reason = "other"
	}
	return "bearer_" + reason
}
