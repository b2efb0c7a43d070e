package e2e

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/turnkey-dev/turnkey/internal/promtext"
)

// metricsText fetches turnkey's Prometheus exposition.
func (s *server) metricsText() (string, error) {
	resp, err := s.http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", fmt.Errorf("reading /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	return string(raw), nil
}

// sample is one series of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the text exposition format (promtext) into one
// sample per series.
func parseMetrics(text string) ([]sample, error) {
	fams, err := promtext.Parse(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	var out []sample
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		for _, m := range fams[name].GetMetric() {
			s := sample{name: name, labels: map[string]string{}, value: promtext.Sample(m)}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			out = append(out, s)
		}
	}
	return out, nil
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
	text, err := s.metricsText()
	if err != nil {
		return relayCounters{}, err
	}
	samples, err := parseMetrics(text)
	if err != nil {
		return relayCounters{}, err
	}
	var c relayCounters
	for _, m := range samples {
		switch m.name {
		case "turnkey_allocations_total":
			if m.labels["family"] == "ipv6" {
				c.allocIPv6 += m.value
			}
			switch m.labels["transport"] {
			case "udp":
				c.allocUDP += m.value
			case "tcp":
				c.allocTCP += m.value
			case "tls":
				c.allocTLS += m.value
			}
		case "turnkey_relay_bytes_total":
			switch m.labels["direction"] {
			case "client_to_peer":
				c.bytesC2P += m.value
			case "peer_to_client":
				c.bytesP2C += m.value
			}
		case "turnkey_auth_failures_total":
			if m.labels["reason"] == "expired" {
				c.authExpired += m.value
			}
		case "turnkey_peer_denied_total":
			c.peerDenied += m.value
		case "turnkey_kernel_offload_attached":
			c.kernelAttached = m.value
		case "turnkey_kernel_relay_packets_total":
			c.kernelPackets += m.value
		case "turnkey_relay_packets_total":
			switch m.labels["direction"] {
			case "client_to_peer":
				c.packetsC2P += m.value
			case "peer_to_client":
				c.packetsP2C += m.value
			}
		}
	}
	return c, nil
}
