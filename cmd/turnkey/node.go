package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/tokenapi"
	"github.com/turnkey-dev/turnkey/relay"
	"github.com/turnkey-dev/turnkey/sessions"
)

// generatedSecretFile holds the TURN secret made on first start when none is
// configured, so restarts keep issued credentials valid.
const generatedSecretFile = "turn-secret"

func newLogger(c config.Log, level *slog.LevelVar, w io.Writer) *slog.Logger {
	level.Set(parseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func buildInfo() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "turnkey_build_info",
		Help:        "Always 1; labels carry the turnkey and Go versions.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	}, func() float64 { return 1 })
}

// turnKeyring builds the keyring of the configured TURN secrets, or of the
// one generated in the data directory when none is configured.
func turnKeyring(c *config.Config, log *slog.Logger) (*credentials.Keyring, error) {
	var secrets [][]byte
	for _, s := range c.TURN.Secrets {
		secrets = append(secrets, []byte(s.Reveal()))
	}
	if len(secrets) == 0 {
		v, created, err := config.LoadOrCreateSecretFile(c.DataDir, generatedSecretFile)
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("generated a TURN secret (no turn.secrets configured)", "file", c.DataDir+"/"+generatedSecretFile)
		}
		secrets = [][]byte{[]byte(v)}
	}
	k, err := credentials.NewKeyring(secrets)
	if err != nil {
		return nil, fmt.Errorf("turn.secrets: %w", err)
	}
	return k, nil
}

func peerPolicy(p config.PeerPolicy) (relay.PeerPolicy, error) {
	parse := func(list []string, field string) ([]netip.Prefix, error) {
		var out []netip.Prefix
		for i, s := range list {
			pfx, err := config.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("turn.peer_policy.%s[%d]: %w", field, i, err)
			}
			out = append(out, pfx)
		}
		return out, nil
	}
	allow, err := parse(p.Allow, "allow")
	if err != nil {
		return relay.PeerPolicy{}, err
	}
	deny, err := parse(p.Deny, "deny")
	if err != nil {
		return relay.PeerPolicy{}, err
	}
	return relay.PeerPolicy{Allow: allow, Deny: deny, DisableDefaultDeny: p.DisableDefaultDeny}, nil
}

func quotaLimits(q config.Quotas) relay.Quotas {
	return relay.Quotas{PerIdentity: q.PerIdentity, PerAccount: q.PerAccount, Total: q.Total}
}

// relayConfig translates the configuration for the relay package.
// altExplicit says whether the operator asked for the alternative TCP port
// (then failing to bind it is fatal).
func relayConfig(c *config.Config, altExplicit bool, ring *credentials.KeyringHolder, log *slog.Logger) (relay.Config, error) {
	t := c.TURN
	listenIPs, err := relay.ParseAddrs(t.ListenIP)
	if err != nil {
		return relay.Config{}, fmt.Errorf("turn.listen_ip: %w", err)
	}
	relayIPs, err := relay.ChooseRelayIPs(t.RelayIP, listenIPs)
	if err != nil {
		return relay.Config{}, err
	}
	if len(t.RelayIP) == 0 {
		log.Info("relay addresses chosen (set turn.relay_ip to override)", "relay_ip", fmt.Sprint(relayIPs))
	}
	publicIPs, err := relay.ParseAddrs(t.PublicIP)
	if err != nil {
		return relay.Config{}, fmt.Errorf("turn.public_ip: %w", err)
	}
	for _, p := range publicIPs {
		if !slices.ContainsFunc(relayIPs, func(r netip.Addr) bool { return r.Is4() == p.Is4() }) {
			return relay.Config{}, fmt.Errorf("turn.public_ip: %s has no relay address of its family "+
				"(relay addresses %v; set turn.relay_ip)", p, relayIPs)
		}
	}
	pol, err := peerPolicy(t.PeerPolicy)
	if err != nil {
		return relay.Config{}, err
	}
	return relay.Config{
		Realm:                t.Realm,
		ListenIPs:            listenIPs,
		UDPPort:              t.UDPPort,
		TCPPort:              t.TCPPort,
		AltTCPPort:           t.AltTCPPort,
		AltTCPRequired:       altExplicit,
		TLSPort:              t.TLSPort,
		SocketsPerPort:       t.SocketsPerPort,
		ListenSocketBuffer:   t.ListenSocketBuffer,
		RelaySocketBuffer:    t.RelaySocketBuffer,
		RelayIPs:             relayIPs,
		PublicIPs:            publicIPs,
		MinPort:              t.MinPort,
		MaxPort:              t.MaxPort,
		Keyring:              ring,
		MaxTTL:               t.MaxTTL.D(),
		ClockSkew:            t.ClockSkew.D(),
		AllocationLifetime:   t.AllocationLifetime.D(),
		LegacyChannelNumbers: t.LegacyChannelNumbers,
		KernelOffload:        t.KernelOffload,
		PeerPolicy:           pol,
		Quotas:               quotaLimits(t.Quotas),
		BandwidthBPS:         t.Quotas.BandwidthBPS,
		TrackedAccounts:      c.API.TrackedAccounts,
		ProtectedPorts:       servicePorts(c),
		MaxFrame:             t.Limits.MaxFrameBytes,
		IdleTimeout:          t.Limits.IdleTimeout.D(),
		MaxConnsPerSource:    t.Limits.ConnectionsPerSource,
		MaxPermissions:       t.Limits.PermissionsPerAllocation,
	}, nil
}

// servicePorts are the HTTP ports this node listens on (API, admin): the
// relay never delivers to them on this host's addresses, even where the
// operator allow-listed the address. Port 0 (chosen at bind time) is
// skipped; such a port is still outside the relay range and so blocked
// unless allow-listed.
func servicePorts(c *config.Config) []int {
	var out []int
	for _, addr := range []string{c.API.Listen, c.Admin.Listen} {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			if port, err := strconv.Atoi(p); err == nil && port > 0 {
				out = append(out, port)
			}
		}
	}
	return out
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

// trustedProxies parses api.trusted_proxies; config validation has already
// refused entries that do not parse.
func trustedProxies(entries []string) []netip.Prefix {
	var out []netip.Prefix
	for _, e := range entries {
		if p, err := config.ParseTrustedProxy(e); err == nil {
			out = append(out, p)
		}
	}
	return out
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
