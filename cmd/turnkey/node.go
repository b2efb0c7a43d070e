package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/turnkey-dev/turnkey/admin"
	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/console"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
	"github.com/turnkey-dev/turnkey/credentials/tokenapi"
	"github.com/turnkey-dev/turnkey/relay"
	"github.com/turnkey-dev/turnkey/sessions"
	"github.com/turnkey-dev/turnkey/tlscert"
)

// node is a running turnkey process: whichever of relay, API and admin its
// role asks for. startNode builds the parts and hands them to each other;
// each part's package owns how it behaves.
type node struct {
	cfg          *config.Loaded
	reloadConfig func() (*config.Loaded, error)
	log          *slog.Logger
	level        *slog.LevelVar
	registry     *prometheus.Registry

	store   store.Store
	revoked *store.RevocationCache
	cert    *tlscert.Holder
	relay   *relay.Server
	api     *http.Server
	admin   *http.Server
	// apiAddr and adminAddr are the bound addresses (the configured ones
	// may name port 0).
	apiAddr, adminAddr net.Addr

	// tokens is the token API behind api, kept so reload can swap its
	// regions.
	tokens *tokenapi.API
	// keyring is the process's one set of TURN secrets: the relay verifies
	// with it, the API signs with its primary; reload swaps it whole.
	keyring *credentials.KeyringHolder

	ctx      context.Context
	cancel   context.CancelFunc
	draining chanFlag
	wg       sync.WaitGroup
}

type chanFlag struct {
	once sync.Once
	ch   chan struct{}
}

func (f *chanFlag) set() { f.once.Do(func() { close(f.ch) }) }
func (f *chanFlag) isSet() bool {
	select {
	case <-f.ch:
		return true
	default:
		return false
	}
}

// usageFinalFlushTimeout bounds the last usage write at shutdown.
const usageFinalFlushTimeout = 5 * time.Second

// startNode builds what the role asks for, in dependency order: keyring,
// store and revocation feed, certificate, relay, API, admin. On error what
// was started is shut down again.
func startNode(cfg *config.Loaded, log *slog.Logger, level *slog.LevelVar, stdout io.Writer) (_ *node, err error) {
	n := newNode(cfg, log, level)
	defer func() {
		if err != nil {
			n.shutdown()
		}
	}()
	usage := newUsageHandoff()
	defer func() {
		if err != nil || !n.runsRelay() {
			// No flusher runs: nothing to wait for.
			usage.finish()
		}
	}()
	if err := n.buildKeyring(); err != nil {
		return nil, err
	}
	if err := n.openStore(usage); err != nil {
		return nil, err
	}
	if err := n.loadCert(); err != nil {
		return nil, err
	}
	if n.runsRelay() {
		if err := n.startRelay(usage); err != nil {
			return nil, err
		}
	}
	if n.runsAPI() {
		if err := n.startAPI(stdout); err != nil {
			return nil, err
		}
	}
	if err := n.startAdmin(); err != nil {
		return nil, err
	}
	log.Info("turnkey started", "version", version, "role", cfg.Role, "data_dir", cfg.DataDir)
	return n, nil
}

// newNode is a node with nothing started yet: its context, metrics registry
// and (empty) revocation cache.
func newNode(cfg *config.Loaded, log *slog.Logger, level *slog.LevelVar) *node {
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{cfg: cfg, log: log, level: level, registry: prometheus.NewRegistry(), ctx: ctx, cancel: cancel,
		draining: chanFlag{ch: make(chan struct{})}}
	n.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo())
	// No credential issued before a revocation is valid after the longest
	// TTL plus skew: the cache forgets entries after that.
	n.revoked = store.NewRevocationCache(cfg.TURN.MaxTTL.D() + cfg.TURN.ClockSkew.D())
	return n
}

func (n *node) runsRelay() bool { return n.cfg.Role == "all" || n.cfg.Role == "relay" }
func (n *node) runsAPI() bool   { return n.cfg.Role == "all" || n.cfg.Role == "api" }

// background runs f on its own goroutine until the node stops; shutdown
// waits for it.
func (n *node) background(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func buildInfo() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "turnkey_build_info",
		Help:        "Always 1; labels carry the turnkey and Go versions.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	}, func() float64 { return 1 })
}

// buildKeyring loads the TURN secrets the relay and the API share.
func (n *node) buildKeyring() error {
	ring, err := turnKeyring(&n.cfg.Config, n.log)
	if err != nil {
		return err
	}
	n.keyring = credentials.NewKeyringHolder(ring)
	return nil
}

// usageHandoff carries the store to the relay's usage flusher, which may get
// it later than the rest of the node: at once, or when a relay-only node
// first reaches the store. done closes when the flusher has made its last
// write, so whoever owns the store closes it after that.
type usageHandoff struct {
	store  chan store.Store
	done   chan struct{}
	finish func()
}

func newUsageHandoff() *usageHandoff {
	u := &usageHandoff{store: make(chan store.Store, 1), done: make(chan struct{})}
	u.finish = sync.OnceFunc(func() { close(u.done) })
	return u
}

// openStore opens the store the API serves from and whose revocation feed
// the relay follows. The relay needs the store only for the feed: a
// relay-only node without a DSN runs on secrets alone, and one whose store
// is unreachable at start relays anyway while store.Reconnect keeps trying.
func (n *node) openStore(usage *usageHandoff) error {
	cfg := n.cfg
	if !n.runsAPI() && cfg.Store.DSN == "" {
		n.log.Warn("relay without store.dsn: revoked API keys are not refused here until their credentials expire")
		return nil
	}
	key, err := store.LoadOrCreateSealKey(cfg.DataDir, cfg.Store.EncryptionKey.Reveal())
	if err != nil {
		return err
	}
	open := func(ctx context.Context) (store.Store, error) {
		return store.Open(ctx, cfg.Store.DSN.Reveal(), cfg.DataDir, key)
	}
	if n.runsAPI() {
		st, err := open(n.ctx)
		if err != nil {
			return err
		}
		n.followRevocations(st, usage)
		return nil
	}
	rc := &store.Reconnect{
		Open:    open,
		Revoked: n.revoked,
		Poll:    cfg.Store.RevocationPoll.D(),
		Opened:  func(st store.Store) { usage.store <- st },
		Release: usage.done,
		Log:     n.log,
	}
	// A relay must not hang its start on a database that drops packets
	// rather than refusing them: one bounded attempt.
	st, err := rc.TryOpen(n.ctx)
	if err != nil {
		// A relay keeps authenticating fresh credentials without its
		// database; it retries the feed in the background.
		n.log.Warn("store unreachable at start; relaying without the revocation feed until it is", "err", err)
		n.background(func() { rc.Run(n.ctx) })
		return nil
	}
	n.followRevocations(st, usage)
	return nil
}

// followRevocations takes the open store (shutdown closes it), hands it to
// the usage flusher, brings the revocation cache up to date and follows
// the feed in the background.
func (n *node) followRevocations(st store.Store, usage *usageHandoff) {
	n.store = st
	usage.store <- st
	if err := n.revoked.Sync(n.ctx, st); err != nil {
		n.log.Warn("revocation feed: first read failed", "err", err)
	}
	n.background(func() { n.revoked.Follow(n.ctx, st, n.cfg.Store.RevocationPoll.D(), n.log) })
}

// loadCert loads the TLS certificate, when configured, and watches its
// files for renewals.
func (n *node) loadCert() error {
	if !n.cfg.TLS.Enabled() {
		return nil
	}
	cert, err := tlscert.Load(n.cfg.TLS.CertFile, n.cfg.TLS.KeyFile, n.log)
	if err != nil {
		return err
	}
	n.cert = cert
	n.background(func() { cert.Watch(n.ctx, 2*time.Second) })
	return nil
}

// startRelay starts the TURN relay on the node's keyring, revocation cache
// and certificate, and its usage flusher.
func (n *node) startRelay(usage *usageHandoff) error {
	rc, err := relayConfig(&n.cfg.Config, n.cfg.IsSet("turn.alt_tcp_port"), n.keyring, n.log)
	if err != nil {
		return err
	}
	rc.Revoked = n.revoked.Revoked
	rc.Metrics = n.registry
	rc.Logger = n.log
	if n.cert != nil {
		tc := n.cert.Config()
		rc.TLS = func() *tls.Config { return tc }
	}
	rl, err := relay.New(rc)
	if err != nil {
		return err
	}
	n.relay = rl
	// Revoking a key or auth token (or suspending an account) ends the
	// allocations made with it here, on every relay following the feed,
	// not at their lifetime's end.
	n.revoked.OnRevoke(func(r store.Revocation) {
		if closed := rl.CloseRevoked(r.CredID); closed > 0 {
			n.log.Info("revocation closed live allocations", "credential", r.CredID, "closed", closed)
		}
	})
	for _, l := range rl.Listeners() {
		n.log.Info("TURN listener up", "scheme", l.Scheme, "transport", l.Transport, "addr", l.Addr.String())
	}
	n.background(func() { n.flushUsage(usage) })
	return nil
}

// flushUsage writes the relay's usage records once the store is open, until
// the node stops; then it lets the store be closed.
func (n *node) flushUsage(usage *usageHandoff) {
	defer usage.finish()
	select {
	case st := <-usage.store:
		f := &store.UsageFlusher{Store: st, Region: n.cfg.TURN.Region, Take: n.relay.TakeUsage, Return: n.relay.ReturnUsage, Log: n.log}
		f.Run(n.ctx, n.cfg.Store.UsageFlush.D(), usageFinalFlushTimeout)
	case <-n.ctx.Done():
	}
}

// startAPI creates the bootstrap account on first start and serves the
// token API on the node's store, keyring and relay.
func (n *node) startAPI(stdout io.Writer) error {
	cfg := n.cfg
	if cfg.Role == "api" && cfg.API.PublicHost == "" {
		// The fallback for tokens without a Region is the host the request
		// was addressed to: on an API-only node that host runs no relay.
		n.log.Warn("api-only node without api.public_host: tokens asked for without a Region name this node's host, which runs no relay")
	}
	if _, err := tokenapi.EnsureBootstrapAccount(n.ctx, n.store, cfg.DataDir, stdout); err != nil {
		return err
	}
	apiCfg := n.apiConfig()
	var err error
	if apiCfg.Console, err = console.Handler(console.Tenant); err != nil {
		return err
	}
	api, err := tokenapi.New(apiCfg)
	if err != nil {
		return err
	}
	n.tokens = api
	n.api = api.Server(cfg.API.Listen)
	n.apiAddr, err = n.serveHTTP(n.api, "API", cfg.API.TLS)
	return err
}

// startAdmin serves metrics, readiness and the operator console, when
// admin.listen is set.
func (n *node) startAdmin() error {
	if n.cfg.Admin.Listen == "" {
		return nil
	}
	ac := admin.Config{
		Gatherer: n.registry,
		Ready:    n.readyChecks(),
		Pprof:    n.cfg.Admin.Pprof,
	}
	if n.relay != nil {
		ac.Allocations = n.relay
	}
	var err error
	if ac.Console, err = console.Handler(console.Operator); err != nil {
		return err
	}
	n.admin = admin.Server(n.cfg.Admin.Listen, admin.Handler(ac))
	n.adminAddr, err = n.serveHTTP(n.admin, "admin", false)
	return err
}

// serveHTTP binds at once (so a taken port is a start-up error) and serves
// in the background.
func (n *node) serveHTTP(srv *http.Server, name string, useTLS bool) (net.Addr, error) {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	n.log.Info(name+" listener up", "addr", ln.Addr().String(), "tls", useTLS)
	n.background(func() {
		var err error
		if useTLS {
			srv.TLSConfig = n.cert.Config("h2", "http/1.1")
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error(name+" server stopped", "err", err)
		}
	})
	return ln.Addr(), nil
}

func (n *node) readyChecks() []admin.Check {
	checks := []admin.Check{{Name: "draining", Fn: func(context.Context) error {
		if n.draining.isSet() {
			return errors.New("draining")
		}
		return nil
	}}}
	// Only a node serving the API needs the database to do its job; a relay
	// keeps authenticating without it, so it must stay in rotation.
	if n.store != nil && n.api != nil {
		checks = append(checks, admin.Check{Name: "store", Fn: func(ctx context.Context) error {
			return n.store.Ping(ctx)
		}})
	}
	// Every configured listener was bound at start or the process would
	// have exited; the relay reports unready while draining or while a
	// listener cannot accept (out of file descriptors).
	if n.relay != nil {
		checks = append(checks, admin.Check{Name: "relay", Fn: func(context.Context) error {
			return n.relay.Health()
		}})
	}
	return checks
}

// shutdown stops everything started and waits for the background work
// (the last usage flush included) before closing the store.
func (n *node) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.api != nil {
		_ = n.api.Shutdown(ctx)
	}
	if n.relay != nil {
		_ = n.relay.Close()
	}
	if n.admin != nil {
		_ = n.admin.Shutdown(ctx)
	}
	n.cancel()
	n.wg.Wait()
	if n.store != nil {
		_ = n.store.Close()
	}
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
