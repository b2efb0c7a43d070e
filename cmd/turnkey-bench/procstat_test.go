package main

import "testing"

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          string
		busy, total int64
		ok          bool
	}{
		{"normal", "cpu  10 1 5 100 4 2 3 7 9 0\ncpu0 1 2 3 4\n", 10 + 1 + 5 + 2 + 3 + 7, 10 + 1 + 5 + 100 + 4 + 2 + 3 + 7, true},
		{"short", "cpu 1 2 3\n", 0, 0, false},
		{"not cpu", "intr 1 2 3 4 5 6 7 8\n", 0, 0, false},
		{"garbage", "cpu 1 2 x 4 5 6 7 8\n", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			busy, total, ok := parseProcStat(tc.in)
			if busy != tc.busy || total != tc.total || ok != tc.ok {
				t.Fatalf("got %d %d %v, want %d %d %v", busy, total, ok, tc.busy, tc.total, tc.ok)
			}
		})
	}
}

func TestParseSnmpUDP(t *testing.T) {
	const snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 500 3 42 600 40 0 0 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"UdpLite: 0 0 9 0 9 0 0 0 0\n"
	for _, tc := range []struct {
		name          string
		in            string
		rcvbuf, inErr int64
		ok            bool
	}{
		{"normal", snmp, 40, 42, true},
		{"no udp", "Ip: Forwarding\nIp: 1\n", 0, 0, false},
		{"header only", "Udp: InErrors RcvbufErrors\n", 0, 0, false},
		{"missing column", "Udp: InDatagrams InErrors\nUdp: 1 2\n", 0, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, i, ok := parseSnmpUDP(tc.in)
			if r != tc.rcvbuf || i != tc.inErr || ok != tc.ok {
				t.Fatalf("got %d %d %v, want %d %d %v", r, i, ok, tc.rcvbuf, tc.inErr, tc.ok)
			}
		})
	}
}
