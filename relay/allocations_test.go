package relay

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

const (
	testAccountA = "AC0000000000000000000000000000000a"
	testAccountB = "AC0000000000000000000000000000000b"
	testKeyA     = "SK0000000000000000000000000000000a"
	testKeyB     = "SK0000000000000000000000000000000b"
)

// TestAllocationsListExactlyTheLiveOnes: the registry lists each live
// allocation once with who holds it, its relay, lifetime, permission and
// channel, and exactly the bytes and packets relayed each way.
func TestAllocationsListExactlyTheLiveOnes(t *testing.T) {
	ts := startServer(t, nil)
	server := ts.addr("turn", "udp", 0)
	peer := testnet.UDPEcho(t)
	userA, passA := issuedCreds(t, testAccountA, testKeyA, "alice")
	userB, passB := issuedCreds(t, testAccountB, testKeyB, "")

	_, relayA := allocatedAs(t, "udp", server, userA, passA)
	_, relayB := allocatedAs(t, "tcp", ts.addr("turn", "tcp", 0), userB, passB)

	// A first echo installs the permission and (pion's client binds one
	// after its first send) the channel; it may take a resend or two,
	// each counted. Then exactly n packets of size each way.
	hello := []byte("hello")
	roundTrip(t, relayA, peer, hello)
	const n, size = 20, 100
	payload := bytes.Repeat([]byte("x"), size)
	buf := make([]byte, 2048)
	for i := range n {
		if _, err := relayA.WriteTo(payload, peer); err != nil {
			t.Fatal(err)
		}
		_ = relayA.SetReadDeadline(time.Now().Add(5 * time.Second))
		if m, _, err := relayA.ReadFrom(buf); err != nil || m != size {
			t.Fatalf("echo %d: %d bytes, %v", i, m, err)
		}
	}
	// A count lands just after the packet moves, so the echo of the last
	// one can be back first: wait until both directions agree (loopback
	// loses nothing, and the peer echoes everything).
	var (
		page AllocationPage
		err  error
	)
	settled := func(c Allocation) bool {
		return c.PacketsClientToPeer > n && c.PacketsClientToPeer == c.PacketsPeerToClient &&
			c.BytesClientToPeer == c.BytesPeerToClient &&
			c.BytesClientToPeer == (c.PacketsClientToPeer-n)*uint64(len(hello))+n*size
	}
	// Not settling within the bound is reported by the exact checks below.
	testenv.Eventually(10*time.Second, func() bool {
		page, err = ts.Allocations(AllocationFilter{AccountSIDs: []string{testAccountA}}, "", 10)
		if err != nil || len(page.Allocations) != 1 {
			t.Fatalf("account A's allocations: %+v, %v", page, err)
		}
		return settled(page.Allocations[0])
	})

	page, err = ts.Allocations(AllocationFilter{}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Allocations) != 2 || page.Total != 2 || page.Next != "" {
		t.Fatalf("want exactly the 2 live allocations, got %+v", page)
	}
	byAccount := map[string]Allocation{}
	for _, a := range page.Allocations {
		byAccount[a.AccountSID] = a
	}
	a, b := byAccount[testAccountA], byAccount[testAccountB]
	if a.Identity != "alice" || a.Username != userA || a.CredentialSID != testKeyA || a.Transport != "udp" ||
		!strings.HasPrefix(a.Client, "127.0.0.1:") ||
		a.Relay != relayA.LocalAddr().String() || !strings.HasPrefix(a.ID, "AL") || len(a.ID) != 34 {
		t.Errorf("allocation A: %+v", a)
	}
	if b.Transport != "tcp" || b.CredentialSID != testKeyB || b.Identity != "" || b.Relay != relayB.LocalAddr().String() {
		t.Errorf("allocation B: %+v", b)
	}
	if life := a.ExpiresAt.Sub(a.CreatedAt); life != 10*time.Minute {
		t.Errorf("lifetime %v, want pion's default 10m", life)
	}
	if len(a.Permissions) != 1 || a.Permissions[0] != "127.0.0.1" {
		t.Errorf("permissions %v, want [127.0.0.1]", a.Permissions)
	}
	if len(a.Channels) != 1 || a.Channels[0].Peer != peer.String() || a.Channels[0].Number < minChannel {
		t.Errorf("channels %+v, want one to %s", a.Channels, peer)
	}
	// Every packet counted once: the hellos (one or more) and the n.
	hellos := a.PacketsClientToPeer - n
	for dir, got := range map[string][2]uint64{
		"client→peer": {a.BytesClientToPeer, a.PacketsClientToPeer},
		"peer→client": {a.BytesPeerToClient, a.PacketsPeerToClient},
	} {
		if want := hellos*uint64(len(hello)) + n*size; got[0] != want || got[1] != hellos+n {
			t.Errorf("%s: %d bytes in %d packets, want %d in %d (%d hellos and %d of %d bytes)",
				dir, got[0], got[1], want, hellos+n, hellos, n, size)
		}
	}
	if b.BytesClientToPeer != 0 || b.PacketsPeerToClient != 0 {
		t.Errorf("B relayed nothing, got %+v", b)
	}
	for _, f := range []AllocationFilter{
		{Identity: "alice"}, {Username: userA}, {CredentialSID: testKeyA}, {AccountSIDs: []string{testAccountA}},
	} {
		if p, _ := ts.Allocations(f, "", 10); len(p.Allocations) != 1 || p.Allocations[0].ID != a.ID {
			t.Errorf("filter %+v: %+v", f, p.Allocations)
		}
	}
	if p, _ := ts.Allocations(AllocationFilter{AccountSIDs: []string{}}, "", 10); len(p.Allocations) != 0 {
		t.Errorf("no visible accounts lists %d", len(p.Allocations))
	}
	if got, ok := ts.Allocation(a.ID); !ok || got.ID != a.ID {
		t.Errorf("Allocation(%s): %v", a.ID, ok)
	}

	// Ended by the client: gone from the list.
	if err := relayB.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "B's allocation to leave the list", 5*time.Second, func() bool {
		p, _ := ts.Allocations(AllocationFilter{}, "", 10)
		return p.Total == 1
	})
	if _, err := ts.Allocations(AllocationFilter{}, "not-a-cursor", 10); err == nil {
		t.Error("a bad cursor is accepted")
	}
}

// TestAllocationLifetimeMirrorsPion: expires_at follows what pion grants on
// Allocate and Refresh (the default for less, the asked value under an
// hour, the default again for an hour or more), and a Refresh with 0
// removes the allocation.
func TestAllocationLifetimeMirrorsPion(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.AllocationLifetime = 5 * time.Minute })
	server := ts.addr("turn", "udp", 0)
	user, pass := creds("lifetimes", time.Hour)
	c := newRawClient(t, "udp", server, user, pass, testRealm)
	lt := func(secs uint32) stun.RawAttribute {
		return stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{byte(secs >> 24), byte(secs >> 16), byte(secs >> 8), byte(secs)}}
	}
	if code := c.do(stun.MethodAllocate, udpTransport, lt(1800)); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	only := func() Allocation {
		t.Helper()
		p, _ := ts.Allocations(AllocationFilter{Username: user}, "", 10)
		if len(p.Allocations) != 1 {
			t.Fatalf("want one allocation, got %d", len(p.Allocations))
		}
		return p.Allocations[0]
	}
	check := func(what string, granted uint32) {
		t.Helper()
		a := only()
		if got := c.lifetime(); got != granted {
			t.Fatalf("%s: pion granted %d s, test expects %d", what, got, granted)
		}
		left := time.Until(a.ExpiresAt)
		if want := time.Duration(granted) * time.Second; left > want || left < want-time.Minute {
			t.Errorf("%s: expires in %v, pion granted %v", what, left, want)
		}
	}
	check("allocate 1800", 1800)
	for _, tc := range []struct {
		asked, granted uint32
	}{{60, 300}, {900, 900}, {3600, 300}, {7200, 300}} {
		if code := c.refresh(tc.asked); code != 0 {
			t.Fatalf("refresh %d: %d", tc.asked, code)
		}
		check("refresh "+itoa(int(tc.asked)), tc.granted)
	}
	if code := c.refresh(0); code != 0 {
		t.Fatalf("refresh 0: %d", code)
	}
	testenv.WaitFor(t, "the deleted allocation to leave the list", 5*time.Second, func() bool {
		p, _ := ts.Allocations(AllocationFilter{}, "", 10)
		return p.Total == 0
	})
}

// TestClosingAnAllocation: a closed allocation is gone at once for the
// client (437 on Refresh), its gauge and quota slot are given back (a new
// allocation succeeds at the quota limit), and the close is counted and
// logged without the password.
func TestClosingAnAllocation(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Quotas = Quotas{PerIdentity: 1, PerAccount: 1, Total: 1} })
	server := ts.addr("turn", "udp", 0)
	user, pass := issuedCreds(t, testAccountA, testKeyA, "bob")
	c := newRawClient(t, "udp", server, user, pass, testRealm)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	if code := newRawClient(t, "udp", server, user, pass, testRealm).allocate(); code != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("second allocation at the quota limit: %d, want 486", code)
	}
	p, _ := ts.Allocations(AllocationFilter{}, "", 10)
	if len(p.Allocations) != 1 {
		t.Fatalf("allocations: %+v", p)
	}
	if ts.CloseAllocation("AL00000000000000000000000000000000", CloseOperator) {
		t.Error("an unknown ID was closed")
	}
	if !ts.CloseAllocation(p.Allocations[0].ID, CloseOperator) {
		t.Fatal("close reported no allocation")
	}
	if n := ts.AllocationCount(); n != 0 {
		t.Errorf("pion still holds %d allocations after the close returned", n)
	}
	if p, _ := ts.Allocations(AllocationFilter{}, "", 10); p.Total != 0 {
		t.Errorf("closed allocation still listed: %+v", p)
	}
	if code := c.refresh(600); code != int(stun.CodeAllocMismatch) {
		t.Errorf("Refresh after close: %d, want 437", code)
	}
	if v := gathered(t, ts, "turnkey_allocations_active"); v != 0 {
		t.Errorf("turnkey_allocations_active %v after close, want 0", v)
	}
	if v := gathered(t, ts, "turnkey_allocations_closed_total", "reason", CloseOperator); v != 1 {
		t.Errorf("turnkey_allocations_closed_total{reason=operator} = %v, want 1", v)
	}
	if code := newRawClient(t, "udp", server, user, pass, testRealm).allocate(); code != 0 {
		t.Errorf("allocation at the quota limit after the close: %d, want success", code)
	}
	logs := ts.log.String()
	if !strings.Contains(logs, "allocation closed") || strings.Contains(logs, pass) {
		t.Error("the close is not logged, or the log holds the password")
	}
}

// TestClosingByFilterAndRevocation: bulk close takes exactly the matching
// allocations; CloseRevoked takes those of a credential or of an account.
func TestClosingByFilterAndRevocation(t *testing.T) {
	ts := startServer(t, nil)
	server := ts.addr("turn", "udp", 0)
	alloc := func(account, key, identity string) {
		t.Helper()
		u, p := issuedCreds(t, account, key, identity)
		if code := newRawClient(t, "udp", server, u, p, testRealm).allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
	}
	alloc(testAccountA, testKeyA, "a1")
	alloc(testAccountA, testKeyA, "a2")
	alloc(testAccountA, "SK000000000000000000000000000000aa", "a3")
	alloc(testAccountB, testKeyB, "b1")
	alloc(testAccountB, testKeyB, "b2")
	if n := ts.CloseAllocations(AllocationFilter{Identity: "a2"}, CloseOperator); n != 1 {
		t.Errorf("close identity a2: %d", n)
	}
	if n := ts.CloseRevoked(testKeyA); n != 1 {
		t.Errorf("revoking key A closed %d, want 1 (a1)", n)
	}
	if n := ts.CloseRevoked(testAccountB); n != 2 {
		t.Errorf("revoking account B closed %d, want 2", n)
	}
	p, _ := ts.Allocations(AllocationFilter{}, "", 10)
	if len(p.Allocations) != 1 || p.Allocations[0].Identity != "a3" {
		t.Errorf("left: %+v, want a3 only", p.Allocations)
	}
	if v := gathered(t, ts, "turnkey_allocations_closed_total", "reason", CloseRevoked); v != 3 {
		t.Errorf("closed as revoked: %v, want 3", v)
	}
}

// TestAllocationPaging: 1000 live allocations page through in creation
// order with a cursor, each once, also while some end between pages; a
// bulk close then ends the rest at once.
func TestAllocationPaging(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 allocations")
	}
	const total = 1000
	ts := startServer(t, func(c *Config) { c.Quotas, c.MinPort, c.MaxPort = Quotas{}, 50000, 59999 })
	server := mustResolveUDP(t, ts.addr("turn", "udp", 0))
	user, pass := creds("pager", time.Hour)
	allocateMany(t, server, user, pass, total)
	testenv.WaitFor(t, "1000 allocations", 30*time.Second, func() bool { return ts.AllocationCount() == total })

	seen := map[string]bool{}
	var last time.Time
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > total {
			t.Fatal("paging does not end")
		}
		p, err := ts.Allocations(AllocationFilter{}, cursor, 128)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 {
			if p.Total != total {
				t.Fatalf("total %d, want %d", p.Total, total)
			}
			// Close 100 listed ones and 100 not listed yet: the cursor
			// stays valid and the gone ones are not listed.
			for _, a := range p.Allocations[:100] {
				ts.CloseAllocation(a.ID, CloseOperator)
			}
		}
		for _, a := range p.Allocations {
			if seen[a.ID] {
				t.Fatalf("%s listed twice", a.ID)
			}
			seen[a.ID] = true
			if a.CreatedAt.Before(last) {
				t.Fatalf("%s listed out of creation order", a.ID)
			}
			last = a.CreatedAt
		}
		if p.Next == "" {
			break
		}
		if pages == 1 {
			later, _ := ts.Allocations(AllocationFilter{}, p.Next, 200)
			for _, a := range later.Allocations[100:] {
				ts.CloseAllocation(a.ID, CloseOperator)
			}
		}
		cursor = p.Next
	}
	if len(seen) != total-100 {
		t.Errorf("listed %d allocations, want %d", len(seen), total-100)
	}
	// The rest in one bulk close: each relay socket closed, pion done
	// with every one before the call returns.
	if n := ts.CloseAllocations(AllocationFilter{Username: user}, CloseOperator); n != total-200 {
		t.Errorf("bulk close: %d, want %d", n, total-200)
	}
	if n := ts.AllocationCount(); n != 0 {
		t.Errorf("pion holds %d allocations after the bulk close", n)
	}
	ts.registry.mu.Lock()
	slots := len(ts.registry.order)
	ts.registry.mu.Unlock()
	if p, _ := ts.Allocations(AllocationFilter{}, "", 10); p.Total != 0 || slots > 64 {
		t.Errorf("registry after the bulk close: total %d, %d slots (holes are compacted past 64)", p.Total, slots)
	}
}

// allocateMany makes n allocations, each from its own UDP socket.
func allocateMany(t *testing.T, server net.Addr, user, pass string, n int) {
	t.Helper()
	for range n {
		pc := clientUDP(t, "udp4", "127.0.0.1:0")
		t.Cleanup(func() { pc.Close() })
		c := &rawClient{t: t, conn: pc, to: server, user: user, password: pass, realm: testRealm}
		if code := c.allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
	}
}

// TestTCPRelayAllocationListedAndClosed: an RFC 6062 allocation (a TCP
// relay) is listed with its relay address and closed through its relay
// listener like a UDP one.
func TestTCPRelayAllocationListedAndClosed(t *testing.T) {
	ts := startServer(t, nil)
	user, pass := issuedCreds(t, testAccountA, testKeyA, "tcp-relay")
	client := dialClient(t, "tcp", ts.addr("turn", "tcp", 0), user, pass, testRealm)
	alloc, err := client.AllocateTCP()
	if err != nil {
		t.Fatalf("allocate TCP: %v", err)
	}
	defer alloc.Close()
	p, _ := ts.Allocations(AllocationFilter{Identity: "tcp-relay"}, "", 10)
	if len(p.Allocations) != 1 || p.Allocations[0].Relay != alloc.Addr().String() || p.Allocations[0].Transport != "tcp" {
		t.Fatalf("TCP relay allocation: %+v (relay %s)", p.Allocations, alloc.Addr())
	}
	if !ts.CloseAllocation(p.Allocations[0].ID, CloseOperator) {
		t.Fatal("close reported no allocation")
	}
	if n := ts.AllocationCount(); n != 0 {
		t.Errorf("pion holds %d allocations after closing the TCP relay", n)
	}
	ts.registry.mu.Lock()
	left := len(ts.registry.listeners)
	ts.registry.mu.Unlock()
	if left != 0 {
		t.Errorf("%d relay listeners still tracked", left)
	}
}
