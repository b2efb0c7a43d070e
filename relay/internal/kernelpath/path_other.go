//go:build !linux || !(amd64 || arm64)

package kernelpath

import (
	"errors"
	"net"
	"net/netip"
)

// Path is not available on this platform: Open always fails and the relay
// stays on its userspace path.
type Path struct{}

var errUnsupported = errors.New("kernelpath: the kernel fast path needs Linux on amd64 or arm64")

// Open fails: no eBPF here.
func Open([]net.Interface) (*Path, error) { return nil, errUnsupported }

// Interfaces names the interfaces the program is attached to.
func (*Path) Interfaces() string { return "" }

// Slots is the number of counter slots.
func (*Path) Slots() int { return 0 }

// Close does nothing.
func (*Path) Close() error { return nil }

// Entry is one channel as the kernel relays it.
type Entry struct {
	Slot           uint32
	Client, Server netip.AddrPort
	Number         uint16
	Relay, Peer    netip.AddrPort
}

// Install fails.
func (*Path) Install(Entry) error { return errUnsupported }

// Remove fails.
func (*Path) Remove(Entry) error { return errUnsupported }

// Counters are a slot's totals.
type Counters struct {
	UpPackets, UpBytes, DownPackets, DownBytes uint64
}

// Sub is c minus an earlier reading.
func (c Counters) Sub(base Counters) Counters {
	return Counters{c.UpPackets - base.UpPackets, c.UpBytes - base.UpBytes,
		c.DownPackets - base.DownPackets, c.DownBytes - base.DownBytes}
}

// Counters fails.
func (*Path) Counters(uint32) (Counters, error) { return Counters{}, errUnsupported }
