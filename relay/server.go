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
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/relay/internal/peerpolicy"
	"github.com/turnkey-dev/turnkey/relay/internal/quota"
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
	Keyring            *credentials.KeyringHolder
	MaxTTL             time.Duration
	ClockSkew          time.Duration
	AllocationLifetime time.Duration
	// LegacyChannelNumbers accepts RFC 5766's channel numbers up to 0x7FFF;
	// otherwise ChannelBind outside RFC 8656's 0x4000-0x4FFF gets 400.
	LegacyChannelNumbers bool
	// NonceLifetime is how long a nonce, bound to the client's 5-tuple, is
	// accepted; 0 means DefaultNonceLifetime.
	NonceLifetime time.Duration
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
	// or TLS connection; a longer one closes it. 0 means DefaultMaxFrame.
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

// PeerPolicy chooses which peers clients may relay to.
type PeerPolicy struct {
	// Allow overrides the deny-list.
	Allow []netip.Prefix
	// Deny adds to the built-in deny-list.
	Deny []netip.Prefix
	// DisableDefaultDeny turns the built-in deny-list off.
	DisableDefaultDeny bool
}

func (p PeerPolicy) build() *peerpolicy.Policy {
	return peerpolicy.New(p.Allow, p.Deny, !p.DisableDefaultDeny)
}

// Quotas limit concurrent allocations; 0 means unlimited.
type Quotas struct {
	PerIdentity, PerAccount, Total int
}

func (q Quotas) limits() quota.Limits {
	return quota.Limits{PerIdentity: q.PerIdentity, PerAccount: q.PerAccount, Total: q.Total}
}

// Listener describes one running TURN listener.
type Listener struct {
	Scheme    string // "turn" or "turns"
	Transport string // "udp" or "tcp"
	Port      int
	Addr      net.Addr
}

// Server is a running relay.
type Server struct {
	log       *slog.Logger
	realm     string
	maxTTL    time.Duration
	clockSkew time.Duration
	now       func() time.Time
	revoked   func(string) bool
	tlsConfig func() *tls.Config

	secrets   *secretPicker
	users     userCache
	policy    atomic.Pointer[peerpolicy.Policy]
	quota     *quota.Counter
	bandwidth atomic.Int64
	draining  atomic.Bool

	// relays maps each address family to its relay addresses.
	relays relayFamilies
	*hostAddrs

	metrics *metrics
	stats   *relayStats

	stopWatch         func() // ends the host address watch
	nonces            *nonceBinder
	allocLifetime     time.Duration // the default granted (request.go)
	maxChannel        uint16        // the last channel number accepted (request.go)
	sockBufs          sockBufs
	relaySocketBuffer int

	turn      *turn.Server
	listeners []Listener

	maxFrame     int
	idleTimeout  time.Duration
	maxPerSource int
	maxPerms     int

	connMu      sync.Mutex
	clientConns map[net.Conn]struct{}
	perSource   map[netip.Addr]int

	healthMu sync.Mutex
	// down holds the accept error of each stream listener port that is
	// not accepting now.
	down map[int]error

	streamConns sync.Map // client address → *streamConn
	pending     admissions
	refused     sync.Map // client address → credentials just refused (see autherror.go)
	registry    *allocRegistry
	chans       channelTable
	// wants, dualGen and dualLive serve dual allocations (dual.go): the
	// Allocates asking for one, the IPv6 port range (nil without an IPv6
	// relay) and the number of live IPv6 halves.
	wants    dualWants
	dualGen  *turn.RelayAddressGeneratorPortRange
	dualLive atomic.Int32
	// kernel is the kernel fast path, nil when not attached.
	kernel *kernelOffload

	idle     chan struct{} // signalled when an allocation ends, for Drain
	closeErr error
	closed   sync.Once
}

// New binds every configured listener and starts serving. A listener that
// cannot be bound is an error, except the alternative TCP port (443) when it
// was not asked for explicitly and the bind lacks privilege: then a warning
// names the fix and the relay runs without it.
func New(cfg Config) (*Server, error) {
	if cfg.Keyring == nil || cfg.Keyring.Load() == nil {
		return nil, errors.New("relay: no TURN secret keyring")
	}
	if len(cfg.ListenIPs) == 0 {
		return nil, errors.New("relay: no listen address")
	}
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
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		tlsCfg = func() *tls.Config { return nil }
	}
	nonces, err := newNonceBinder(cfg.NonceLifetime, now)
	if err != nil {
		return nil, err
	}
	lifetime := cfg.AllocationLifetime
	if lifetime <= 0 {
		lifetime = 10 * time.Minute
	}
	stats := newRelayStats(cfg.TrackedAccounts)
	s := &Server{
		log:       log,
		realm:     cfg.Realm,
		maxTTL:    cfg.MaxTTL,
		clockSkew: cfg.ClockSkew,
		now:       now,
		revoked:   cfg.Revoked,
		tlsConfig: tlsCfg,
		secrets:   newSecretPicker(cfg.Keyring),
		quota:     quota.New(cfg.Quotas.limits()),
		relays:    relays,
		hostAddrs: newHostAddrs(append(slices.Clone(cfg.ListenIPs), relays.addrs()...),
			relays.addrs(), cfg.MinPort, cfg.MaxPort),
		stats:             stats,
		metrics:           newMetrics(cfg.Metrics, stats),
		clientConns:       map[net.Conn]struct{}{},
		perSource:         map[netip.Addr]int{},
		down:              map[int]error{},
		maxFrame:          cfg.MaxFrame,
		idleTimeout:       cfg.IdleTimeout,
		maxPerSource:      cfg.MaxConnsPerSource,
		maxPerms:          cfg.MaxPermissions,
		registry:          newAllocRegistry(),
		idle:              make(chan struct{}, 1),
		nonces:            nonces,
		allocLifetime:     lifetime,
		maxChannel:        maxChannel,
		relaySocketBuffer: cfg.RelaySocketBuffer,
	}
	if s.maxFrame <= 0 {
		s.maxFrame = DefaultMaxFrame
	}
	if cfg.LegacyChannelNumbers {
		s.maxChannel = legacyMaxChannel
	}
	stopWatch, err := s.hostAddrs.watch(func(err error) {
		log.Error("relay: host addresses no longer followed; addresses added from now on are not guarded until restart", "err", err)
	})
	if err != nil {
		// Not fatal: the addresses known now stay guarded.
		log.Warn("relay: cannot follow host address changes", "err", err)
		stopWatch = func() {}
	}
	s.stopWatch = stopWatch
	s.sockBufs.log = log
	s.policy.Store(cfg.PeerPolicy.build())
	for _, p := range append([]int{cfg.UDPPort, cfg.TCPPort, cfg.AltTCPPort, cfg.TLSPort}, cfg.ProtectedPorts...) {
		s.hostAddrs.protect(p)
	}
	s.bandwidth.Store(cfg.BandwidthBPS)
	s.metrics.portRange.Set(float64(cfg.MaxPort - cfg.MinPort + 1))

	if _, s.dualGen = relays.generators(cfg.MinPort, cfg.MaxPort); s.dualGen != nil {
		if err := s.dualGen.Validate(); err != nil {
			s.stopWatch()
			return nil, fmt.Errorf("relay: IPv6 relay ports: %w", err)
		}
	}
	gen := func(listener net.PacketConn) turn.RelayAddressGenerator {
		lc, _ := listener.(*net.UDPConn)
		g := &relayGenerator{s: s, listener: newUDPSock(lc)}
		g.v4, g.v6 = relays.generators(cfg.MinPort, cfg.MaxPort)
		return g
	}

	b := &binding{s: s, gen: gen, listenIPs: cfg.ListenIPs, udpSockets: cfg.SocketsPerPort,
		socketBuffer: cfg.ListenSocketBuffer}
	fail := func(err error) (*Server, error) {
		s.stopWatch()
		b.close()
		s.kernel.close()
		return nil, err
	}
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(newKernelStats(s))
	}
	kernel, err := startKernelOffload(s, cfg.KernelOffload, log)
	if err != nil {
		return fail(err)
	}
	if kernel != nil {
		s.kernel = kernel
		s.chans.watch = kernel.watch
		s.stats.kernel.Store(kernel)
		s.hostAddrs.changed.Store(&kernel.recheckFn)
	}
	plan := PlanListeners(ListenPorts{UDP: cfg.UDPPort, TCP: cfg.TCPPort, AltTCP: cfg.AltTCPPort, TLS: cfg.TLSPort,
		AltTCPRequired: cfg.AltTCPRequired, TLSEnabled: tlsCfg() != nil})
	for _, pl := range plan {
		if err := b.bind(pl); err != nil {
			return fail(err)
		}
	}
	if len(b.packets) == 0 && len(b.streams) == 0 {
		return fail(errors.New("relay: no TURN listener could be started"))
	}

	ts, err := turn.NewServer(turn.ServerConfig{
		Realm:              cfg.Realm,
		AuthHandler:        s.authenticate,
		QuotaHandler:       s.admit,
		EventHandler:       s.eventHandler(),
		PacketConnConfigs:  b.packets,
		ListenerConfigs:    b.streams,
		LoggerFactory:      pionLoggerFactory(log),
		AllocationLifetime: lifetime,
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
		StrictAddressFamily: relays.v4 != nil,
	})
	if err != nil {
		return fail(fmt.Errorf("relay: start pion server: %w", err))
	}
	s.turn = ts
	for _, l := range s.listeners {
		if s.Serving(l) {
			s.metrics.listenerUp.WithLabelValues(listenerName(l)).Set(1)
		}
	}
	return s, nil
}

func (s *Server) addListener(scheme, transport string, addr net.Addr) {
	port := 0
	switch a := addr.(type) {
	case *net.UDPAddr:
		port = a.Port
	case *net.TCPAddr:
		port = a.Port
	}
	s.healthMu.Lock()
	s.listeners = append(s.listeners, Listener{Scheme: scheme, Transport: transport, Port: port, Addr: addr})
	s.healthMu.Unlock()
}

func listenerName(l Listener) string {
	if l.Scheme == "turns" {
		return fmt.Sprintf("tls:%d", l.Port)
	}
	return fmt.Sprintf("%s:%d", l.Transport, l.Port)
}

// Listeners lists the running listeners.
func (s *Server) Listeners() []Listener {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	return append([]Listener(nil), s.listeners...)
}

// permit is pion's PermissionHandler for CreatePermission, ChannelBind and
// Connect. Our own relay address is always a permitted peer: two clients
// relaying through this server must reach each other's relay address, even
// when it is private or loopback (the host-port guard in relayConn still
// keeps them off non-relay ports).
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	rc := s.chans.relayOfClient(client)
	if rc != nil {
		// A dual allocation's IPv6 peer, by its stand-in (dual.go).
		ip = rc.fromPion(ip, 0)
	}
	if s.relays.isRelay(ip) {
		return true
	}
	if rc != nil && rc.perms.full(ip, s.maxPerms) {
		s.metrics.peerDenied.WithLabelValues("permission_limit").Inc()
		s.log.Debug("relay: permission refused: allocation at its limit", "client", addrString(client),
			"peer", ip.String(), "limit", s.maxPerms)
		return false
	}
	pol := s.policy.Load()
	if pol == nil {
		return true
	}
	allowed, reason := pol.Check(ip)
	if !allowed {
		s.metrics.peerDenied.WithLabelValues(reason.String()).Inc()
		s.log.Debug("relay: peer refused by policy", "client", addrString(client), "peer", ip.String(), "reason", reason.String())
	}
	return allowed
}

// admit is pion's QuotaHandler, asked before each allocation. The slot taken
// here is reserved for the client's address until the allocation exists or
// the request has failed (admission.go).
func (s *Server) admit(username, _ string, client net.Addr) bool {
	if s.draining.Load() {
		s.metrics.allocationFailures.WithLabelValues("draining").Inc()
		return false
	}
	e, err := s.parseUser(username)
	if err != nil {
		return false
	}
	ok, kind := s.quota.Acquire(e.quotaKey, e.user.AccountSID)
	if !ok {
		s.metrics.quotaRejections.WithLabelValues(kind).Inc()
		s.metrics.allocationFailures.WithLabelValues("quota").Inc()
		s.log.Info("relay: allocation refused by quota", "client", addrString(client), "user", username, "quota", kind)
		return false
	}
	s.reserve(client, &reservation{quotaKey: e.quotaKey, account: e.user.AccountSID, userID: username})
	return true
}

// allocationRefused notes why an admitted allocation could not get a relay
// socket; its slot is given back with the reservation (admission.go).
func (s *Server) allocationRefused(userID, reason string) {
	s.noteFailure(userID, reason)
	s.log.Warn("relay: allocation failed", "user", userID, "reason", reason)
}

func (s *Server) allocationGone() {
	select {
	case s.idle <- struct{}{}:
	default:
	}
}

// AllocationCount is the number of live allocations.
func (s *Server) AllocationCount() int { return s.turn.AllocationCount() }

// Ready reports whether the relay accepts new allocations on every
// listener.
func (s *Server) Ready() bool { return s.Health() == nil }

// Health is nil when the relay is serving on every listener, else why not:
// draining, or a listener whose accept keeps failing.
func (s *Server) Health() error {
	if s.draining.Load() {
		return errors.New("relay draining")
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	var errs []error
	for _, l := range s.listeners {
		if err, down := s.down[l.Port]; down && l.Transport == transportTCP {
			errs = append(errs, fmt.Errorf("listener %s not accepting: %w", listenerName(l), err))
		}
	}
	return errors.Join(errs...)
}

// Serving reports whether listener l accepts connections now.
func (s *Server) Serving(l Listener) bool {
	if l.Transport != transportTCP {
		return true
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	_, down := s.down[l.Port]
	return !down
}

// listenerDown marks the TCP listeners on port as not accepting.
func (s *Server) listenerDown(port int, err error) {
	s.healthMu.Lock()
	s.down[port] = err
	s.healthMu.Unlock()
	s.setListenerGauge(port, 0)
	s.log.Error("relay: listener cannot accept; retrying", "port", port, "err", err)
}

// listenerUp marks them accepting again.
func (s *Server) listenerUp(port int) {
	s.healthMu.Lock()
	delete(s.down, port)
	s.healthMu.Unlock()
	s.setListenerGauge(port, 1)
	s.log.Info("relay: listener accepting again", "port", port)
}

func (s *Server) setListenerGauge(port int, v float64) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	for _, l := range s.listeners {
		if l.Port == port && l.Transport == transportTCP {
			s.metrics.listenerUp.WithLabelValues(listenerName(l)).Set(v)
		}
	}
}

// Drain refuses new allocations from now on and waits until the live ones
// end or the deadline passes. It returns the number still alive.
func (s *Server) Drain(deadline time.Time) int {
	s.draining.Store(true)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		n := s.AllocationCount()
		if n == 0 {
			return 0
		}
		select {
		case <-t.C:
			return s.AllocationCount()
		case <-s.idle:
		case <-tick.C:
		}
	}
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

// Update applies what can change without a restart. The TURN secrets are
// not in it: they change with the keyring Config.Keyring holds.
type Update struct {
	PeerPolicy   PeerPolicy
	Quotas       Quotas
	BandwidthBPS int64
}

// Apply swaps in new peer policy, quotas and bandwidth limit. Live
// allocations keep their bandwidth limit; new ones get the new one.
func (s *Server) Apply(u Update) {
	s.policy.Store(u.PeerPolicy.build())
	s.quota.SetLimits(u.Quotas.limits())
	s.bandwidth.Store(u.BandwidthBPS)
	s.kernel.recheck() // the allow-list decides the host-port guard too
}

// Usage is an account's relay traffic, live.
type Usage struct {
	BytesClientToPeer, BytesPeerToClient     uint64
	PacketsClientToPeer, PacketsPeerToClient uint64
	AllocationsActive                        int
}

// AccountUsage reports an account's traffic (zero for an account not
// tracked) and its live allocations.
func (s *Server) AccountUsage(account string) Usage {
	u := s.stats.accountTotals(account)
	n := s.registry.accountAllocations(account)
	return Usage{BytesClientToPeer: u.BytesUp, BytesPeerToClient: u.BytesDown,
		PacketsClientToPeer: u.PacketsUp, PacketsPeerToClient: u.PacketsDown, AllocationsActive: n}
}

// pionLoggerFactory routes pion's logs to slog at debug level; pion's own
// messages at info are per-packet chatter on a busy server.
func pionLoggerFactory(log *slog.Logger) logging.LoggerFactory {
	return &pionLogs{log: log.With("component", "pion")}
}
