package main

import (
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials/store"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// relayCounted allocates with s over UDP and bounces k datagrams of size
// bytes off peer, one at a time, each waited for: the relay then counted
// exactly k×size bytes each way. It returns that total, sent plus received.
func relayCounted(t *testing.T, s iceServer, peer *net.UDPAddr, k, size int) int64 {
	t.Helper()
	hostPort, _, _ := strings.Cut(strings.TrimPrefix(s.url, "turn:"), "?")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: hostPort, TURNServerAddr: hostPort, Conn: conn,
		Username: s.username, Password: s.credential, Realm: "turnkey",
		LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relayConn, err := cl.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	buf := make([]byte, 2*size)
	for i := range k {
		payload := []byte(strings.Repeat(strconv.Itoa(i%10), size))
		if _, err := relayConn.WriteTo(payload, peer); err != nil {
			t.Fatal(err)
		}
		// Generous: a lost datagram fails the test rather than being
		// resent, since a resend would be counted too.
		_ = relayConn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := relayConn.ReadFrom(buf)
		if err != nil || n != size || buf[0] != payload[0] {
			t.Fatalf("echo %d: %d bytes, %v", i, n, err)
		}
	}
	return int64(2 * k * size)
}

// TestUsageRecordsCountRelayedBytes: bytes relayed through the real server
// show up, exactly, in twilio-go's usage records (turnmegabytes and the
// node's region), for the subaccount and in its parent's total.
func TestUsageRecordsCountRelayedBytes(t *testing.T) {
	n := startTestNode(t, func(c *config.Config) {
		c.TURN.Region = "eu"
		c.API.Regions = map[string]string{"eu": "127.0.0.1"}
		c.Store.UsageFlush = config.Duration(200 * time.Millisecond)
	})
	peer := testnet.UDPEcho(t)
	parent := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "")
	sub, err := parent.Api.CreateAccount(&openapi.CreateAccountParams{})
	if err != nil {
		t.Fatal(err)
	}
	subClient := twilioClient(t, n.API, *sub.Sid, *sub.AuthToken, "")
	tok, err := subClient.Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	want := relayCounted(t, turnServers(tok)[0], peer, 25, 1000)
	wantMB := strconv.FormatFloat(float64(want)/1e6, 'f', -1, 64)
	usage := func(c interface {
		ListUsageRecord(*openapi.ListUsageRecordParams) ([]openapi.ApiV2010UsageRecord, error)
	}, params *openapi.ListUsageRecordParams) string {
		recs, err := c.ListUsageRecord(params)
		if err != nil || len(recs) != 1 {
			t.Fatalf("ListUsageRecord(%s) = %d records, %v", *params.Category, len(recs), err)
		}
		return *recs[0].Usage
	}
	testenv.WaitFor(t, "the relayed bytes in the subaccount's usage records", 10*time.Second, func() bool {
		return usage(subClient.Api, &openapi.ListUsageRecordParams{Category: ptrTo("turnmegabytes")}) == wantMB
	})
	if got := usage(subClient.Api, &openapi.ListUsageRecordParams{Category: ptrTo("turnmegabytes-eu")}); got != wantMB {
		t.Errorf("turnmegabytes-eu = %s MB, want %s", got, wantMB)
	}
	if got := usage(parent.Api, &openapi.ListUsageRecordParams{Category: ptrTo("turnmegabytes")}); got != wantMB {
		t.Errorf("parent's turnmegabytes with subaccounts = %s MB, want %s", got, wantMB)
	}
	if got := usage(parent.Api, &openapi.ListUsageRecordParams{Category: ptrTo("turnmegabytes"), IncludeSubaccounts: ptrTo(false)}); got != "0" {
		t.Errorf("parent's own turnmegabytes = %s MB, want 0", got)
	}
}

// TestUsageIsFlushedAtShutdown: with a flush interval longer than the test,
// the bytes still reach the store when the node stops.
func TestUsageIsFlushedAtShutdown(t *testing.T) {
	n := startTestNode(t, func(c *config.Config) { c.Store.UsageFlush = config.Duration(10 * time.Minute) })
	peer := testnet.UDPEcho(t)
	want := relayCounted(t, turnServers(fetchToken(t, n.admin(t)))[0], peer, 10, 500)
	// The client has its last echo an instant before the relay counts the
	// datagram it sent: wait for the count, then shut down.
	testenv.WaitFor(t, "the relay to count every byte", 5*time.Second, func() bool {
		u := n.relay.AccountUsage(n.AccountSID)
		return int64(u.BytesClientToPeer+u.BytesPeerToClient) == want //nolint:gosec // test sizes
	})
	n.shutdown()
	key, err := store.LoadOrCreateSealKey(n.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), "", n.DataDir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	days, err := st.UsageDays(t.Context(), n.AccountSID, true, now.Add(-time.Hour), now)
	var got int64
	for _, d := range days {
		got += d.Bytes
	}
	if err != nil || got != want {
		t.Errorf("usage after shutdown = %d bytes (%+v, %v), want %d", got, days, err, want)
	}
}

// TestUsageAggregatesAcrossRelayNodes: two relay nodes in different regions
// share a PostgreSQL store; the Usage Records show each region's bytes and
// their sum.
func TestUsageAggregatesAcrossRelayNodes(t *testing.T) {
	dsn := mnFreshSchema(t, mnPostgresDSN(t))
	key := config.Secret(mnEncryptionKey(t))
	shared := func(region, role string) func(c *config.Config) {
		return func(c *config.Config) {
			c.Role = role
			c.Store.DSN, c.Store.EncryptionKey = config.Secret(dsn), key
			c.Store.UsageFlush = config.Duration(200 * time.Millisecond)
			c.TURN.Region = region
		}
	}
	eu := startTestNode(t, shared("eu", "all"))
	us := startTestNode(t, shared("us", "relay"))
	peer := testnet.UDPEcho(t)
	c := eu.admin(t)
	viaEU := turnServers(fetchToken(t, c))[0]
	viaUS := iceServer{url: "turn:" + us.TURNUDP + "?transport=udp", username: viaEU.username, credential: viaEU.credential}
	euBytes := relayCounted(t, viaEU, peer, 10, 1000)
	usBytes := relayCounted(t, viaUS, peer, 20, 300)
	mb := func(b int64) string { return strconv.FormatFloat(float64(b)/1e6, 'f', -1, 64) }
	want := map[string]string{"turnmegabytes": mb(euBytes + usBytes), "turnmegabytes-eu": mb(euBytes), "turnmegabytes-us": mb(usBytes)}
	var got map[string]string
	testenv.WaitFor(t, "both nodes' bytes in the usage records", 10*time.Second, func() bool {
		recs, err := c.Api.ListUsageRecord(&openapi.ListUsageRecordParams{})
		if err != nil {
			return false
		}
		got = map[string]string{}
		for _, r := range recs {
			got[*r.Category] = *r.Usage
		}
		return maps.Equal(got, want)
	})
}
