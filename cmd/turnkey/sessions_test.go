package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/relay"
	"github.com/turnkey-dev/turnkey/sessions"
)

// rawSession is a TURN client by hand on one UDP socket, so a test can
// Refresh the very allocation it made.
type rawSession struct {
	t     *testing.T
	pc    net.PacketConn
	to    *net.UDPAddr
	user  string
	pass  string
	nonce stun.Nonce
}

func newRawSession(t *testing.T, server, user, pass string) *rawSession {
	t.Helper()
	to, pc := udpTo(t, server)
	return &rawSession{t: t, pc: pc, to: to, user: user, pass: pass}
}

// do sends an authenticated request (fetching a nonce first) and returns
// the STUN error code, 0 on success.
func (s *rawSession) do(method stun.Method, setters ...stun.Setter) int {
	s.t.Helper()
	for range 3 {
		all := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, setters...)
		if len(s.nonce) > 0 {
			all = append(all, stun.NewUsername(s.user), stun.NewRealm("turnkey"), s.nonce,
				stun.NewLongTermIntegrity(s.user, "turnkey", s.pass), stun.Fingerprint)
		}
		req, err := stun.Build(all...)
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.pc.WriteTo(req.Raw, s.to); err != nil {
			s.t.Fatal(err)
		}
		var res *stun.Message
		buf := make([]byte, 1500)
		for res == nil {
			_ = s.pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := s.pc.ReadFrom(buf)
			if err != nil {
				s.t.Fatalf("no answer to %s: %v", method, err)
			}
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() == nil && m.TransactionID == req.TransactionID {
				res = m
			}
		}
		if res.Type.Class == stun.ClassSuccessResponse {
			return 0
		}
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(res); err != nil {
			s.t.Fatalf("error answer without ERROR-CODE: %v", res)
		}
		if ec.Code == stun.CodeUnauthorized || ec.Code == stun.CodeStaleNonce {
			var nonce stun.Nonce
			if nonce.GetFrom(res) == nil && (len(s.nonce) == 0 || ec.Code == stun.CodeStaleNonce) {
				s.nonce = nonce
				continue
			}
		}
		return int(ec.Code)
	}
	return int(stun.CodeUnauthorized)
}

func (s *rawSession) allocate() int {
	return s.do(stun.MethodAllocate, stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}})
}

func (s *rawSession) refresh() int {
	return s.do(stun.MethodRefresh, stun.RawAttribute{Type: stun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, 600)})
}

// listAllocations GETs a /v1/allocations URL and decodes the page.
func listAllocations(t *testing.T, u string, header http.Header) (int, sessions.Page) {
	t.Helper()
	res, body := httpDo(t, http.MethodGet, u, header, nil)
	var p sessions.Page
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s: %v: %s", u, err, body)
		}
	}
	return res.StatusCode, p
}

func basic(user, pass string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header
}

// accountCreds are TURN credentials from the account's Tokens endpoint.
func accountCreds(t *testing.T, n *testNode, sid, token string) iceServer {
	t.Helper()
	tok, err := twilioClient(t, n.API, sid, token, "").Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	return turnServers(tok)[0]
}

// TestSessionsAdminListAndClose: the admin listener lists exactly the live
// allocations with their traffic; closing one ends it for the client (437
// on Refresh), drops the gauge and frees its quota slot; a bulk close needs
// a filter or all=true.
func TestSessionsAdminListAndClose(t *testing.T) {
	n := startTestNode(t, func(c *config.Config) { c.TURN.Quotas.PerAccount = 2 })
	peer := newCountingEcho(t)
	creds := accountCreds(t, n, n.AccountSID, n.AuthToken)

	relayed := turnAllocation(t, "udp", n.TURNUDP, creds.username, creds.credential)
	sent, datagrams := echoSizes(t, relayed, peer.addr, []int{100, 200, 300, 400, 500})
	raw := newRawSession(t, n.TURNUDP, creds.username, creds.credential)
	if code := raw.allocate(); code != 0 {
		t.Fatalf("second allocation: %d", code)
	}
	if code := rawAllocate(t, n.TURNUDP, creds.username, creds.credential, "turnkey"); code != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("third allocation at the account quota of 2: %d, want 486", code)
	}

	var page sessions.Page
	testenv.WaitFor(t, "the relayed bytes to be counted", 10*time.Second, func() bool {
		var code int
		code, page = listAllocations(t, n.Admin+"/v1/allocations", nil)
		if code != http.StatusOK || len(page.Allocations) != 2 {
			t.Fatalf("admin list: %d, %+v", code, page)
		}
		for _, a := range page.Allocations {
			if a.Relay == relayed.LocalAddr().String() {
				return a.BytesClientToPeer == sent && a.BytesPeerToClient == peer.received.Load() &&
					a.PacketsClientToPeer == datagrams && a.PacketsPeerToClient > 0
			}
		}
		t.Fatalf("relay %s not listed in %+v", relayed.LocalAddr(), page)
		return false
	})
	var pionAlloc, rawAlloc relay.Allocation
	for _, a := range page.Allocations {
		if a.Client == raw.pc.LocalAddr().String() {
			rawAlloc = a
		} else {
			pionAlloc = a
		}
	}
	if pionAlloc.PacketsClientToPeer != datagrams || pionAlloc.PacketsPeerToClient == 0 ||
		pionAlloc.AccountSID != n.AccountSID || pionAlloc.Username != creds.username ||
		!strings.HasPrefix(pionAlloc.CredentialSID, "TK") || pionAlloc.Transport != "udp" ||
		len(pionAlloc.Permissions) != 1 || pionAlloc.Permissions[0] != "127.0.0.1" {
		t.Errorf("pion client's allocation: %+v (sent %d datagrams)", pionAlloc, datagrams)
	}
	if rawAlloc.ID == "" || rawAlloc.BytesClientToPeer != 0 {
		t.Fatalf("raw client's allocation: %+v", rawAlloc)
	}
	if page.Meta.Total != 2 || page.Meta.NextPageURL != nil {
		t.Errorf("meta: %+v", page.Meta)
	}
	// Paging through the admin listener, one at a time.
	_, first := listAllocations(t, n.Admin+"/v1/allocations?page_size=1", nil)
	if len(first.Allocations) != 1 || first.Meta.NextPageURL == nil {
		t.Fatalf("first page: %+v", first)
	}
	_, second := listAllocations(t, n.Admin+*first.Meta.NextPageURL, nil)
	if len(second.Allocations) != 1 || second.Allocations[0].ID == first.Allocations[0].ID || second.Meta.NextPageURL != nil {
		t.Errorf("second page: %+v", second)
	}
	if _, p := listAllocations(t, n.Admin+"/v1/allocations?identity=nobody", nil); len(p.Allocations) != 0 {
		t.Errorf("identity filter: %+v", p)
	}
	if code, _ := listAllocations(t, n.Admin+"/v1/allocations?page_size=0", nil); code != http.StatusBadRequest {
		t.Errorf("page_size=0: %d", code)
	}

	before := scrape(t, n)
	res, _ := httpDo(t, http.MethodDelete, n.Admin+"/v1/allocations/"+rawAlloc.ID, nil, nil)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	if res, _ := httpDo(t, http.MethodDelete, n.Admin+"/v1/allocations/"+rawAlloc.ID, nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", res.StatusCode)
	}
	if code := raw.refresh(); code != int(stun.CodeAllocMismatch) {
		t.Errorf("Refresh of the closed allocation: %d, want 437", code)
	}
	after := scrape(t, n)
	if d := after.get("turnkey_allocations_active", "transport", "udp", "family", "ipv4") -
		before.get("turnkey_allocations_active", "transport", "udp", "family", "ipv4"); d != -1 {
		t.Errorf("allocations_active moved by %v, want -1", d)
	}
	if v := after.get("turnkey_allocations_closed_total", "reason", "operator"); v != 1 {
		t.Errorf("allocations_closed_total{operator} = %v, want 1", v)
	}
	if code := newRawSession(t, n.TURNUDP, creds.username, creds.credential).allocate(); code != 0 {
		t.Errorf("allocation at the quota limit after the close: %d, want success", code)
	}

	res, body := httpDo(t, http.MethodDelete, n.Admin+"/v1/allocations", nil, nil)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "all=true") {
		t.Errorf("bulk close without a filter: %d %s", res.StatusCode, body)
	}
	res, body = httpDo(t, http.MethodDelete, n.Admin+"/v1/allocations?credential_sid="+pionAlloc.CredentialSID, nil, nil)
	var closed sessions.Closed
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &closed) != nil || closed.Closed != 2 {
		t.Errorf("bulk close by credential: %d %s, want 2 closed", res.StatusCode, body)
	}
	if _, p := listAllocations(t, n.Admin+"/v1/allocations", nil); len(p.Allocations) != 0 {
		t.Errorf("left after the bulk close: %+v", p.Allocations)
	}
	if strings.Contains(n.Logs.String(), creds.credential) {
		t.Error("the TURN password is in the log")
	}
}

// TestSessionsTenantView: on the API an account sees and closes only its
// own allocations; another account's ID is 404, and no or Standard-key
// credentials are 401.
func TestSessionsTenantView(t *testing.T) {
	n := startTestNode(t, nil)
	other, err := n.store.CreateAccount(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	mine := accountCreds(t, n, n.AccountSID, n.AuthToken)
	theirs := accountCreds(t, n, other.SID, other.AuthToken)
	for _, c := range []iceServer{mine, theirs} {
		if code := newRawSession(t, n.TURNUDP, c.username, c.credential).allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
	}
	me := basic(n.AccountSID, n.AuthToken)
	code, page := listAllocations(t, n.API+"/v1/allocations", me)
	if code != http.StatusOK || len(page.Allocations) != 1 || page.Allocations[0].AccountSID != n.AccountSID {
		t.Fatalf("tenant list: %d %+v", code, page)
	}
	if _, p := listAllocations(t, n.API+"/v1/allocations?account_sid="+other.SID, me); len(p.Allocations) != 0 {
		t.Errorf("another account's filter lists %+v", p.Allocations)
	}
	_, theirPage := listAllocations(t, n.Admin+"/v1/allocations?account_sid="+other.SID, nil)
	if len(theirPage.Allocations) != 1 {
		t.Fatalf("admin list of the other account: %+v", theirPage)
	}
	if res, _ := httpDo(t, http.MethodDelete, n.API+"/v1/allocations/"+theirPage.Allocations[0].ID, me, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("closing another account's allocation: %d, want 404", res.StatusCode)
	}
	if code, _ := listAllocations(t, n.API+"/v1/allocations", nil); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	key, err := n.store.CreateKey(context.Background(), n.AccountSID, "standard")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := listAllocations(t, n.API+"/v1/allocations", basic(key.SID, key.Secret)); code != http.StatusUnauthorized {
		t.Errorf("a Standard key: %d, want 401", code)
	}
	res, body := httpDo(t, http.MethodDelete, n.API+"/v1/allocations?all=true", me, nil)
	var closed sessions.Closed
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &closed) != nil || closed.Closed != 1 {
		t.Errorf("tenant close all: %d %s, want 1 (its own)", res.StatusCode, body)
	}
	if _, p := listAllocations(t, n.Admin+"/v1/allocations", nil); len(p.Allocations) != 1 || p.Allocations[0].AccountSID != other.SID {
		t.Errorf("after the tenant's close: %+v, want the other account's only", p.Allocations)
	}
	if v := scrape(t, n).get("turnkey_allocations_closed_total", "reason", "tenant"); v != 1 {
		t.Errorf("allocations_closed_total{tenant} = %v", v)
	}
}

// TestKeyDeletionClosesAllocationsOnEveryNode: deleting a key through node
// A's API ends, within 5 s, the allocation made with it on relay node B,
// which shares only the store (the revocation feed) with A.
func TestKeyDeletionClosesAllocationsOnEveryNode(t *testing.T) {
	a := startTestNode(t, nil)
	encKey, err := os.ReadFile(filepath.Join(a.DataDir, "store.key"))
	if err != nil {
		t.Fatal(err)
	}
	b := startTestNode(t, func(c *config.Config) {
		c.Role = "relay"
		c.Store.DSN = config.Secret("sqlite:" + filepath.Join(a.DataDir, "turnkey.db"))
		c.Store.EncryptionKey = config.Secret(strings.TrimSpace(string(encKey)))
		c.TURN.MinPort, c.TURN.MaxPort = 63000, 63999
	})
	key, err := twilioClient(t, a.API, a.AccountSID, a.AuthToken, "").Api.CreateNewKey(&openapi.CreateNewKeyParams{})
	if err != nil {
		t.Fatal(err)
	}
	rest, err := credentials.IssuedRest(a.AccountSID, *key.Sid, credentials.SecretID([]byte(testTURNSecret)), "carol")
	if err != nil {
		t.Fatal(err)
	}
	user, pass := credentials.MintTURN([]byte(testTURNSecret), time.Now().Add(time.Hour), rest)
	onB := newRawSession(t, b.TURNUDP, user, pass)
	if code := onB.allocate(); code != 0 {
		t.Fatalf("allocate on B: %d", code)
	}
	if _, p := listAllocations(t, b.Admin+"/v1/allocations?credential_sid="+*key.Sid, nil); len(p.Allocations) != 1 {
		t.Fatalf("B's allocations of the key: %+v", p)
	}
	if err := twilioClient(t, a.API, a.AccountSID, a.AuthToken, "").Api.DeleteKey(*key.Sid, &openapi.DeleteKeyParams{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	testenv.WaitFor(t, "B to close the deleted key's allocation", 5*time.Second, func() bool {
		_, p := listAllocations(t, b.Admin+"/v1/allocations", nil)
		return len(p.Allocations) == 0
	})
	t.Logf("closed on B %v after the delete on A", time.Since(deleted).Round(time.Millisecond))
	if code := onB.refresh(); code != int(stun.CodeAllocMismatch) && code != int(stun.CodeUnauthorized) {
		t.Errorf("Refresh on B after the key's deletion: %d, want 437 (or 401)", code)
	}
	if v := scrape(t, b).get("turnkey_allocations_closed_total", "reason", "revoked"); v != 1 {
		t.Errorf("B's allocations_closed_total{revoked} = %v, want 1", v)
	}
}

// TestRotatingTheAuthTokenClosesItsAllocations: `turnkey accounts
// rotate-token` (another process, through the feed) ends the allocations
// made with credentials issued under the old token within 5 s.
func TestRotatingTheAuthTokenClosesItsAllocations(t *testing.T) {
	n := startTestNode(t, nil)
	creds := accountCreds(t, n, n.AccountSID, n.AuthToken)
	if code := newRawSession(t, n.TURNUDP, creds.username, creds.credential).allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	var out, errOut strings.Builder
	if code := run([]string{"accounts", "rotate-token", "-json", "-data-dir", n.DataDir, n.AccountSID}, &out, &errOut); code != 0 {
		t.Fatalf("rotate-token exit %d: %s", code, errOut.String())
	}
	testenv.WaitFor(t, "the old token's allocation to close", 5*time.Second, func() bool {
		_, p := listAllocations(t, n.Admin+"/v1/allocations", nil)
		return len(p.Allocations) == 0
	})
}

// TestSessionsCLI: `turnkey sessions list` and `close` through the admin
// listener named by the configuration, and a clear error when it is not
// there.
func TestSessionsCLI(t *testing.T) {
	n := startTestNode(t, nil)
	creds := accountCreds(t, n, n.AccountSID, n.AuthToken)
	for range 3 {
		if code := newRawSession(t, n.TURNUDP, creds.username, creds.credential).allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
	}
	admin := []string{"-data-dir", n.DataDir, "-admin-listen", strings.TrimPrefix(n.Admin, "http://")}
	cli := func(args ...string) (int, string, string) {
		var out, errOut strings.Builder
		code := run(append(args[:2:2], append(admin, args[2:]...)...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := cli("sessions", "list", "--json", "--account", n.AccountSID)
	var listed []relay.Allocation
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 3 {
		t.Fatalf("list --json: exit %d, %s %s", code, out, errOut)
	}
	if code, out, _ := cli("sessions", "list"); code != 0 || !strings.Contains(out, listed[0].ID) || !strings.Contains(out, "BYTES UP") {
		t.Errorf("list table: exit %d\n%s", code, out)
	}
	if code, out, errOut := cli("sessions", "close", listed[0].ID); code != 0 || !strings.Contains(out, "closed "+listed[0].ID) {
		t.Errorf("close ID: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut := cli("sessions", "close", listed[0].ID); code != 1 || !strings.Contains(errOut, "no live allocation") {
		t.Errorf("close of a closed ID: exit %d %s", code, errOut)
	}
	if code, out, errOut := cli("sessions", "close", "--credential", listed[1].CredentialSID); code != 0 || !strings.Contains(out, "closed 2 allocations") {
		t.Errorf("close --credential: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut := cli("sessions", "close", "--account", "ACME"); code != 2 || !strings.Contains(errOut, "not an account SID") {
		t.Errorf("close --account ACME: exit %d %s", code, errOut)
	}
	if code, _, errOut := cli("sessions", "close"); code != 2 || !strings.Contains(errOut, "give an allocation ID") {
		t.Errorf("close without a target: exit %d %s", code, errOut)
	}
	var out2, errOut2 strings.Builder
	dead := "127.0.0.1:" + itoaPort(freePort(t, "tcp"))
	if code := run([]string{"sessions", "list", "-data-dir", n.DataDir, "-admin-listen", dead}, &out2, &errOut2); code != 1 ||
		!strings.Contains(errOut2.String(), "cannot reach the admin listener at "+dead) {
		t.Errorf("unreachable admin listener: exit %d %s", code, errOut2.String())
	}
	if code, _, errOut := cli("sessions", "list", "-admin-listen", ""); code != 1 || !strings.Contains(errOut, "admin listener is disabled") {
		t.Errorf("disabled admin listener: exit %d %s", code, errOut)
	}
}

func itoaPort(p int) string { return strconv.Itoa(p) }
