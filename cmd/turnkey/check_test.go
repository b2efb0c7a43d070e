package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/turncheck"
)

// TestCheckCommand runs `turnkey check` against a running node the way an
// operator would, for each way it can pass and the failures it must name.
func TestCheckCommand(t *testing.T) {
	n, cert := startTLSTestNode(t, "turnkey check", nil)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, cert.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	udp := "turn:" + n.TURNUDP + "?transport=udp"
	tcp := "turn:" + n.TURNTCP + "?transport=tcp"
	tls := "turns:" + n.TURNTLS + "?transport=tcp"
	closedTCP := "turn:127.0.0.1:" + strconv.Itoa(freePort(t, "tcp")) + "?transport=tcp"
	silentUDP := "turn:127.0.0.1:" + strconv.Itoa(freePort(t, "udp")) + "?transport=udp"
	secret := []string{"-data-dir", t.TempDir(), "-secret", n.Secret}
	givenUser, givenPass := credentials.MintTURN([]byte(n.Secret), time.Now().Add(time.Hour), "given")

	tests := []struct {
		name string
		args []string
		code int
		want []string // in stdout, in this order
	}{
		{"every transport passes", append(secret, "-ca", ca, "stun:"+n.TURNUDP, udp, tcp, tls), 0,
			[]string{"PASS udp  stun:", "PASS udp  " + udp, "relayed via 127.0.0.1:", "PASS tcp  " + tcp, "PASS tls  " + tls}},
		{"username and password", []string{"-data-dir", t.TempDir(), "-username", givenUser, "-password", givenPass, udp}, 0,
			[]string{"PASS udp  " + udp}},
		{"wrong secret", []string{"-data-dir", t.TempDir(), "-secret", "not-the-secret-0123456789", udp}, 1,
			[]string{"FAIL udp  " + udp + "  allocate: the server refused the credentials (401): the secret is not one the server has"}},
		{"closed TCP port", append(secret, closedTCP), 1,
			[]string{"FAIL tcp  " + closedTCP + "  connect: connection refused: nothing listens on"}},
		{"UDP port that never answers", append(secret, "-timeout", "1s", silentUDP), 1,
			[]string{"FAIL udp  " + silentUDP + "  binding: no answer from", "the port is blocked by a firewall"}},
		{"TLS name mismatch", append(secret, "-ca", ca, "-servername", "turn.example.com", tls), 1,
			[]string{"FAIL tls  " + tls + "  connect: the TLS certificate of " + n.TURNTLS + " is not valid for turn.example.com: it names localhost, 127.0.0.1"}},
		{"untrusted certificate", append(secret, tls), 1,
			[]string{"FAIL tls  " + tls + "  connect: the TLS certificate of " + n.TURNTLS + " is not trusted"}},
		{"plain TCP port as turns", append(secret, "turns:"+n.TURNTCP+"?transport=tcp"), 1,
			[]string{"does not speak TLS"}},
		{"credentials from Tokens.json", []string{"-data-dir", t.TempDir(), "-api", n.API, "-sid", n.AccountSID, "-token", n.AuthToken, "-ca", ca}, 0,
			[]string{"PASS udp  stun:", "PASS udp  turn:", "PASS tcp  turn:"}},
		{"bad URL", append(secret, "turn:"), 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(append([]string{"check"}, tc.args...), &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errOut.String())
			}
			rest := out.String()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order)\nstdout:\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var out, errOut strings.Builder
		if code := run([]string{"check", "-json", "-data-dir", t.TempDir(), "-secret", n.Secret, udp, closedTCP}, &out, &errOut); code != 1 {
			t.Fatalf("exit %d, want 1: %s", code, errOut.String())
		}
		var doc struct {
			Results []struct {
				URL, Kind, Step, Relayed string
				OK                       bool
				RTT                      float64 `json:"rtt_ms"`
			}
		}
		if err := json.Unmarshal([]byte(out.String()), &doc); err != nil || len(doc.Results) != 2 {
			t.Fatalf("JSON %q: %v", out.String(), err)
		}
		if r := doc.Results[0]; !r.OK || r.RTT <= 0 || r.Relayed == "" {
			t.Errorf("udp result %+v", r)
		}
		if r := doc.Results[1]; r.OK || r.Kind != string(turncheck.KindRefused) || r.Step != "connect" {
			t.Errorf("closed port result %+v", r)
		}
	})
}

// TestCheckNamesClockSkew: credentials minted on a machine whose clock is
// off by two hours are refused, and the check says it is the clock, in
// which direction, rather than blaming the secret.
func TestCheckNamesClockSkew(t *testing.T) {
	n := startTestNode(t, nil)
	target, err := turncheck.ParseURL("turn:" + n.TURNUDP + "?transport=udp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		offset time.Duration // this machine's clock minus the server's
		want   string
	}{
		{"this clock behind", -2 * time.Hour, "its clock is ahead of this machine's"},
		{"this clock ahead", 23*time.Hour + 30*time.Minute, "its clock is behind this machine's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := turncheck.Credentials{Mint: func(ttl time.Duration) (string, string) {
				return credentials.MintTURN([]byte(n.Secret), time.Now().Add(tc.offset+ttl), "skewed")
			}}
			r := turncheck.Check(context.Background(), target, creds, turncheck.Options{Timeout: 3 * time.Second})
			if r.OK || r.Problem.Kind != turncheck.KindClock || !strings.Contains(r.Problem.Error(), tc.want) {
				t.Fatalf("result %+v (%v); want a clock problem saying %q", r, r.Problem, tc.want)
			}
		})
	}
}
