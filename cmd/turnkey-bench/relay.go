package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"time"
)

// runRelay measures relayed traffic: N allocations, each bound to a channel
// towards the echo peer, sending ChannelData at -pps or flat out.
func runRelay(cfg *config, peer *net.UDPAddr) (*result, error) {
	as, err := openMany(cfg, cfg.allocs, peer, true, true, false)
	if err != nil {
		return nil, fmt.Errorf("relay: opening allocations: %w", err)
	}
	defer closeMany(as, cfg.concurrency)
	flows := make([]*flow, len(as))
	for i, a := range as {
		dc, err := newDataConn(a.w, channelNumber, cfg.size)
		if err != nil {
			return nil, fmt.Errorf("relay: data path %d: %w", i, err)
		}
		flows[i] = &flow{id: uint32(i), dc: dc}
	}
	r := measure(cfg, flows)
	r.Mode = "relay"
	r.RelayedPPS = 2 * r.PPS
	r.setPerPacket()
	return r, nil
}

// runBaseline sends the same payloads, unframed, through the plain
// forwarder: the same path shape with no TURN.
func runBaseline(cfg *config) (*result, error) {
	raddr, err := net.ResolveUDPAddr("udp4", cfg.server)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	src := &sources{ips: cfg.clientIPs}
	flows := make([]*flow, cfg.allocs)
	for i := range flows {
		ip, _ := src.pick()
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)}, raddr)
		if err != nil {
			return nil, fmt.Errorf("baseline: dial %s: %w", raddr, err)
		}
		defer c.Close()
		dc, err := newUDPFrames(c, 0, cfg.size)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		flows[i] = &flow{id: uint32(i), dc: dc}
	}
	r := measure(cfg, flows)
	r.Mode = "baseline"
	r.Transport = "udp"
	r.RelayedPPS = 2 * r.PPS
	r.setPerPacket()
	return r, nil
}

// measure runs the load and turns the counters into a result.
func measure(cfg *config, flows []*flow) *result {
	var selfA, selfB, srvA, srvB, sysA, sysB cpuSample
	var mA, mB machineSample
	plan := loadPlan{pps: cfg.pps, window: cfg.window, warmup: cfg.warmup, duration: cfg.duration, drain: cfg.drain}
	out := runLoad(flows, plan, func(start bool) {
		if start {
			selfA, srvA, sysA, mA = sampleCPU(0), sampleCPU(cfg.serverPID), sampleSystemCPU(), sampleMachine()
		} else {
			selfB, srvB, sysB, mB = sampleCPU(0), sampleCPU(cfg.serverPID), sampleSystemCPU(), sampleMachine()
		}
	})
	mC := sampleMachine()
	var h histogram
	var sent, recv int64
	for _, f := range flows {
		sent += f.sentWin
		recv += f.recvWin
		h.merge(&f.hist)
	}
	secs := cfg.duration.Seconds()
	r := &result{
		Label: cfg.label, Server: cfg.server, Transport: cfg.transport,
		Flows: len(flows), Size: cfg.size, TargetPPS: cfg.pps, WarmupS: cfg.warmup.Seconds(), DurationS: secs,
		OfferedPPS: float64(sent) / secs, PPS: float64(recv) / secs,
		Sent: sent, Received: recv, Lost: max(0, sent-recv),
		RTTP50us: us(h.quantile(0.50)), RTTP90us: us(h.quantile(0.90)), RTTP99us: us(h.quantile(0.99)),
		RTTMaxus: us(time.Duration(h.max)), SendErrors: out.sendErrors,
		ClientCPU: cpuPercent(selfA, selfB), ServerCPU: cpuPercent(srvA, srvB), ServerPID: cfg.serverPID,
		ServerSysCPU: sysPercent(srvA, srvB),
	}
	r.OtherCPU = otherCPU(cpuPercent(sysA, sysB), r.ClientCPU, r.ServerCPU)
	r.setMachine(mA, mB, mC, runtime.NumCPU())
	if cfg.pps == 0 {
		r.Window = cfg.window
	}
	r.Mbps = r.PPS * float64(cfg.size) * 8 / 1e6
	if sent > 0 {
		r.LossPct = float64(r.Lost) / float64(sent) * 100
	}
	if recv > sent {
		fmt.Fprintf(os.Stderr, "turnkey-bench: received %d > sent %d: duplicated packets\n", recv, sent)
	}
	return r
}

// setPerPacket derives CPU per relayed packet once RelayedPPS is known.
func (r *result) setPerPacket() {
	r.ServerUsPerPkt = perUnit(r.ServerCPU, r.RelayedPPS)
	r.ServerSysUsPerPkt = perUnit(r.ServerSysCPU, r.RelayedPPS)
	r.MachineUsPerPkt = perUnit(r.MachineCPU, r.RelayedPPS)
}
