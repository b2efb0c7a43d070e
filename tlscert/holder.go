// Package tlscert keeps the TLS certificate turnkey serves, reloading it on
// demand and when its files change, without dropping open connections: a
// new certificate applies to new handshakes only, and a bad one is refused
// while the old one stays in service.
package tlscert

import (
	"context"
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

	mu      sync.RWMutex
	cert    *tls.Certificate
	modTime time.Time
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
	cert, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
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
	h.modTime = h.latestModTime()
	h.mu.Unlock()
	h.log.Info("TLS certificate loaded", "file", h.certFile, "subject", leaf.Subject.String(),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

func (h *Holder) latestModTime() time.Time {
	var t time.Time
	for _, f := range []string{h.certFile, h.keyFile} {
		if st, err := os.Stat(f); err == nil && st.ModTime().After(t) {
			t = st.ModTime()
		}
	}
	return t
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

// Watch reloads when either file's modification time changes, checking
// every interval until ctx ends.
func (h *Holder) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.RLock()
		seen := h.modTime
		h.mu.RUnlock()
		if m := h.latestModTime(); m.After(seen) {
			if err := h.Reload(); err != nil {
				h.log.Error("TLS certificate reload failed; keeping the previous certificate", "err", err)
				// Don't retry the same broken files every tick.
				h.mu.Lock()
				h.modTime = m
				h.mu.Unlock()
			}
		}
	}
}
