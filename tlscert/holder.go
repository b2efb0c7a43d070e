// Package tlscert keeps the TLS certificate turnkey serves, reloading it on
// demand and when its files change, without dropping open connections: a
// new certificate applies to new handshakes only, and a bad one is refused
// while the old one stays in service.
package tlscert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Holder serves the current certificate through GetCertificate.
type Holder struct {
	certFile, keyFile string
	log               *slog.Logger

	mu   sync.RWMutex
	cert *tls.Certificate
	// seen fingerprints the file contents last read, loaded or refused.
	// Watch compares contents rather than modification times: a certificate
	// and key written one after the other within one filesystem timestamp
	// tick, or a backup restored with its older mtime, would otherwise be
	// missed for good.
	seen []byte
}

// Load reads the certificate and key; an error here is a start-up error.
func Load(certFile, keyFile string, log *slog.Logger) (*Holder, error) {
	h := &Holder{certFile: certFile, keyFile: keyFile, log: log}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Reload reads the files again. On failure the previous certificate stays.
func (h *Holder) Reload() error {
	certPEM, keyPEM, err := h.readFiles()
	if err != nil {
		return err
	}
	return h.load(certPEM, keyPEM)
}

// readFiles returns both files' contents and records their fingerprint as
// seen, so Watch does not retry contents already tried.
func (h *Holder) readFiles() (certPEM, keyPEM []byte, err error) {
	certPEM, err = os.ReadFile(h.certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: read certificate: %w", err)
	}
	keyPEM, err = os.ReadFile(h.keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: read key: %w", err)
	}
	h.mu.Lock()
	h.seen = fingerprint(certPEM, keyPEM)
	h.mu.Unlock()
	return certPEM, keyPEM, nil
}

func (h *Holder) load(certPEM, keyPEM []byte) error {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tlscert: load %s and %s: %w", h.certFile, h.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("tlscert: parse %s: %w", h.certFile, err)
	}
	if time.Now().After(leaf.NotAfter) {
		return fmt.Errorf("tlscert: %s expired on %s", h.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	cert.Leaf = leaf
	h.mu.Lock()
	h.cert = &cert
	h.mu.Unlock()
	h.log.Info("TLS certificate loaded", "file", h.certFile, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// fingerprint identifies a certificate and key pair of file contents.
func fingerprint(certPEM, keyPEM []byte) []byte {
	sum := sha256.New()
	sum.Write(certPEM)
	sum.Write([]byte{0}) // keep "ab"+"c" apart from "a"+"bc"
	sum.Write(keyPEM)
	return sum.Sum(nil)
}

// GetCertificate is for tls.Config.GetCertificate.
func (h *Holder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.cert == nil {
		return nil, errors.New("tlscert: no certificate")
	}
	return h.cert, nil
}

// Config returns a server tls.Config using the held certificate: TLS 1.2 at
// least, ALPN "stun.turn" (RFC 7443) offered, plus any extra protocols.
func (h *Holder) Config(alpn ...string) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: h.GetCertificate,
		NextProtos:     append([]string{"stun.turn"}, alpn...),
	}
}

// Watch reloads when either file's contents change, checking every
// interval until ctx ends. Contents that fail to load are logged once and
// tried again only after they change, so a pair caught half-written is
// picked up when the second file lands.
func (h *Holder) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.checkFiles()
	}
}

// checkFiles reloads when the files differ from what was last seen.
func (h *Holder) checkFiles() {
	certPEM, errC := os.ReadFile(h.certFile)
	keyPEM, errK := os.ReadFile(h.keyFile)
	if errC != nil || errK != nil {
		// Mid-replacement (rename, symlink swap) a file may be briefly
		// missing; the next tick sees the outcome.
		return
	}
	fp := fingerprint(certPEM, keyPEM)
	h.mu.Lock()
	changed := !bytes.Equal(fp, h.seen)
	h.seen = fp
	h.mu.Unlock()
	if !changed {
		return
	}
	if err := h.load(certPEM, keyPEM); err != nil {
		h.log.Error("TLS certificate reload failed; keeping the previous certificate", "err", err)
	}
}
