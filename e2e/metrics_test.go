package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// parseMetrics reads the text exposition format, enough for turnkey's own
// output: no timestamps needed, label values may contain escaped quotes.
func parseMetrics(text string) ([]sample, error) {
	var out []sample
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i < 0 {
			return nil, fmt.Errorf("metrics line %d: %q has no value", n+1, line)
		} else {
			s.name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			var err error
			if rest, err = parseLabels(rest[1:], s.labels); err != nil {
				return nil, fmt.Errorf("metrics line %d: %w", n+1, err)
			}
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %d: %q has no value", n+1, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: value %q: %w", n+1, fields[0], err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, nil
}

// parseLabels reads `k="v",...}` into into and returns what follows the brace.
func parseLabels(s string, into map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.Index(s, `="`)
		if eq < 0 {
			return "", fmt.Errorf("bad labels near %q", s)
		}
		key := s[:eq]
		s = s[eq+2:]
		var val strings.Builder
		for {
			if s == "" {
				return "", fmt.Errorf("unterminated label %s", key)
			}
			c := s[0]
			s = s[1:]
			if c == '"' {
				break
			}
			if c == '\\' && s != "" {
				switch s[0] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[0])
				}
				s = s[1:]
				continue
			}
			val.WriteByte(c)
		}
		into[key] = val.String()
	}
}

// relayCounters is what the e2e tests watch move.
type relayCounters struct {
	allocUDP, allocTCP     float64 // turnkey_allocations_total by transport
	allocTLS               float64
	bytesC2P, bytesP2C     float64 // turnkey_relay_bytes_total by direction
	packetsC2P, packetsP2C float64 // turnkey_relay_packets_total by direction
	authExpired            float64 // turnkey_auth_failures_total{reason="expired"}
	peerDenied             float64 // turnkey_peer_denied_total, all reasons
	kernelAttached         float64 // turnkey_kernel_offload_attached
	kernelPackets          float64 // turnkey_kernel_relay_packets_total, both directions
}

func (c relayCounters) String() string {
	return fmt.Sprintf("allocations udp=%.0f tcp=%.0f tls=%.0f, relay bytes client_to_peer=%.0f peer_to_client=%.0f, packets %.0f/%.0f, auth expired=%.0f, peer denied=%.0f, kernel path attached=%.0f packets=%.0f",
		c.allocUDP, c.allocTCP, c.allocTLS, c.bytesC2P, c.bytesP2C, c.packetsC2P, c.packetsP2C, c.authExpired, c.peerDenied, c.kernelAttached, c.kernelPackets)
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
