package relay

import (
	"net"
	"testing"
	"time"
)

// TestLegacyChannelNumbers: RFC 8656 refuses channel numbers past 0x4FFF
// with 400; with Config.LegacyChannelNumbers, RFC 5766's range up to 0x7FFF
// binds (coturn's turnutils_uclient picks from all of it) and 0x8000 fails.
func TestLegacyChannelNumbers(t *testing.T) {
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	peerAP := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, tc := range []struct {
		legacy bool
		number uint16
		want   int
	}{
		{false, 0x4000, 0},
		{false, 0x4FFF, 0},
		{false, 0x5000, 400},
		{false, 0x7FFE, 400},
		{true, 0x4FFF, 0},
		{true, 0x5000, 0},
		{true, 0x7FFF, 0},
		{true, 0x8000, 400},
		{true, 0x3FFF, 400},
	} {
		ts := startServer(t, func(c *Config) { c.LegacyChannelNumbers = tc.legacy })
		user, pass := creds("channels", time.Hour)
		c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
		if code := c.allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
		if got := c.channelBind(tc.number, peerAP); got != tc.want {
			t.Errorf("legacy=%v: ChannelBind %#04x answered %d, want %d", tc.legacy, tc.number, got, tc.want)
		}
	}
}
