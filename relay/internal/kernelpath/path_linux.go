//go:build linux && (amd64 || arm64)

package kernelpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Path is the loaded program, its maps and its TCX links. Closing it
// detaches the program; the links belong to this process's file
// descriptors, so a process that dies leaves nothing attached.
type Path struct {
	objs  kernelpathObjects
	links []link.Link
	names []string
	mem   *ebpf.Memory

	mu     sync.Mutex
	closed bool
}

// Open loads the program and attaches it to the TCX ingress of every
// interface given. It fails, with nothing left loaded or attached, if any
// step fails: no privilege (CAP_BPF and CAP_NET_ADMIN), a kernel without
// TCX (Linux 6.6), an interface that vanished.
func Open(ifaces []net.Interface) (*Path, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("kernelpath: no interface to attach to")
	}
	p := &Path{}
	if err := loadKernelpathObjects(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("kernelpath: load program: %w", err)
	}
	mem, err := p.objs.Slots.Memory()
	if err != nil {
		p.objs.Close()
		return nil, fmt.Errorf("kernelpath: map counters: %w", err)
	}
	p.mem = mem
	for _, ifc := range ifaces {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: p.objs.TurnkeyIngress, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("kernelpath: attach to %s: %w", ifc.Name, err)
		}
		p.links = append(p.links, l)
		p.names = append(p.names, ifc.Name)
	}
	return p, nil
}

// Interfaces names the interfaces the program is attached to.
func (p *Path) Interfaces() string { return strings.Join(p.names, ",") }

// Slots is the number of counter slots, one per installed channel.
func (p *Path) Slots() int { return int(p.objs.Slots.MaxEntries()) }

// Close detaches the program and frees its maps.
func (p *Path) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, p.objs.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kernelpath: close: %w", err)
	}
	return nil
}

// Entry is one channel as the kernel relays it: the client's 5-tuple
// (Server with an unspecified address: a wildcard listener, answered from
// the address the client last sent to), the channel number, the relay
// socket's local address and where the peer's datagrams go (the peer's
// local address behind 1:1 NAT). All addresses are of one family.
type Entry struct {
	Slot           uint32
	Client, Server netip.AddrPort
	Number         uint16
	Relay, Peer    netip.AddrPort
}

func (e *Entry) keys() (kernelpathUpKey, kernelpathDownKey) {
	var srv kernelpathAddr // zero: the wildcard
	if !e.Server.Addr().IsUnspecified() {
		srv = addr(e.Server.Addr())
	}
	return kernelpathUpKey{Client: addr(e.Client.Addr()), Server: srv, ClientPort: port(e.Client.Port()),
			ServerPort: port(e.Server.Port()), Number: port(e.Number)},
		kernelpathDownKey{Peer: addr(e.Peer.Addr()), Relay: addr(e.Relay.Addr()), PeerPort: port(e.Peer.Port()),
			RelayPort: port(e.Relay.Port())}
}

// Install adds both directions of e. A failure leaves neither installed.
func (p *Path) Install(e Entry) error {
	v4 := e.Client.Addr().Unmap().Is4()
	for _, a := range []netip.Addr{e.Client.Addr(), e.Relay.Addr(), e.Peer.Addr(), e.Server.Addr()} {
		if a.Unmap().Is4() != v4 && !(a == e.Server.Addr() && a.IsUnspecified()) {
			return fmt.Errorf("kernelpath: channel of %v mixes address families (%v)", e.Client, a)
		}
	}
	if int(e.Slot) >= p.Slots() {
		return fmt.Errorf("kernelpath: slot %d out of range", e.Slot)
	}
	uk, dk := e.keys()
	uv := kernelpathUpValue{Relay: dk.Relay, Peer: dk.Peer, RelayPort: dk.RelayPort, PeerPort: dk.PeerPort, Slot: e.Slot}
	dv := kernelpathDownValue{Client: uk.Client, Server: uk.Server, ClientPort: uk.ClientPort,
		ServerPort: uk.ServerPort, Number: uk.Number, Slot: e.Slot}
	// The slot's learned address starts empty (a wildcard listener
	// answers only once this client has sent on the channel); its
	// counters run on, the caller keeps their reading as the base.
	cur, err := p.Counters(e.Slot)
	if err != nil {
		return err
	}
	reset := kernelpathCounters{UpPackets: cur.UpPackets, UpBytes: cur.UpBytes, DownPackets: cur.DownPackets, DownBytes: cur.DownBytes}
	if err := p.objs.Slots.Put(e.Slot, &reset); err != nil {
		return fmt.Errorf("kernelpath: reset slot %d: %w", e.Slot, err)
	}
	if err := p.objs.Down.Put(&dk, &dv); err != nil {
		return fmt.Errorf("kernelpath: install %v→%v: %w", e.Peer, e.Relay, err)
	}
	if err := p.objs.Up.Put(&uk, &uv); err != nil {
		_ = p.objs.Down.Delete(&dk)
		return fmt.Errorf("kernelpath: install %v→%v channel %#x: %w", e.Client, e.Server, e.Number, err)
	}
	return nil
}

// Remove deletes both directions of e. Once it returns, no new packet is
// relayed on e (one already inside the program on another CPU finishes).
func (p *Path) Remove(e Entry) error {
	uk, dk := e.keys()
	err1 := p.objs.Up.Delete(&uk)
	err2 := p.objs.Down.Delete(&dk)
	var errs []error
	for _, err := range []error{err1, err2} {
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kernelpath: remove channel %#x of %v: %w", e.Number, e.Client, err)
	}
	return nil
}

// Counters are a slot's totals since the program was loaded: payload
// packets and bytes client→peer (Up) and peer→client (Down).
type Counters struct {
	UpPackets, UpBytes, DownPackets, DownBytes uint64
}

// Sub is c minus an earlier reading of the same slot.
func (c Counters) Sub(base Counters) Counters {
	return Counters{c.UpPackets - base.UpPackets, c.UpBytes - base.UpBytes,
		c.DownPackets - base.DownPackets, c.DownBytes - base.DownBytes}
}

const slotSize = 48 // sizeof(struct counters)

// Counters reads a slot without a system call (the map is mmapped).
func (p *Path) Counters(slot uint32) (Counters, error) {
	var b [32]byte
	if _, err := p.mem.ReadAt(b[:], int64(slot)*slotSize); err != nil {
		return Counters{}, fmt.Errorf("kernelpath: read slot %d: %w", slot, err)
	}
	le := binary.NativeEndian
	return Counters{le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])}, nil
}

// addr and port are an address (IPv4 as ::ffff:a.b.c.d) and a port in
// network byte order, as the program compares them.
func addr(a netip.Addr) kernelpathAddr {
	b := a.Unmap().As16()
	var k kernelpathAddr
	for i := range k.W {
		k.W[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	return k
}

func port(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}
