package main

// Reading the configuration (flags, environment, file) and turning it into
// what each package is built from: the node wires those together, the
// packages decide what to do with them.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/relay"
)

// loadConfig parses the shared configuration flags (plus any extra flags the
// caller registered on fs) and returns the validated configuration. It
// prints the problem and returns ok=false on error; code is the exit status.
func loadConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (cfg *config.Loaded, code int, ok bool) {
	cfg, _, code, ok = loadConfigReloadable(fs, args, stderr)
	return cfg, code, ok
}

// loadConfigReloadable is loadConfig that also returns a function reading
// the configuration again from the same file, environment and flags (for
// SIGHUP).
func loadConfigReloadable(fs *flag.FlagSet, args []string, stderr io.Writer) (cfg *config.Loaded, reload func() (*config.Loaded, error), code int, ok bool) {
	fs.SetOutput(stderr)
	binder := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, 0, false
		}
		return nil, nil, 2, false
	}
	reload = func() (*config.Loaded, error) {
		l, err := config.Load(binder, os.Environ())
		if err != nil {
			return nil, err
		}
		if err := l.Validate(); err != nil {
			return nil, err
		}
		if err := config.ResolveDataDir(&l.Config); err != nil {
			return nil, err
		}
		return l, nil
	}
	l, err := reload()
	if err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			fmt.Fprintln(stderr, "turnkey: invalid configuration:")
			for _, e := range unjoin(err) {
				fmt.Fprintln(stderr, "  -", e)
			}
			return nil, nil, 2, false
		}
		fmt.Fprintln(stderr, "turnkey:", err)
		return nil, nil, 2, false
	}
	return l, reload, 0, true
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

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
