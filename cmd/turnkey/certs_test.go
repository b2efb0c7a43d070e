package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCert is a self-signed ECDSA certificate for 127.0.0.1 and localhost,
// PEM-encoded, with the serial number that tells one apart from another.
type testCert struct {
	CertPEM, KeyPEM []byte
	Serial          *big.Int
	Cert            *x509.Certificate
}

// newTestCert makes a certificate valid from a minute ago for a day. Its
// serial is random, so two certificates are told apart by it.
func newTestCert(t *testing.T, commonName string) testCert {
	t.Helper()
	return newTestCertValid(t, commonName, time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour))
}

// newTestCertValid makes a certificate valid from notBefore to notAfter.
func newTestCertValid(t *testing.T, commonName string, notBefore, notAfter time.Time) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own root in a test pool
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return testCert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		Serial:  serial,
		Cert:    cert,
	}
}

// certFiles are where a test keeps the certificate the node serves.
type certFiles struct{ Cert, Key string }

// newCertFiles names cert.pem and key.pem in a fresh temporary directory.
func newCertFiles(t *testing.T) certFiles {
	t.Helper()
	dir := t.TempDir()
	return certFiles{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
}

// write puts c in the files the way a renewal tool does: each file is
// written beside its target and renamed over it, so a reader never sees a
// truncated file (it may still see the new certificate with the old key
// for a moment, which the holder must survive).
func (f certFiles) write(t *testing.T, c testCert) {
	t.Helper()
	f.writeRaw(t, c.CertPEM, c.KeyPEM)
}

// writeRaw writes arbitrary contents, for broken certificates.
func (f certFiles) writeRaw(t *testing.T, certPEM, keyPEM []byte) {
	t.Helper()
	for _, file := range []struct {
		path string
		data []byte
	}{{f.Cert, certPEM}, {f.Key, keyPEM}} {
		tmp := file.path + ".tmp"
		if err := os.WriteFile(tmp, file.data, 0o600); err != nil {
			t.Fatalf("write %s: %v", tmp, err)
		}
		if err := os.Rename(tmp, file.path); err != nil {
			t.Fatalf("rename %s: %v", tmp, err)
		}
	}
}

// pool is a root pool trusting exactly the given certificates.
func pool(certs ...testCert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.Cert)
	}
	return p
}

// turnsClientConfig is a TLS client configuration as a WebRTC stack uses
// for turns: ALPN "stun.turn", TLS 1.2 or later, the server verified
// against roots.
func turnsClientConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:    roots,
		ServerName: "127.0.0.1",
		NextProtos: []string{"stun.turn"},
		MinVersion: tls.VersionTLS12,
	}
}
