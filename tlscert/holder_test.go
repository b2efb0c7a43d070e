package tlscert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/logbuf"
	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// pair is a PEM certificate and key with the serial telling it apart.
type pair struct {
	cert, key []byte
	serial    *big.Int
}

func newPair(t *testing.T, notBefore, notAfter time.Time) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "tlscert test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		serial: serial,
	}
}

func validPair(t *testing.T) pair {
	t.Helper()
	return newPair(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
}

type files struct{ cert, key string }

func newFiles(t *testing.T) files {
	dir := t.TempDir()
	return files{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")}
}

// write replaces the files given non-nil contents, each by a rename so the
// watch never reads one half-written.
func (f files) write(t *testing.T, cert, key []byte) {
	t.Helper()
	for _, w := range []struct {
		path string
		data []byte
	}{{f.cert, cert}, {f.key, key}} {
		if w.data == nil {
			continue
		}
		if err := os.WriteFile(w.path+".tmp", w.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(w.path+".tmp", w.path); err != nil {
			t.Fatal(err)
		}
	}
}

func testLogger() (*slog.Logger, *logbuf.Buffer) {
	buf := &logbuf.Buffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

func servedSerial(t *testing.T, h *Holder) *big.Int {
	t.Helper()
	c, err := h.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber
}

// loaded writes a valid pair to new files and loads them.
func loaded(t *testing.T, log *slog.Logger) (files, pair, *Holder) {
	t.Helper()
	f, p := newFiles(t), validPair(t)
	f.write(t, p.cert, p.key)
	h, err := Load(f.cert, f.key, log)
	if err != nil {
		t.Fatal(err)
	}
	return f, p, h
}

// wantServing fails the test unless h serves the certificate with serial.
func wantServing(t *testing.T, h *Holder, serial *big.Int, when string) {
	t.Helper()
	if got := servedSerial(t, h); got.Cmp(serial) != 0 {
		t.Fatalf("serial %v %s, want %v", got, when, serial)
	}
}

// wantErrorWith fails the test unless err says want.
func wantErrorWith(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v; want an error with %q", what, err, want)
	}
}

// brokenPair is certificate files Load and Reload must refuse, with what
// the error says.
type brokenPair struct {
	name      string
	cert, key []byte
	want      string
}

func brokenPairs(t *testing.T) []brokenPair {
	good, other := validPair(t), validPair(t)
	expired := newPair(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	return []brokenPair{
		{"not PEM", []byte("junk\n"), good.key, "failed to find any PEM data"},
		{"empty key", good.cert, []byte{}, "failed to find any PEM data"},
		{"key of another certificate", good.cert, other.key, "private key does not match"},
		{"expired", expired.cert, expired.key, "expired on"},
	}
}

func TestCertLoad(t *testing.T) {
	log, _ := testLogger()
	t.Run("valid", func(t *testing.T) {
		_, p, h := loaded(t, log)
		wantServing(t, h, p.serial, "after Load")
	})
	t.Run("missing files", func(t *testing.T) {
		f := newFiles(t)
		_, err := Load(f.cert, f.key, log)
		wantErrorWith(t, "Load of missing files", err, f.cert)
	})
	for _, tc := range brokenPairs(t) {
		t.Run(tc.name, func(t *testing.T) {
			f := newFiles(t)
			f.write(t, tc.cert, tc.key)
			_, err := Load(f.cert, f.key, log)
			wantErrorWith(t, "Load", err, tc.want)
		})
	}
}

// TestCertReloadKeepsPrevious: a refused certificate leaves the one in service;
// a good one replaces it.
func TestCertReloadKeepsPrevious(t *testing.T) {
	log, _ := testLogger()
	f, a, h := loaded(t, log)
	for _, tc := range brokenPairs(t) {
		t.Run(tc.name, func(t *testing.T) {
			f.write(t, tc.cert, tc.key)
			wantErrorWith(t, "Reload", h.Reload(), tc.want)
			wantServing(t, h, a.serial, "after a refused reload (the previous one)")
		})
	}
	b := validPair(t)
	f.write(t, b.cert, b.key)
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	wantServing(t, h, b.serial, "after reload")
}

// TestCertWatch: the watch loads changed files, logs a broken pair once and
// keeps the certificate in service, picks up a pair caught half-written
// once the second file lands, and notices contents restored with an older
// modification time.
func TestCertWatch(t *testing.T) {
	log, logs := testLogger()
	f, _, h := loaded(t, log)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); h.Watch(ctx, 5*time.Millisecond) }()
	defer func() { cancel(); <-stopped }()

	waitServed := func(t *testing.T, want *big.Int) {
		t.Helper()
		testenv.WaitForErr(t, "the new certificate in service", 10*time.Second, func() error {
			if got := servedSerial(t, h); got.Cmp(want) != 0 {
				return fmt.Errorf("serial %v, want %v", got, want)
			}
			return nil
		})
	}
	const failed = "TLS certificate reload failed"
	waitFailures := func(t *testing.T, n int) {
		t.Helper()
		testenv.WaitForErr(t, "the reload failure in the log", 10*time.Second, func() error {
			if got := strings.Count(logs.String(), failed); got < n {
				return fmt.Errorf("%d reload failures logged, want %d", got, n)
			}
			return nil
		})
	}

	b := validPair(t)
	f.write(t, b.cert, b.key)
	waitServed(t, b.serial)

	// Broken: logged, B stays. The same broken files are not retried (and
	// logged) on every tick: a good pair written next is the next load.
	before := strings.Count(logs.String(), failed)
	f.write(t, []byte("junk\n"), nil)
	waitFailures(t, before+1)
	wantServing(t, h, b.serial, "after a broken certificate")

	// Half-written: C's certificate with B's key fails; C's key arriving
	// afterwards completes the pair however close behind it lands.
	c := validPair(t)
	before = strings.Count(logs.String(), failed)
	f.write(t, c.cert, nil)
	waitFailures(t, before+1)
	f.write(t, nil, c.key)
	waitServed(t, c.serial)
	if n := strings.Count(logs.String(), failed); n != before+1 {
		t.Errorf("%d failures logged for one half-written pair, want 1", n-before)
	}

	// Restoring B from a backup keeps B's old modification times.
	f.write(t, b.cert, b.key)
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{f.cert, f.key} {
		if err := os.Chtimes(name, old, old); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, b.serial)
}

func TestCertConfig(t *testing.T) {
	log, _ := testLogger()
	_, p, h := loaded(t, log)
	tests := []struct {
		name  string
		extra []string
		want  []string
	}{
		{"TURN", nil, []string{"stun.turn"}},
		{"HTTPS", []string{"h2", "http/1.1"}, []string{"stun.turn", "h2", "http/1.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := h.Config(tc.extra...)
			if c.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion %#x, want TLS 1.2", c.MinVersion)
			}
			if !slices.Equal(c.NextProtos, tc.want) {
				t.Errorf("NextProtos %q, want %q", c.NextProtos, tc.want)
			}
			cert, err := c.GetCertificate(&tls.ClientHelloInfo{})
			if err != nil || cert.Leaf.SerialNumber.Cmp(p.serial) != 0 {
				t.Errorf("GetCertificate: %v; want the held certificate", err)
			}
		})
	}
}
