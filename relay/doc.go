// Package relay runs turnkey's STUN/TURN server on pion/turn: the listeners
// (UDP with SO_REUSEPORT, TCP, the port-443 listener that also speaks TLS,
// TLS), TURN REST authentication against the process's one keyring of
// secrets (credentials.KeyringHolder, shared with the token API), the
// peer-address policy, quotas, per-allocation accounting and graceful drain.
//
// Per-packet work happens in two wrappers: listenConn/streamConn on the
// client side (count Binding requests, check the request's MESSAGE-INTEGRITY
// with the secret its username names, secrets.go)
// and relayConn on the peer side (policy for this host's own ports, bandwidth
// limits, byte counts). Both keep locks and allocations off that path.
//
// Relays of both address families (families.go) and dual allocations
// (dual.go: an IPv6 relay socket beside the IPv4 one pion owns) are
// turnkey's, around pion's one-socket allocations.
//
// UDP ChannelData on installed channels can skip both: the kernel fast path
// (kernelpath.go, internal/kernelpath) relays it in an eBPF program fed
// from the channel table.
package relay
