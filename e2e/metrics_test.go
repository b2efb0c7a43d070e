package e2e

import (
	"context"
	"fmt"

	"github.com/turnkey-dev/turnkey/internal/promtext"
)

// metrics scrapes turnkey's /metrics.
func (s *server) metrics() (promtext.Families, error) {
	return promtext.Fetch(context.Background(), s.http, "http://"+adminAddr+"/metrics")
}

// relayCounters is what the e2e tests watch move.
type relayCounters struct {
	allocUDP, allocTCP     float64 // turnkey_allocations_total by transport
	allocTLS               float64
	allocIPv6              float64 // turnkey_allocations_total{family="ipv6"}, all transports
	bytesC2P, bytesP2C     float64 // turnkey_relay_bytes_total by direction
	packetsC2P, packetsP2C float64 // turnkey_relay_packets_total by direction
	authExpired            float64 // turnkey_auth_failures_total{reason="expired"}
	peerDenied             float64 // turnkey_peer_denied_total, all reasons
	kernelAttached         float64 // turnkey_kernel_offload_attached
	kernelPackets          float64 // turnkey_kernel_relay_packets_total, both directions
}

func (c relayCounters) String() string {
	return fmt.Sprintf("allocations udp=%.0f tcp=%.0f tls=%.0f ipv6=%.0f, relay bytes client_to_peer=%.0f peer_to_client=%.0f, packets %.0f/%.0f, auth expired=%.0f, peer denied=%.0f, kernel path attached=%.0f packets=%.0f",
		c.allocUDP, c.allocTCP, c.allocTLS, c.allocIPv6, c.bytesC2P, c.bytesP2C, c.packetsC2P, c.packetsP2C, c.authExpired, c.peerDenied, c.kernelAttached, c.kernelPackets)
}

// counters scrapes /metrics once.
func (s *server) counters() (relayCounters, error) {
	fams, err := s.metrics()
	if err != nil {
		return relayCounters{}, err
	}
	sum := func(name string, labelPairs ...string) float64 {
		v, _ := fams.Value(name, labelPairs...)
		return v
	}
	return relayCounters{
		allocUDP:       sum("turnkey_allocations_total", "transport", "udp"),
		allocTCP:       sum("turnkey_allocations_total", "transport", "tcp"),
		allocTLS:       sum("turnkey_allocations_total", "transport", "tls"),
		allocIPv6:      sum("turnkey_allocations_total", "family", "ipv6"),
		bytesC2P:       sum("turnkey_relay_bytes_total", "direction", "client_to_peer"),
		bytesP2C:       sum("turnkey_relay_bytes_total", "direction", "peer_to_client"),
		packetsC2P:     sum("turnkey_relay_packets_total", "direction", "client_to_peer"),
		packetsP2C:     sum("turnkey_relay_packets_total", "direction", "peer_to_client"),
		authExpired:    sum("turnkey_auth_failures_total", "reason", "expired"),
		peerDenied:     sum("turnkey_peer_denied_total"),
		kernelAttached: sum("turnkey_kernel_offload_attached"),
		kernelPackets:  sum("turnkey_kernel_relay_packets_total"),
	}, nil
}
