package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// regionName is what a region may be called: it becomes a hostname label
// and part of the turnmegabytes-<region> usage category.
var regionName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// FieldError names the configuration field that is wrong and why.
type FieldError struct {
	Path   string
	Reason string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

// Validate checks every field and returns all problems found, each a
// *FieldError naming its YAML path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
	}

	switch c.Role {
	case "all", "relay", "api":
	default:
		bad("role", "%q is not one of all, relay, api", c.Role)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.DrainTimeout < 0 {
		bad("drain_timeout", "must not be negative")
	}

	t := &c.TURN
	if t.Realm == "" {
		bad("turn.realm", "must not be empty")
	}
	validListenIPs(t.ListenIP, bad)
	for _, p := range []struct {
		path string
		port int
	}{{"turn.udp_port", t.UDPPort}, {"turn.tcp_port", t.TCPPort}, {"turn.alt_tcp_port", t.AltTCPPort}, {"turn.tls_port", t.TLSPort}} {
		if p.port < 0 || p.port > 65535 {
			bad(p.path, "%d is not a port (0 disables, else 1-65535)", p.port)
		}
	}
	if t.AltTCPPort != 0 && t.AltTCPPort == t.TCPPort {
		bad("turn.alt_tcp_port", "must differ from turn.tcp_port (%d)", t.TCPPort)
	}
	if t.TLSPort != 0 && (t.TLSPort == t.TCPPort || t.TLSPort == t.AltTCPPort) {
		bad("turn.tls_port", "must differ from the other TCP ports")
	}
	if c.Role != "api" && t.UDPPort == 0 && t.TCPPort == 0 && t.AltTCPPort == 0 && !(c.TLS.Enabled() && t.TLSPort != 0) {
		bad("turn.udp_port", "every TURN listener is disabled")
	}
	if t.SocketsPerPort < 0 || t.SocketsPerPort > 256 {
		bad("turn.sockets_per_port", "%d is outside 0-256", t.SocketsPerPort)
	}
	for _, b := range []struct {
		path  string
		bytes int
	}{{"turn.listen_socket_buffer_bytes", t.ListenSocketBuffer}, {"turn.relay_socket_buffer_bytes", t.RelaySocketBuffer}} {
		if b.bytes != 0 && (b.bytes < 4096 || b.bytes > 1<<30) {
			bad(b.path, "%d is outside 4096-1073741824 (0 keeps the kernel default)", b.bytes)
		}
	}
	relayFamilies := addrsPerFamily("turn.relay_ip", t.RelayIP, bad)
	publicFamilies := addrsPerFamily("turn.public_ip", t.PublicIP, bad)
	if len(t.RelayIP) > 0 {
		for is4, a := range publicFamilies {
			if _, ok := relayFamilies[is4]; !ok {
				bad("turn.public_ip", "%s has no turn.relay_ip of its family to pair with", a)
			}
		}
	}
	if t.MinPort < 1 || t.MinPort > 65535 {
		bad("turn.min_port", "%d is not a port", t.MinPort)
	}
	if t.MaxPort < 1 || t.MaxPort > 65535 {
		bad("turn.max_port", "%d is not a port", t.MaxPort)
	}
	if t.MinPort > t.MaxPort {
		bad("turn.min_port", "%d is above turn.max_port %d", t.MinPort, t.MaxPort)
	}
	for i, s := range t.Secrets {
		if len(s) < 16 {
			bad(fmt.Sprintf("turn.secrets[%d]", i), "is %d characters; use at least 16", len(s))
		}
	}
	if t.MaxTTL.D() <= 0 || t.MaxTTL.D() > 7*24*time.Hour {
		bad("turn.max_ttl", "%s is outside (0, 168h]", t.MaxTTL)
	}
	if t.ClockSkew < 0 || t.ClockSkew.D() > 10*time.Minute {
		bad("turn.clock_skew", "%s is outside [0, 10m]", t.ClockSkew)
	}
	switch t.KernelOffload {
	case "auto", "on", "off":
	default:
		bad("turn.kernel_offload", "%q is not one of auto, on, off", t.KernelOffload)
	}
	if t.AllocationLifetime.D() < time.Minute || t.AllocationLifetime.D() > time.Hour {
		bad("turn.allocation_lifetime", "%s is outside [1m, 1h]", t.AllocationLifetime)
	}
	for i, s := range t.PeerPolicy.Allow {
		if _, err := ParsePrefix(s); err != nil {
			bad(fmt.Sprintf("turn.peer_policy.allow[%d]", i), "%v", err)
		}
	}
	for i, s := range t.PeerPolicy.Deny {
		if _, err := ParsePrefix(s); err != nil {
			bad(fmt.Sprintf("turn.peer_policy.deny[%d]", i), "%v", err)
		}
	}
	q := t.Quotas
	if q.PerIdentity < 0 {
		bad("turn.quotas.allocations_per_identity", "must not be negative")
	}
	if q.PerAccount < 0 {
		bad("turn.quotas.allocations_per_account", "must not be negative")
	}
	if q.Total < 0 {
		bad("turn.quotas.allocations_total", "must not be negative")
	}
	if q.BandwidthBPS < 0 {
		bad("turn.quotas.bandwidth_bytes_per_second", "must not be negative")
	} else if q.BandwidthBPS > 0 && q.BandwidthBPS < 1500 {
		bad("turn.quotas.bandwidth_bytes_per_second", "%d cannot carry one full-size packet a second; use 0 or at least 1500", q.BandwidthBPS)
	}

	l := t.Limits
	if l.MaxFrameBytes < 1500 || l.MaxFrameBytes > 65535 {
		bad("turn.limits.max_frame_bytes", "%d is outside [1500, 65535]", l.MaxFrameBytes)
	}
	if l.IdleTimeout < 0 || (l.IdleTimeout > 0 && l.IdleTimeout.D() < time.Second) || l.IdleTimeout.D() > time.Hour {
		bad("turn.limits.tcp_idle_timeout", "%s is outside [1s, 1h] (0 disables)", l.IdleTimeout)
	}
	if l.ConnectionsPerSource < 0 {
		bad("turn.limits.connections_per_source", "must not be negative")
	}
	if l.PermissionsPerAllocation < 1 || l.PermissionsPerAllocation > 65535 {
		bad("turn.limits.permissions_per_allocation", "%d is outside [1, 65535]", l.PermissionsPerAllocation)
	}
	// A service port inside the relay range would be a relay port to the
	// host-port guard, reachable through the relay.
	inRange := func(port int) bool { return port >= t.MinPort && port <= t.MaxPort }
	for _, p := range []struct {
		path string
		port int
	}{{"turn.udp_port", t.UDPPort}, {"turn.tcp_port", t.TCPPort}, {"turn.alt_tcp_port", t.AltTCPPort}, {"turn.tls_port", t.TLSPort}} {
		if p.port != 0 && inRange(p.port) {
			bad(p.path, "%d is inside the relay port range %d-%d", p.port, t.MinPort, t.MaxPort)
		}
	}
	for _, p := range []struct{ path, addr string }{{"api.listen", c.API.Listen}, {"admin.listen", c.Admin.Listen}} {
		if _, ps, err := net.SplitHostPort(p.addr); err == nil {
			if port, err := strconv.Atoi(ps); err == nil && port != 0 && inRange(port) {
				bad(p.path, "port %d is inside the relay port range %d-%d", port, t.MinPort, t.MaxPort)
			}
		}
	}

	a := &c.API
	if c.Role != "relay" {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			bad("api.listen", "%q is not host:port", a.Listen)
		}
	}
	if strings.ContainsAny(a.PublicHost, "/:?# ") && !isBracketedIPv6(a.PublicHost) && !isIPv6Literal(a.PublicHost) {
		bad("api.public_host", "%q must be a bare host name or IP", a.PublicHost)
	}
	for path, h := range map[string]string{"api.stun_host": a.STUNHost, "api.turn_host": a.TURNHost} {
		if strings.ContainsAny(h, "/:?# ") && !isBracketedIPv6(h) {
			bad(path, "%q must be a bare host name or IP", h)
		}
	}
	for name, host := range a.Regions {
		if name == "" || strings.ContainsAny(name, " /") {
			bad("api.regions", "region name %q is not a single word", name)
		}
		if host == "" || strings.ContainsAny(host, "/?# ") {
			bad("api.regions."+name, "%q is not a host name", host)
		}
	}
	for i, o := range a.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad(fmt.Sprintf("api.cors_origins[%d]", i), "%q is not \"*\" or an http(s):// origin", o)
		}
	}
	if a.TLS && !c.TLS.Enabled() {
		bad("api.tls", "needs tls.cert_file and tls.key_file")
	}
	for i, p := range a.TrustedProxies {
		if _, err := ParseTrustedProxy(p); err != nil {
			bad(fmt.Sprintf("api.trusted_proxies[%d]", i), "%q is not an IP address or CIDR", p)
		}
	}
	if a.AuthFailuresPerMinute < 1 {
		bad("api.auth_failures_per_minute", "must be at least 1")
	}
	if a.MaxBodyBytes < 1024 || a.MaxBodyBytes > 1<<20 {
		bad("api.max_body_bytes", "%d is outside [1024, 1048576]", a.MaxBodyBytes)
	}
	if a.TrackedAccounts < 0 {
		bad("api.tracked_accounts", "must not be negative")
	}

	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			bad("admin.listen", "%q is not host:port", c.Admin.Listen)
		}
	}

	dsn := c.Store.DSN.Reveal()
	if dsn != "" && !strings.HasPrefix(dsn, "sqlite:") && !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		bad("store.dsn", "must be empty, sqlite:PATH or postgres://...")
	}
	if k := c.Store.EncryptionKey.Reveal(); k != "" {
		if raw, err := base64.StdEncoding.DecodeString(k); err != nil || len(raw) != 32 {
			bad("store.encryption_key", "must be 32 bytes in standard base64")
		}
	}
	if c.Store.RevocationPoll.D() < 100*time.Millisecond || c.Store.RevocationPoll.D() > 5*time.Second {
		bad("store.revocation_poll", "%s is outside [100ms, 5s]: revocation must reach relays within 5s", c.Store.RevocationPoll)
	}
	if c.Store.UsageFlush.D() < 100*time.Millisecond || c.Store.UsageFlush.D() > 10*time.Minute {
		bad("store.usage_flush", "%s is outside [100ms, 10m]", c.Store.UsageFlush)
	}
	if c.TURN.Region != "" && !regionName.MatchString(c.TURN.Region) {
		bad("turn.region", "%q is not a region name (lowercase letters, digits and '-', up to 32)", c.TURN.Region)
	}

	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	return errors.Join(errs...)
}

// isIPv6Literal accepts an IPv6 address as written in YAML ("::1"); the
// API brackets it in the URLs it issues.
func isIPv6Literal(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.Is6() && a.Zone() == ""
}

func isBracketedIPv6(h string) bool {
	if !strings.HasPrefix(h, "[") || !strings.HasSuffix(h, "]") {
		return false
	}
	a, err := netip.ParseAddr(h[1 : len(h)-1])
	return err == nil && a.Is6()
}

// ParsePrefix accepts a CIDR or a single address (taken as /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// addrsPerFamily checks a list of specific IP addresses with at most one per
// family; it returns the families present (true: IPv4) and the address.
// validListenIPs checks turn.listen_ip: one or two addresses, at most one
// per family; "::" listens on both families (a dual-stack socket), so it
// stands alone.
func validListenIPs(list []string, bad func(path, format string, args ...any)) {
	const path = "turn.listen_ip"
	if len(list) == 0 {
		bad(path, "must name at least one address (0.0.0.0 or :: for all)")
		return
	}
	seen := map[bool]netip.Addr{}
	for _, s := range list {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			bad(path, "%q is not an IP address", s)
			continue
		}
		a = a.Unmap()
		if a.Zone() != "" {
			bad(path, "%s: zoned addresses are not supported", a)
			continue
		}
		if prev, dup := seen[a.Is4()]; dup {
			bad(path, "%s and %s are of the same address family (at most one IPv4 and one IPv6)", prev, a)
			continue
		}
		seen[a.Is4()] = a
	}
	if v6, ok := seen[false]; ok && v6 == netip.IPv6Unspecified() && len(seen) > 1 {
		bad(path, ":: listens on IPv4 as well; name it alone, or a specific IPv6 address beside %s", seen[true])
	}
}

func addrsPerFamily(path string, list []string, bad func(path, format string, args ...any)) map[bool]netip.Addr {
	out := map[bool]netip.Addr{}
	for _, s := range list {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		switch {
		case err != nil:
			bad(path, "%q is not an IP address", s)
			continue
		case a.IsUnspecified():
			bad(path, "must be a specific address, not %s", a)
			continue
		}
		a = a.Unmap()
		if prev, dup := out[a.Is4()]; dup {
			bad(path, "%s and %s are of the same address family (at most one IPv4 and one IPv6)", prev, a)
			continue
		}
		out[a.Is4()] = a
	}
	return out
}

// ParseTrustedProxy reads an api.trusted_proxies entry: a CIDR, or a single
// address (a /32 or /128).
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q has a zone", s)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q has a zone", s)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}
