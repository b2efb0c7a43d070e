package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
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
	"github.com/turnkey-dev/turnkey/tlscert"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("turnkey serve", flag.ContinueOnError)
	cfg, reload, code, ok := loadConfigReloadable(fs, args, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "turnkey serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, stderr)
	slog.SetDefault(log)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	n, err := startNode(cfg, log, level, stdout)
	if err != nil {
		log.Error("turnkey: start failed", "err", err)
		return 1
	}
	n.reloadConfig = reload
	return n.wait(sigs)
}

// node is a running turnkey process: whichever of relay, API and admin its
// role asks for.
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

func startNode(cfg *config.Loaded, log *slog.Logger, level *slog.LevelVar, stdout io.Writer) (_ *node, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{cfg: cfg, log: log, level: level, registry: prometheus.NewRegistry(), ctx: ctx, cancel: cancel,
		draining: chanFlag{ch: make(chan struct{})}}
	defer func() {
		if err != nil {
			n.shutdown()
		}
	}()
	n.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo())
	role := cfg.Role
	runRelay, runAPI := role == "all" || role == "relay", role == "all" || role == "api"

	ring, err := turnKeyring(&cfg.Config, log)
	if err != nil {
		return nil, err
	}
	n.keyring = credentials.NewKeyringHolder(ring)
	keep := cfg.TURN.MaxTTL.D() + cfg.TURN.ClockSkew.D()
	n.revoked = store.NewRevocationCache(keep)
	// The relay's usage flusher gets the store once it is open (at once, or
	// when a relay-only node first reaches it); usageDone closes when the
	// flusher has made its last write.
	usageStore, usageDone := make(chan store.Store, 1), make(chan struct{})
	closeUsageDone := sync.OnceFunc(func() { close(usageDone) })
	defer func() {
		if err != nil || !runRelay {
			// No flusher runs: nothing to wait for.
			closeUsageDone()
		}
	}()

	// The relay needs the store only for the revocation feed; a relay-only
	// node without a DSN runs on secrets alone.
	if runAPI || cfg.Store.DSN != "" {
		key, err := store.LoadOrCreateSealKey(cfg.DataDir, cfg.Store.EncryptionKey.Reveal())
		if err != nil {
			return nil, err
		}
		open := func(ctx context.Context) (store.Store, error) {
			return store.Open(ctx, cfg.Store.DSN.Reveal(), cfg.DataDir, key)
		}
		rc := &store.Reconnect{
			Open:    open,
			Revoked: n.revoked,
			Poll:    cfg.Store.RevocationPoll.D(),
			Opened:  func(st store.Store) { usageStore <- st },
			Release: usageDone,
			Log:     log,
		}
		var st store.Store
		if runAPI {
			st, err = open(ctx)
		} else {
			// A relay must not hang its start on a database that drops
			// packets rather than refusing them: one bounded attempt.
			st, err = rc.TryOpen(ctx)
		}
		if err != nil {
			if runAPI {
				return nil, err
			}
			// A relay keeps authenticating fresh credentials without its
			// database; it retries the feed in the background.
			log.Warn("store unreachable at start; relaying without the revocation feed until it is", "err", err)
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				rc.Run(ctx)
			}()
		} else {
			n.store = st
			usageStore <- st
			if err := n.revoked.Sync(ctx, st); err != nil {
				log.Warn("revocation feed: first read failed", "err", err)
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.revoked.Follow(ctx, st, cfg.Store.RevocationPoll.D(), log)
			}()
		}
	} else if role == "relay" {
		log.Warn("relay without store.dsn: revoked API keys are not refused here until their credentials expire")
	}

	if cfg.TLS.Enabled() {
		n.cert, err = tlscert.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, log)
		if err != nil {
			return nil, err
		}
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.cert.Watch(ctx, 2*time.Second) }()
	}

	if runRelay {
		rc, err := relayConfig(&cfg.Config, cfg.IsSet("turn.alt_tcp_port"), n.keyring, log)
		if err != nil {
			return nil, err
		}
		rc.Revoked = n.revoked.Revoked
		rc.Metrics = n.registry
		rc.Logger = log
		if n.cert != nil {
			tc := n.cert.Config()
			rc.TLS = func() *tls.Config { return tc }
		}
		n.relay, err = relay.New(rc)
		if err != nil {
			return nil, err
		}
		// Revoking a key or auth token (or suspending an account) ends
		// the allocations made with it here, on every relay following
		// the feed, not at their lifetime's end.
		n.revoked.OnRevoke(func(r store.Revocation) {
			if closed := n.relay.CloseRevoked(r.CredID); closed > 0 {
				log.Info("revocation closed live allocations", "credential", r.CredID, "closed", closed)
			}
		})
		for _, l := range n.relay.Listeners() {
			log.Info("TURN listener up", "scheme", l.Scheme, "transport", l.Transport, "addr", l.Addr.String())
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer closeUsageDone()
			select {
			case st := <-usageStore:
				f := &store.UsageFlusher{Store: st, Region: cfg.TURN.Region, Take: n.relay.TakeUsage, Return: n.relay.ReturnUsage, Log: log}
				f.Run(ctx, cfg.Store.UsageFlush.D(), usageFinalFlushTimeout)
			case <-ctx.Done():
			}
		}()
	}

	if role == "api" && cfg.API.PublicHost == "" {
		// The fallback for tokens without a Region is the host the request
		// was addressed to: on an API-only node that host runs no relay.
		log.Warn("api-only node without api.public_host: tokens asked for without a Region name this node's host, which runs no relay")
	}
	if runAPI {
		if _, err := tokenapi.EnsureBootstrapAccount(ctx, n.store, cfg.DataDir, stdout); err != nil {
			return nil, err
		}
		apiCfg := n.apiConfig()
		if apiCfg.Console, err = console.Handler(console.Tenant); err != nil {
			return nil, err
		}
		api, err := tokenapi.New(apiCfg)
		if err != nil {
			return nil, err
		}
		n.tokens = api
		n.api = api.Server(cfg.API.Listen)
		if n.apiAddr, err = n.serveHTTP(n.api, "API", cfg.API.TLS); err != nil {
			return nil, err
		}
	}

	if cfg.Admin.Listen != "" {
		ac := admin.Config{
			Gatherer: n.registry,
			Ready:    n.readyChecks(),
			Pprof:    cfg.Admin.Pprof,
		}
		if n.relay != nil {
			ac.Allocations = n.relay
		}
		if ac.Console, err = console.Handler(console.Operator); err != nil {
			return nil, err
		}
		n.admin = admin.Server(cfg.Admin.Listen, admin.Handler(ac))
		if n.adminAddr, err = n.serveHTTP(n.admin, "admin", false); err != nil {
			return nil, err
		}
	}
	log.Info("turnkey started", "version", version, "role", role, "data_dir", cfg.DataDir)
	return n, nil
}

// usageFinalFlushTimeout bounds the last usage write at shutdown.
const usageFinalFlushTimeout = 5 * time.Second

// serveHTTP binds at once (so a taken port is a start-up error) and serves
// in the background.
func (n *node) serveHTTP(srv *http.Server, name string, useTLS bool) (net.Addr, error) {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	n.log.Info(name+" listener up", "addr", ln.Addr().String(), "tls", useTLS)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
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
	}()
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

// wait runs until a signal ends the process: SIGHUP reloads, the first
// SIGTERM/SIGINT drains, a second one exits at once.
func (n *node) wait(sigs <-chan os.Signal) int {
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			n.reload()
			continue
		}
		n.log.Info("turnkey: draining", "signal", sig.String(), "timeout", n.cfg.DrainTimeout.String())
		done := make(chan int, 1)
		go func() { done <- n.drain() }()
		for {
			select {
			case code := <-done:
				return code
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					// A reload (say, a certificate renewal hook) must not
					// cut a drain short.
					n.reload()
					continue
				}
				n.log.Warn("turnkey: second signal, exiting now", "signal", sig.String())
				n.cancel()
				return 1
			}
		}
	}
	return 0
}

// drain turns unready, refuses new allocations, waits for live ones up to
// the drain timeout, then shuts everything down.
func (n *node) drain() int {
	n.draining.set()
	if n.relay != nil {
		if left := n.relay.Drain(time.Now().Add(n.cfg.DrainTimeout.D())); left > 0 {
			n.log.Warn("turnkey: drain timeout passed; closing live allocations", "allocations", left)
		}
	}
	n.shutdown()
	n.log.Info("turnkey: stopped")
	return 0
}

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
