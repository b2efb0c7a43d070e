package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
)

// Config is what the relay needs; cmd/turnkey builds it from config.Config.
type Config struct {
	Realm string
	// ListenIPs are the addresses every TURN listener port is bound on, at
	// most one per family; "::" alone listens on both (dual-stack).
	ListenIPs []netip.Addr
	// Ports of the listeners; 0 disables one. AltTCPPort is plain TURN over
	// TCP that also accepts TLS when TLS is configured.
	UDPPort, TCPPort, AltTCPPort, TLSPort int
	// AltTCPRequired makes a failure to bind AltTCPPort fatal; otherwise a
	// bind refused for lack of privilege is a warning.
	AltTCPRequired bool
	SocketsPerPort int
	// ListenSocketBuffer and RelaySocketBuffer size the kernel buffers of
	// the UDP listening sockets and of each UDP relay socket (sockbuf.go);
	// 0 keeps the kernel default.
	ListenSocketBuffer, RelaySocketBuffer int

	// RelayIPs are the local addresses relay sockets bind to, at most one
	// per address family (RFC 6156): an Allocate gets a relay of the family
	// it asks for, 440 when that family has none.
	RelayIPs []netip.Addr
	// PublicIPs are the advertised relay addresses behind 1:1 NAT, at most
	// one per family, each paired with the relay IP of its family; a
	// family without one advertises its relay IP.
	PublicIPs []netip.Addr
	MinPort   int
	MaxPort   int

	// Keyring holds the TURN REST secrets that verify credentials. It is
	// the process's one keyring (the token API signs with the same one), so
	// a reload swaps it for both at once.
	Keyring   *credentials.KeyringHolder
	MaxTTL    time.Duration
	ClockSkew time.Duration
	// AllocationLifetime is granted when a client asks for less or for
	// none; required (config.Default owns the default).
	AllocationLifetime time.Duration
	// LegacyChannelNumbers accepts RFC 5766's channel numbers up to 0x7FFF;
	// otherwise ChannelBind outside RFC 8656's 0x4000-0x4FFF gets 400.
	LegacyChannelNumbers bool
	// PermissionLifetime and ChannelLifetime are pion's permission and
	// channel-binding lifetimes; 0 keeps RFC 8656's 5 and 10 minutes
	// (tests shorten them).
	PermissionLifetime, ChannelLifetime time.Duration

	PeerPolicy   PeerPolicy
	Quotas       Quotas
	BandwidthBPS int64
	// Revoked reports whether credentials issued under a key SID or auth
	// token ID, or by an account (its SID: suspended or closed), have been
	// revoked. May be nil.
	Revoked func(credID string) bool
	// ProtectedPorts are other ports this process listens on (API, admin),
	// never reachable through the relay on this host's addresses.
	ProtectedPorts []int
	// MaxFrame is the longest STUN or ChannelData frame accepted on a TCP
	// or TLS connection; a longer one closes it. Required.
	MaxFrame int
	// IdleTimeout closes a TCP/TLS connection that has no allocation and
	// completes no frame for this long, or takes longer to send one
	// frame. 0 disables it.
	IdleTimeout time.Duration
	// MaxPermissions caps the peer permissions of one allocation; 0 means
	// unlimited.
	MaxPermissions int
	// MaxConnsPerSource caps open TCP/TLS connections per client IP; 0
	// means unlimited.
	MaxConnsPerSource int
	// TLS returns the certificate configuration for turns: listeners, or nil
	// when TLS is off. Called per handshake, so a reloaded certificate
	// applies to new connections at once.
	TLS func() *tls.Config

	// KernelOffload is OffloadAuto, OffloadOn or OffloadOff (empty: off):
	// whether UDP ChannelData is relayed by the eBPF fast path
	// (kernelpath.go).
	KernelOffload string

	Logger          *slog.Logger
	Metrics         prometheus.Registerer
	TrackedAccounts int
	Now             func() time.Time
}

// Server is a running relay. Its state is grouped by concern, each group
// embedded (so its fields read as the server's own) and documented in the
// file named for it.
type Server struct {
	log *slog.Logger
	now func() time.Time

	credentialCheck  // who a request is from (auth.go)
	admissionControl // who may allocate, and to which peers (admission.go)
	listenerSet      // the client-facing listeners and connections (health.go)
	allocationBook   // the live allocations and their relay sockets (allocations.go)
	accounting       // metrics and traffic totals (relaystats.go)

	// relays maps each address family to its relay addresses.
	relays relayFamilies
	*hostAddrs
	stopWatch func() // ends the host address watch
	// kernel is the kernel fast path, nil when not attached.
	kernel *kernelOffload

	turn     *turn.Server
	closeErr error
	closed   sync.Once
}

// New binds every configured listener and starts serving. A listener that
// cannot be bound is an error, except the alternative TCP port (443) when it
// was not asked for explicitly and the bind lacks privilege: then a warning
// names the fix and the relay runs without it.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	s.watchHostAddrs(cfg)
	b := s.binding(cfg)
	fail := func(err error) (*Server, error) {
		s.stopWatch()
		b.close()
		s.kernel.close()
		return nil, err
	}
	if err := s.attachKernel(cfg); err != nil {
		return fail(err)
	}
	if err := s.bindListeners(cfg, b); err != nil {
		return fail(err)
	}
	if err := s.startPion(cfg, b); err != nil {
		return fail(err)
	}
	for _, l := range s.listeners {
		if s.Serving(l) {
			s.metrics.listenerUp.WithLabelValues(listenerName(l)).Set(1)
		}
	}
	return s, nil
}

// check refuses a Config missing what the relay cannot run without; the
// defaults are config.Default's, never filled in here.
func (cfg *Config) check() error {
	switch {
	case cfg.Keyring == nil || cfg.Keyring.Load() == nil:
		return errors.New("relay: Config.Keyring: no TURN secret keyring")
	case len(cfg.ListenIPs) == 0:
		return errors.New("relay: Config.ListenIPs: no listen address")
	case cfg.AllocationLifetime <= 0:
		return fmt.Errorf("relay: Config.AllocationLifetime %v is not positive", cfg.AllocationLifetime)
	case cfg.MaxFrame <= 0:
		return fmt.Errorf("relay: Config.MaxFrame %d is not positive", cfg.MaxFrame)
	}
	return nil
}

// newServer builds the relay's state from cfg; nothing is bound yet.
func newServer(cfg Config) (*Server, error) {
	relays, err := newRelayFamilies(cfg.RelayIPs, cfg.PublicIPs)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{log: log, now: now, relays: relays,
		hostAddrs: newHostAddrs(append(slices.Clone(cfg.ListenIPs), relays.addrs()...),
			relays.addrs(), cfg.MinPort, cfg.MaxPort)}
	if err := s.credentialCheck.init(cfg, now); err != nil {
		return nil, err
	}
	s.admissionControl.init(cfg)
	s.listenerSet.init(cfg, log)
	s.allocationBook.init(cfg)
	s.accounting.init(cfg)
	s.metrics.portRange.Set(float64(cfg.MaxPort - cfg.MinPort + 1))
	if _, s.dualGen = relays.generators(cfg.MinPort, cfg.MaxPort); s.dualGen != nil {
		if err := s.dualGen.Validate(); err != nil {
			return nil, fmt.Errorf("relay: IPv6 relay ports: %w", err)
		}
	}
	return s, nil
}

// watchHostAddrs follows the host's addresses, which the host-port guard
// keeps peers off, and protects every port this process listens on.
func (s *Server) watchHostAddrs(cfg Config) {
	stopWatch, err := s.hostAddrs.watch(func(err error) {
		s.log.Error("relay: host addresses no longer followed; addresses added from now on are not guarded until restart", "err", err)
	})
	if err != nil {
		// Not fatal: the addresses known now stay guarded.
		s.log.Warn("relay: cannot follow host address changes", "err", err)
		stopWatch = func() {}
	}
	s.stopWatch = stopWatch
	for _, p := range append([]int{cfg.UDPPort, cfg.TCPPort, cfg.AltTCPPort, cfg.TLSPort}, cfg.ProtectedPorts...) {
		s.hostAddrs.protect(p)
	}
}

// binding is what binds the listeners (listen.go), each UDP listener with
// its relay address generator.
func (s *Server) binding(cfg Config) *binding {
	gen := func(listener net.PacketConn) turn.RelayAddressGenerator {
		lc, _ := listener.(*net.UDPConn)
		g := &relayGenerator{s: s, listener: newUDPSock(lc)}
		g.v4, g.v6 = s.relays.generators(cfg.MinPort, cfg.MaxPort)
		return g
	}
	return &binding{s: s, gen: gen, listenIPs: cfg.ListenIPs, udpSockets: cfg.SocketsPerPort,
		socketBuffer: cfg.ListenSocketBuffer}
}

// attachKernel starts the kernel fast path as cfg.KernelOffload asks.
func (s *Server) attachKernel(cfg Config) error {
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(newKernelStats(s))
	}
	kernel, err := startKernelOffload(s, cfg.KernelOffload, s.log)
	if err != nil || kernel == nil {
		return err
	}
	s.kernel = kernel
	s.chans.watch = kernel.watch
	s.stats.kernel.Store(kernel)
	s.hostAddrs.changed.Store(&kernel.recheckFn)
	return nil
}

// bindListeners binds every planned listener; at least one must serve.
func (s *Server) bindListeners(cfg Config, b *binding) error {
	plan := PlanListeners(ListenPorts{UDP: cfg.UDPPort, TCP: cfg.TCPPort, AltTCP: cfg.AltTCPPort, TLS: cfg.TLSPort,
		AltTCPRequired: cfg.AltTCPRequired, TLSEnabled: s.tlsConfig() != nil})
	for _, pl := range plan {
		if err := b.bind(pl); err != nil {
			return err
		}
	}
	if len(b.packets) == 0 && len(b.streams) == 0 {
		return errors.New("relay: no TURN listener could be started")
	}
	return nil
}

// startPion starts pion's TURN server on the bound listeners, with
// turnkey's handlers.
func (s *Server) startPion(cfg Config, b *binding) error {
	ts, err := turn.NewServer(turn.ServerConfig{
		Realm:              cfg.Realm,
		AuthHandler:        s.authenticate,
		QuotaHandler:       s.admit,
		EventHandler:       s.eventHandler(),
		PacketConnConfigs:  b.packets,
		ListenerConfigs:    b.streams,
		LoggerFactory:      pionLoggerFactory(s.log),
		AllocationLifetime: s.allocLifetime,
		PermissionTimeout:  cfg.PermissionLifetime,
		ChannelBindTimeout: cfg.ChannelLifetime,
		// pion's read buffer must hold the longest frame a stream may
		// carry (streamConn hands it whole frames); UDP shares it.
		InboundMTU: max(s.maxFrame, 1600) + 1,
		// RFC 6156: without REQUESTED-ADDRESS-FAMILY the relay is IPv4.
		// pion would otherwise follow the client's family, so an IPv6
		// client on the dual-stack listener would get IPv6 where it did
		// not ask. Without an IPv4 relay pion's default (the listener's
		// family) stays; defaultFamily (request.go) mirrors both.
		StrictAddressFamily: s.relays.v4 != nil,
	})
	if err != nil {
		return fmt.Errorf("relay: start pion server: %w", err)
	}
	s.turn = ts
	return nil
}

// pionLoggerFactory routes pion's logs to slog at debug level; pion's own
// messages at info are per-packet chatter on a busy server.
func pionLoggerFactory(log *slog.Logger) logging.LoggerFactory {
	return &pionLogs{log: log.With("component", "pion")}
}

// Close stops the listeners and ends every allocation and client connection.
func (s *Server) Close() error {
	s.closed.Do(func() {
		s.closeErr = s.turn.Close()
		s.stopWatch()
		s.kernel.close()
		s.closeClientConns()
		for _, l := range s.listeners {
			s.metrics.listenerUp.WithLabelValues(listenerName(l)).Set(0)
		}
	})
	return s.closeErr
}
