package relay

import (
	"fmt"
	"testing"
)

func TestPlanListeners(t *testing.T) {
	cases := []struct {
		name string
		in   ListenPorts
		want string
	}{
		{"nothing", ListenPorts{}, ""},
		{"defaults without TLS", ListenPorts{UDP: 3478, TCP: 3478, AltTCP: 443, TLS: 5349},
			"udp:3478[turn]! tcp:3478[turn]! tcp:443[turn] "},
		{"defaults with TLS", ListenPorts{UDP: 3478, TCP: 3478, AltTCP: 443, TLS: 5349, TLSEnabled: true},
			"udp:3478[turn]! tcp:3478[turn]! tcp:443[turn turns] tcp:5349[turns]! "},
		{"alt port asked for", ListenPorts{AltTCP: 443, AltTCPRequired: true}, "tcp:443[turn]! "},
		{"TLS only", ListenPorts{TLS: 5349, TLSEnabled: true}, "tcp:5349[turns]! "},
		{"UDP only", ListenPorts{UDP: 3478, TLSEnabled: true}, "udp:3478[turn]! "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			for _, pl := range PlanListeners(tc.in) {
				got += fmt.Sprintf("%s:%d%v", pl.Transport, pl.Port, pl.Schemes)
				if pl.Required {
					got += "!"
				}
				got += " "
			}
			if got != tc.want {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
		})
	}
}
