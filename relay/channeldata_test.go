package relay

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestChannelDataPayloadLookingLikeSTUN relays, both ways, a ChannelData
// payload whose first bytes are the STUN magic cookie: the payload of the
// FuzzSTUNDatagram finding kept in testdata. The server relays it intact; it
// was pion's client (v5.1.3) that, seeing the cookie at bytes 4-7 of the
// ChannelData it received, took it for STUN, failed to decode it and ended
// its read loop. The test speaks TURN by hand so no client library sits
// between the bytes and the assertion.
func TestChannelDataPayloadLookingLikeSTUN(t *testing.T) {
	ts := startServer(t, nil)
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	peerAP := peer.LocalAddr().(*net.UDPAddr).AddrPort()

	user, pass := creds("cookie-payload", time.Hour)
	c := newRawClient(t, "udp", ts.addr("turn", "udp", 0), user, pass, testRealm)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(c.last, stun.AttrXORRelayedAddress); err != nil {
		t.Fatalf("XOR-RELAYED-ADDRESS: %v", err)
	}
	const channel = 0x4000
	if code := c.channelBind(channel, peerAP); code != 0 {
		t.Fatalf("channel bind: %d", code)
	}
	payload, _ := hex.DecodeString("2112a4427475726e6b657966001300017800000000")

	frame := binary.BigEndian.AppendUint16(nil, channel)
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(payload)))
	frame = append(frame, payload...)
	if _, err := c.conn.WriteTo(frame, c.to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil {
		t.Fatalf("peer: nothing relayed: %v", err)
	}
	if !bytes.Equal(buf[:n], payload) {
		t.Fatalf("peer got %x, want %x", buf[:n], payload)
	}
	if got := from.(*net.UDPAddr).AddrPort(); got != netip.AddrPortFrom(netip.MustParseAddr(relayed.IP.String()), uint16(relayed.Port)) {
		t.Fatalf("peer got it from %v, want the relay address %v:%d", got, relayed.IP, relayed.Port)
	}

	if _, err := peer.WriteTo(payload, from); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("client: nothing relayed back: %v", err)
		}
		if buf[0]&0xc0 != 0x40 {
			continue // a STUN answer
		}
		// Over UDP the server may pad ChannelData to 4 bytes.
		if n < len(frame) || !bytes.Equal(buf[:len(frame)], frame) {
			t.Fatalf("client got %x, want ChannelData %x", buf[:n], frame)
		}
		return
	}
}
