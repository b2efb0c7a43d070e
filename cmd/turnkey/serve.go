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

	secrets, err := turnSecrets(&cfg.Config, log)
	if err != nil {
		return nil, err
	}
	keep := cfg.TURN.MaxTTL.D() + cfg.TURN.ClockSkew.D()
	n.revoked = store.NewRevocationCache(keep)

	// The relay needs the store only for the revocation feed; a relay-only
	// node without a DSN runs on secrets alone.
	if runAPI || cfg.Store.DSN != "" {
		key, err := store.LoadOrCreateSealKey(cfg.DataDir, cfg.Store.EncryptionKey.Reveal())
		if err != nil {
			return nil, err
		}
		st, err := store.Open(ctx, cfg.Store.DSN.Reveal(), cfg.DataDir, key)
		if err != nil {
			if runAPI {
				return nil, err
			}
			// A relay keeps authenticating fresh credentials without its
			// database; it retries the feed in the background.
			log.Warn("store unreachable at start; relaying without the revocation feed until it is", "err", err)
		} else {
			n.store = st
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
		rc, err := relayConfig(&cfg.Config, cfg.IsSet("turn.alt_tcp_port"), secrets, log)
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
		for _, l := range n.relay.Listeners() {
			log.Info("TURN listener up", "scheme", l.Scheme, "transport", l.Transport, "addr", l.Addr.String())
		}
	}

	if runAPI {
		if _, err := tokenapi.EnsureBootstrapAccount(ctx, n.store, cfg.DataDir, stdout); err != nil {
			return nil, err
		}
		api, err := tokenapi.New(n.apiConfig(secrets))
		if err != nil {
			return nil, err
		}
		n.api = api.Server(cfg.API.Listen)
		if n.apiAddr, err = n.serveHTTP(n.api, "API", cfg.API.TLS); err != nil {
			return nil, err
		}
	}

	if cfg.Admin.Listen != "" {
		n.admin = admin.Server(cfg.Admin.Listen, admin.Handler(admin.Config{
			Gatherer: n.registry,
			Ready:    n.readyChecks(),
			Pprof:    cfg.Admin.Pprof,
		}))
		if n.adminAddr, err = n.serveHTTP(n.admin, "admin", false); err != nil {
			return nil, err
		}
	}
	log.Info("turnkey started", "version", version, "role", role, "data_dir", cfg.DataDir)
	return n, nil
}

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
	if n.store != nil {
		checks = append(checks, admin.Check{Name: "store", Fn: func(ctx context.Context) error {
			return n.store.Ping(ctx)
		}})
	}
	// Every configured listener was bound at start or the process would
	// have exited; the relay reports unready while draining.
	if n.relay != nil {
		checks = append(checks, admin.Check{Name: "relay", Fn: func(context.Context) error {
			if !n.relay.Ready() {
				return errors.New("relay draining")
			}
			return nil
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
		select {
		case code := <-done:
			return code
		case sig := <-sigs:
			n.log.Warn("turnkey: second signal, exiting now", "signal", sig.String())
			n.cancel()
			return 1
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
