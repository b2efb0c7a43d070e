package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Transport labels; bounded.
const (
	transportUDP = "udp"
	transportTCP = "tcp"
	transportTLS = "tls"
)

// Directions of relayed traffic.
const (
	dirClientToPeer = "client_to_peer"
	dirPeerToClient = "peer_to_client"
)

// metrics holds the relay's Prometheus series. Relayed bytes and packets are
// not here: they live in per-allocation atomics (see relayStats) and are
// summed at scrape time, so the per-packet path touches no shared cache line.
type metrics struct {
	allocationsTotal   *prometheus.CounterVec
	allocationsActive  *prometheus.GaugeVec
	allocationFailures *prometheus.CounterVec
	bindingRequests    *prometheus.CounterVec
	authFailures       *prometheus.CounterVec
	peerDenied         *prometheus.CounterVec
	quotaRejections    *prometheus.CounterVec
	listenerUp         *prometheus.GaugeVec
	streamClosed       *prometheus.CounterVec
	allocationsClosed  *prometheus.CounterVec
	portsInUse         prometheus.Gauge
	portRange          prometheus.Gauge

	// Resolved children for the per-packet and per-request paths.
	bindingUDP, bindingTCP, bindingTLS prometheus.Counter
	hostPortDropped                    prometheus.Counter
	// staleNonces: requests whose nonce was not issued to their 5-tuple
	// or has expired (replays, and every client once per nonce lifetime).
	staleNonces prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, stats *relayStats) *metrics {
	m := &metrics{
		allocationsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_allocations_total", Help: "TURN allocations created, by client transport and relay address family (ipv4, ipv6).",
		}, []string{"transport", "family"}),
		allocationsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "turnkey_allocations_active", Help: "TURN allocations alive now, by client transport and relay address family (ipv4, ipv6).",
		}, []string{"transport", "family"}),
		allocationFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_allocation_failures_total", Help: "Allocate requests refused, by reason (auth, quota, draining, ports_exhausted, address_family: a 440, insufficient_capacity: a 508 after admission). Peer-policy refusals are not here: the policy applies to CreatePermission, ChannelBind and Connect on an existing allocation (turnkey_peer_denied_total).",
		}, []string{"reason"}),
		bindingRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_stun_binding_requests_total", Help: "STUN Binding requests received, by transport.",
		}, []string{"transport"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_auth_failures_total", Help: "TURN requests whose credentials were refused, by reason (stale_nonce: a nonce not issued to the request's 5-tuple or expired, answered 438).",
		}, []string{"reason"}),
		peerDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_peer_denied_total", Help: "Peers refused by the peer-address policy (CreatePermission, ChannelBind, Connect) and packets to this host's non-relay ports, by reason.",
		}, []string{"reason"}),
		quotaRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_quota_rejections_total", Help: "Allocations refused with 486 for a quota, by the quota hit (identity, account, total).",
		}, []string{"kind"}),
		listenerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "turnkey_listener_up", Help: "1 for each TURN listener bound and serving.",
		}, []string{"listener"}),
		streamClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_stream_connections_closed_total", Help: "TCP/TLS client connections the relay closed, by reason (frame_too_large, not_turn, idle, per_source_limit).",
		}, []string{"reason"}),
		allocationsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnkey_allocations_closed_total", Help: "Live allocations turnkey closed before their lifetime ended, by reason (operator: the admin listener; tenant: the account through the API; revoked: its credential or account was revoked).",
		}, []string{"reason"}),
		portsInUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "turnkey_relay_ports_in_use", Help: "Relay sockets open now.",
		}),
		portRange: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "turnkey_relay_port_range_size", Help: "Number of ports in the relay port range.",
		}),
	}
	m.bindingUDP = m.bindingRequests.WithLabelValues(transportUDP)
	m.bindingTCP = m.bindingRequests.WithLabelValues(transportTCP)
	m.bindingTLS = m.bindingRequests.WithLabelValues(transportTLS)
	m.hostPortDropped = m.peerDenied.WithLabelValues("host_port")
	m.staleNonces = m.authFailures.WithLabelValues("stale_nonce")
	// Pre-create the usual label values so dashboards see zeros, not gaps.
	for _, t := range []string{transportUDP, transportTCP, transportTLS} {
		for _, f := range []string{familyIPv4, familyIPv6, familyDual} {
			m.allocationsTotal.WithLabelValues(t, f)
			m.allocationsActive.WithLabelValues(t, f)
		}
	}
	for _, r := range []string{"expired", "too_far_ahead", "bad_hmac", "bad_realm", "revoked", "malformed"} {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{closeFrameTooLarge, closeNotTURN, closeIdle, closePerSource} {
		m.streamClosed.WithLabelValues(r)
	}
	for _, r := range []string{"auth", "quota", "draining", "ports_exhausted", "address_family", "insufficient_capacity"} {
		m.allocationFailures.WithLabelValues(r)
	}
	for _, r := range []string{CloseOperator, CloseTenant, CloseRevoked} {
		m.allocationsClosed.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.allocationsTotal, m.allocationsActive, m.allocationFailures,
			m.bindingRequests, m.authFailures, m.peerDenied, m.quotaRejections,
			m.listenerUp, m.streamClosed, m.allocationsClosed, m.portsInUse, m.portRange, stats)
	}
	return m
}

func (m *metrics) binding(transport string) prometheus.Counter {
	switch transport {
	case transportTCP:
		return m.bindingTCP
	case transportTLS:
		return m.bindingTLS
	}
	return m.bindingUDP
}
