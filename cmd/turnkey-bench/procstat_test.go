package main

import "testing"

// parseCase is one input of a /proc parser returning two counters and ok.
type parseCase struct {
	name string
	in   string
	a, b int64
	ok   bool
}

func testParser(t *testing.T, parse func(string) (int64, int64, bool), cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, ok := parse(tc.in)
			if a != tc.a || b != tc.b || ok != tc.ok {
				t.Fatalf("got %d %d %v, want %d %d %v", a, b, ok, tc.a, tc.b, tc.ok)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	testParser(t, parseProcStat, []parseCase{
		{"normal", "cpu  10 1 5 100 4 2 3 7 9 0\ncpu0 1 2 3 4\n", 10 + 1 + 5 + 2 + 3 + 7, 10 + 1 + 5 + 100 + 4 + 2 + 3 + 7, true},
		{"short", "cpu 1 2 3\n", 0, 0, false},
		{"not cpu", "intr 1 2 3 4 5 6 7 8\n", 0, 0, false},
		{"garbage", "cpu 1 2 x 4 5 6 7 8\n", 0, 0, false},
	})
}

func TestParseSnmpUDP(t *testing.T) {
	const snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 500 3 42 600 40 0 0 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"UdpLite: 0 0 9 0 9 0 0 0 0\n"
	testParser(t, parseSnmpUDP, []parseCase{
		{"normal", snmp, 40, 42, true},
		{"no udp", "Ip: Forwarding\nIp: 1\n", 0, 0, false},
		{"header only", "Udp: InErrors RcvbufErrors\n", 0, 0, false},
		{"missing column", "Udp: InDatagrams InErrors\nUdp: 1 2\n", 0, 2, false},
	})
}
