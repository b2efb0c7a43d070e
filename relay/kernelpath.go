package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnkey-dev/turnkey/relay/internal/kernelpath"
)

// Kernel offload modes (Config.KernelOffload).
const (
	// OffloadAuto attaches the kernel fast path when it can and otherwise
	// logs one line saying why and relays in userspace.
	OffloadAuto = "auto"
	// OffloadOn fails start-up when the kernel fast path cannot attach.
	OffloadOn = "on"
	// OffloadOff never loads it; it is also what an empty mode means.
	OffloadOff = "off"
)

// kernelOffload feeds the kernel fast path (internal/kernelpath) from the
// channel table: its watch hook is told every change in order per channel
// and installs a channel in the kernel only while userspace would relay
// it there too, on the fast path, unchanged:
//
//   - a UDP client whose address, the listener's, the relay's and the
//     peer's are of one family (stream clients stay in userspace);
//   - a live permission (a permission going off removes the entry in the
//     same call, before pion's next packet could be refused);
//   - no bandwidth limit on the allocation: limited allocations stay in
//     userspace, where the token bucket is exact;
//   - a peer the host-port guard lets through; entries to this host are
//     checked again whenever the guard's inputs change (a relay port
//     closing, host addresses, the allow-list).
//
// Each entry owns a counter slot; the kernel's packets and bytes are added
// to the allocation's counters when the entry goes, and read live at
// scrape, so metrics and usage are the same whichever path relayed.
type kernelOffload struct {
	s    *Server
	path *kernelpath.Path

	mu      sync.Mutex
	entries map[chanKey]*kernelEntry
	free    []uint32 // released slots, reused oldest first
	next    uint32   // slots below next have been handed out
	removed kernelpath.Counters
	// local holds the entries whose peer is on this host, the only ones
	// the host-port guard can turn against later; byAlloc the entries of
	// each allocation's counters, for its live view.
	local   map[chanKey]*kernelEntry
	byAlloc map[*allocCounters]map[chanKey]*kernelEntry
	// recheckFn checks every entry again, for hostAddrs.changed: an
	// address added to this host may be some entry's peer.
	recheckFn func()
	closed    bool
}

type kernelEntry struct {
	e        kernelpath.Entry
	base     kernelpath.Counters // the slot's reading at install
	counters *allocCounters
	peer     netip.AddrPort // as the host-port guard checks it
}

// startKernelOffload applies mode. It returns nil with the reason logged
// once when auto cannot attach, and an error when on cannot.
func startKernelOffload(s *Server, mode string, log *slog.Logger) (*kernelOffload, error) {
	switch mode {
	case "", OffloadOff:
		return nil, nil
	case OffloadAuto, OffloadOn:
	default:
		return nil, fmt.Errorf("relay: kernel offload %q: want auto, on or off", mode)
	}
	ifaces, err := offloadInterfaces()
	var path *kernelpath.Path
	if err == nil {
		path, err = kernelpath.Open(ifaces)
	}
	if errors.Is(err, os.ErrPermission) {
		err = fmt.Errorf("needs root, or CAP_BPF and CAP_NET_ADMIN: %w", err)
	}
	if err != nil {
		if mode == OffloadOn {
			return nil, fmt.Errorf("relay: kernel offload on: %w", err)
		}
		log.Info("relay: kernel fast path not attached; relaying in userspace (turn.kernel_offload: off silences this)", "err", err)
		return nil, nil
	}
	log.Info("relay: kernel fast path attached", "interfaces", path.Interfaces())
	k := &kernelOffload{s: s, path: path, entries: map[chanKey]*kernelEntry{}, local: map[chanKey]*kernelEntry{},
		byAlloc: map[*allocCounters]map[chanKey]*kernelEntry{}}
	k.recheckFn = func() { k.check(k.entries) }
	return k, nil
}

// offloadInterfaces lists the interfaces the program attaches to: every
// interface up now with an Ethernet header (loopback included). Clients
// and peers reach the relay through them; an interface added later is not
// attached until a restart.
func offloadInterfaces() ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("relay: list interfaces: %w", err)
	}
	var out []net.Interface
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp != 0 && (ifc.Flags&net.FlagLoopback != 0 || len(ifc.HardwareAddr) == 6) {
			out = append(out, ifc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("relay: no Ethernet or loopback interface is up")
	}
	return out, nil
}

// watch is the channel table's hook.
func (k *kernelOffload) watch(c ChannelChange) {
	key := chanKey{client: c.Client, server: c.Server, tcp: c.TCP, number: c.Number}
	if c.TCP {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.removeLocked(key)
	if k.closed || !c.Bound || !c.Permitted {
		return
	}
	rc := k.s.chans.relayAt(c.Relay)
	if rc == nil || rc.udp == nil || rc.st.up != nil || k.s.isHostPort(c.Peer) {
		return
	}
	e, ok := k.entryFor(c)
	if !ok {
		return
	}
	slot, ok := k.takeSlot()
	if !ok {
		return // every slot in use: this channel stays in userspace
	}
	e.Slot = slot
	base, err := k.path.Counters(slot)
	if err == nil {
		err = k.path.Install(e)
	}
	if err != nil {
		k.free = append(k.free, slot)
		k.s.log.Warn("relay: kernel fast path: channel stays in userspace", "err", err)
		return
	}
	ent := &kernelEntry{e: e, base: base, counters: rc.st.counters, peer: c.Peer}
	k.entries[key] = ent
	if k.s.hostAddrs.isLocal(c.Peer.Addr()) {
		k.local[key] = ent
	}
	if k.byAlloc[ent.counters] == nil {
		k.byAlloc[ent.counters] = map[chanKey]*kernelEntry{}
	}
	k.byAlloc[ent.counters][key] = ent
}

// entryFor is c as the kernel relays it, if it can: one address family
// throughout (a client reaching an IPv4 relay over IPv6 is relayed in
// userspace).
func (k *kernelOffload) entryFor(c ChannelChange) (kernelpath.Entry, bool) {
	relay, _ := k.s.relays.toLocal(c.Relay.Addr())
	peer, _ := k.s.relays.toLocal(c.Peer.Addr())
	e := kernelpath.Entry{Client: c.Client, Server: c.Server, Number: c.Number,
		Relay: netip.AddrPortFrom(relay.Unmap(), c.Relay.Port()), Peer: netip.AddrPortFrom(peer.Unmap(), c.Peer.Port())}
	v4 := c.Client.Addr().Unmap().Is4()
	srv := c.Server.Addr().Unmap()
	ok := e.Relay.Addr().Is4() == v4 && e.Peer.Addr().Is4() == v4 && (srv.Is4() == v4 || srv.IsUnspecified())
	return e, ok
}

func (k *kernelOffload) takeSlot() (uint32, bool) {
	if len(k.free) > 0 {
		s := k.free[0]
		k.free = k.free[1:]
		return s, true
	}
	if int(k.next) < k.path.Slots() {
		k.next++
		return k.next - 1, true
	}
	return 0, false
}

// removeLocked takes key's entry out of the kernel and adds what the
// kernel relayed on it to the allocation's counters.
func (k *kernelOffload) removeLocked(key chanKey) {
	ent := k.entries[key]
	if ent == nil {
		return
	}
	delete(k.entries, key)
	delete(k.local, key)
	if m := k.byAlloc[ent.counters]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(k.byAlloc, ent.counters)
		}
	}
	leak := false
	if err := k.path.Remove(ent.e); err != nil {
		// Only a broken map fails here; its slot is never reused, so
		// whatever is left counts into no other channel.
		k.s.log.Error("relay: kernel fast path: remove entry", "err", err)
		leak = true
	}
	d := k.delta(ent)
	c := ent.counters
	c.packetsUp.Add(d.UpPackets)
	c.bytesUp.Add(d.UpBytes)
	c.packetsDown.Add(d.DownPackets)
	c.bytesDown.Add(d.DownBytes)
	k.removed = sum(k.removed, d)
	if !leak {
		k.free = append(k.free, ent.e.Slot)
	}
}

// delta is what the kernel relayed on ent since it was installed.
func (k *kernelOffload) delta(ent *kernelEntry) kernelpath.Counters {
	cur, err := k.path.Counters(ent.e.Slot)
	if err != nil {
		return kernelpath.Counters{}
	}
	return cur.Sub(ent.base)
}

func sum(a, b kernelpath.Counters) kernelpath.Counters {
	return kernelpath.Counters{UpPackets: a.UpPackets + b.UpPackets, UpBytes: a.UpBytes + b.UpBytes,
		DownPackets: a.DownPackets + b.DownPackets, DownBytes: a.DownBytes + b.DownBytes}
}

// recheck removes the entries whose peer the host-port guard now blocks:
// called after a relay port closes, host addresses change or the
// allow-list is replaced. Only peers on this host can change verdict.
func (k *kernelOffload) recheck() {
	if k != nil {
		k.check(k.local)
	}
}

// check removes the entries of m (k.entries or k.local) that the guard
// blocks now.
func (k *kernelOffload) check(m map[chanKey]*kernelEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, ent := range m {
		if k.s.isHostPort(ent.peer) {
			k.removeLocked(key)
		}
	}
}

// eachLive calls f with the kernel's traffic of every live entry; k.mu
// must be held (relayStats.totals holds it while it also reads the
// allocations' own counters, so an entry moving its counts over at
// removal is never seen twice or not at all).
func (k *kernelOffload) eachLive(f func(c *allocCounters, u usage)) {
	for _, ent := range k.entries {
		d := k.delta(ent)
		f(ent.counters, usage{BytesUp: d.UpBytes, BytesDown: d.DownBytes, PacketsUp: d.UpPackets, PacketsDown: d.DownPackets})
	}
}

// counted is c's traffic including what the kernel relayed for it and has
// not yet moved into c (read under k.mu, so never twice). k may be nil.
func (k *kernelOffload) counted(c *allocCounters) usage {
	var u usage
	if k == nil {
		u.add(c)
		return u
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	u.add(c)
	for _, ent := range k.byAlloc[c] {
		d := k.delta(ent)
		u.plus(usage{BytesUp: d.UpBytes, BytesDown: d.DownBytes, PacketsUp: d.UpPackets, PacketsDown: d.DownPackets})
	}
	return u
}

// totals is the kernel's traffic, live and removed, and the entries now.
func (k *kernelOffload) totals() (kernelpath.Counters, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.removed
	for _, ent := range k.entries {
		t = sum(t, k.delta(ent))
	}
	return t, len(k.entries)
}

// close detaches the program; the allocations have ended by now, so
// every entry has been removed and counted.
func (k *kernelOffload) close() {
	if k == nil {
		return
	}
	k.mu.Lock()
	for key := range k.entries {
		k.removeLocked(key)
	}
	k.closed = true
	k.mu.Unlock()
	if err := k.path.Close(); err != nil {
		k.s.log.Error("relay: kernel fast path: detach", "err", err)
	}
}

// kernelStats is the kernel path's Prometheus collector; it reports
// zeros when the path is not attached.
type kernelStats struct {
	s *Server

	attachedDesc, entriesDesc, packetsDesc, bytesDesc *prometheus.Desc
}

func newKernelStats(s *Server) *kernelStats {
	return &kernelStats{s: s,
		attachedDesc: prometheus.NewDesc("turnkey_kernel_offload_attached",
			"1 when the kernel fast path (eBPF on TCX ingress) is attached, else 0.", nil, nil),
		entriesDesc: prometheus.NewDesc("turnkey_kernel_offload_entries",
			"Channels installed in the kernel fast path now.", nil, nil),
		packetsDesc: prometheus.NewDesc("turnkey_kernel_relay_packets_total",
			"Packets relayed by the kernel fast path, by direction (included in turnkey_relay_packets_total).", []string{"direction"}, nil),
		bytesDesc: prometheus.NewDesc("turnkey_kernel_relay_bytes_total",
			"Payload bytes relayed by the kernel fast path, by direction (included in turnkey_relay_bytes_total).", []string{"direction"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (ks *kernelStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- ks.attachedDesc
	ch <- ks.entriesDesc
	ch <- ks.packetsDesc
	ch <- ks.bytesDesc
}

// Collect implements prometheus.Collector.
func (ks *kernelStats) Collect(ch chan<- prometheus.Metric) {
	var (
		t        kernelpath.Counters
		n        int
		attached float64
	)
	if k := ks.s.kernel; k != nil {
		t, n = k.totals()
		attached = 1
	}
	ch <- prometheus.MustNewConstMetric(ks.attachedDesc, prometheus.GaugeValue, attached)
	ch <- prometheus.MustNewConstMetric(ks.entriesDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(ks.packetsDesc, prometheus.CounterValue, float64(t.UpPackets), dirClientToPeer)
	ch <- prometheus.MustNewConstMetric(ks.packetsDesc, prometheus.CounterValue, float64(t.DownPackets), dirPeerToClient)
	ch <- prometheus.MustNewConstMetric(ks.bytesDesc, prometheus.CounterValue, float64(t.UpBytes), dirClientToPeer)
	ch <- prometheus.MustNewConstMetric(ks.bytesDesc, prometheus.CounterValue, float64(t.DownBytes), dirPeerToClient)
}
