package main

import (
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials/tokenapi"
	"github.com/turnkey-dev/turnkey/relay"
	"github.com/turnkey-dev/turnkey/sessions"
)

func buildInfo() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "turnkey_build_info",
		Help:        "Always 1; labels carry the turnkey and Go versions.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	}, func() float64 { return 1 })
}

// apiListeners is what the API advertises: the relay's running listeners in
// the same process, or for an API-only node the ports its relays are
// configured with.
func (n *node) apiListeners() []tokenapi.Listener {
	var out []tokenapi.Listener
	if n.relay != nil {
		for _, l := range n.relay.Listeners() {
			if !n.relay.Serving(l) {
				continue // its accept is failing: don't hand out a dead URL
			}
			out = append(out, tokenapi.Listener{Scheme: l.Scheme, Port: l.Port, Transport: l.Transport})
		}
		return out
	}
	t := n.cfg.TURN
	// The relays run the same configuration: the relay's own plan says
	// what they listen on.
	for _, pl := range relay.PlanListeners(relay.ListenPorts{UDP: t.UDPPort, TCP: t.TCPPort, AltTCP: t.AltTCPPort,
		TLS: t.TLSPort, TLSEnabled: n.cfg.TLS.Enabled()}) {
		for _, scheme := range pl.Schemes {
			out = append(out, tokenapi.Listener{Scheme: scheme, Port: pl.Port, Transport: pl.Transport})
		}
	}
	return out
}

func (n *node) apiConfig() tokenapi.Config {
	a := n.cfg.API
	var allocs sessions.Registry
	if n.relay != nil {
		allocs = n.relay
	}
	return tokenapi.Config{
		Allocations:           allocs,
		Store:                 n.store,
		Keyring:               n.keyring,
		Listeners:             n.apiListeners,
		PublicHost:            a.PublicHost,
		STUNHost:              a.STUNHost,
		TURNHost:              a.TURNHost,
		Regions:               a.Regions,
		CORSOrigins:           a.CORSOrigins,
		AuthFailuresPerMinute: a.AuthFailuresPerMinute,
		TrustedProxies:        trustedProxies(a.TrustedProxies),
		MaxBodyBytes:          a.MaxBodyBytes,
		MaxTTL:                n.cfg.TURN.MaxTTL.D(),
		OnRevoke:              func(credID string) { n.revoked.Add(credID, time.Now()) },
		Metrics:               n.registry,
		TrackedAccounts:       a.TrackedAccounts,
		Usage:                 n.usage,
		Logger:                n.log,
	}
}

func (n *node) usage(account string) tokenapi.UsageReport {
	r := tokenapi.UsageReport{AccountSID: account}
	if n.relay == nil {
		return r
	}
	u := n.relay.AccountUsage(account)
	r.BytesClientToPeer, r.BytesPeerToClient = u.BytesClientToPeer, u.BytesPeerToClient
	r.RelayBytes = u.BytesClientToPeer + u.BytesPeerToClient
	r.AllocationsActive = u.AllocationsActive
	return r
}

// reload applies a SIGHUP: the configuration is read and validated again;
// what can change live is applied, a bad configuration is refused whole and
// the running one kept.
func (n *node) reload() {
	if n.cert != nil {
		if err := n.cert.Reload(); err != nil {
			n.log.Error("reload: TLS certificate refused; keeping the previous one", "err", err)
		}
	}
	if n.reloadConfig == nil {
		return
	}
	refuse := func(err error) {
		n.log.Error("reload: configuration refused; keeping the running one", "err", err)
	}
	next, err := n.reloadConfig()
	if err != nil {
		refuse(err)
		return
	}
	// Everything that can fail is checked before anything is applied, so a
	// refused configuration leaves no part of itself in service.
	ring, err := turnKeyring(&next.Config, n.log)
	if err != nil {
		refuse(err)
		return
	}
	pol, err := peerPolicy(next.TURN.PeerPolicy)
	if err != nil {
		refuse(err)
		return
	}
	if n.tokens != nil {
		if err := n.tokens.SetRegions(next.API.Regions); err != nil {
			refuse(err)
			return
		}
	}
	if n.relay != nil {
		n.relay.Apply(relay.Update{
			PeerPolicy: pol, Quotas: quotaLimits(next.TURN.Quotas), BandwidthBPS: next.TURN.Quotas.BandwidthBPS,
		})
	}
	// One swap rotates the secrets for the relay and the API together.
	n.keyring.Store(ring)
	n.level.Set(parseLevel(next.Log.Level))
	n.log.Info("reload: configuration applied", "secrets", ring.Len(), "signing_secret", ring.Primary().ID(),
		"log_level", next.Log.Level)
	if restartOnly := config.RestartOnlyChanges(&n.cfg.Config, &next.Config); len(restartOnly) > 0 {
		n.log.Warn("reload: these settings take effect only after a restart", "fields", strings.Join(restartOnly, ", "))
	}
}
