package promtext

import (
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	text := `# HELP turnkey_relay_bytes_total Bytes relayed.
# TYPE turnkey_relay_bytes_total counter
turnkey_relay_bytes_total{direction="client_to_peer"} 1234
turnkey_relay_bytes_total{direction="peer_to_client"} 5.5e+03
# TYPE turnkey_allocations_total counter
turnkey_allocations_total{transport="udp",note="a \"q\", b"} 3
# TYPE go_goroutines gauge
go_goroutines 12
# TYPE turnkey_api_request_duration_seconds histogram
turnkey_api_request_duration_seconds_bucket{le="+Inf"} 7
turnkey_api_request_duration_seconds_sum 0.5
turnkey_api_request_duration_seconds_count 7
`
	f, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
		ok     bool
	}{
		{"turnkey_relay_bytes_total", nil, 6734, true},
		{"turnkey_relay_bytes_total", []string{"direction", "peer_to_client"}, 5500, true},
		{"turnkey_relay_bytes_total", []string{"direction", "sideways"}, 0, false},
		{"turnkey_allocations_total", []string{"note", `a "q", b`, "transport", "udp"}, 3, true},
		{"go_goroutines", nil, 12, true},
		{"turnkey_api_request_duration_seconds", nil, 7, true},
		{"absent", nil, 0, false},
	} {
		v, ok := f.Value(tc.name, tc.labels...)
		if v != tc.want || ok != tc.ok {
			t.Errorf("Value(%s, %v) = %v, %v; want %v, %v", tc.name, tc.labels, v, ok, tc.want, tc.ok)
		}
	}
	if _, err := Parse(strings.NewReader("broken{x=\"1\" 2\n")); err == nil {
		t.Error("unterminated labels parsed without error")
	}
}
