package main

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// runAllocs measures allocations per second: workers repeat the full
// sequence (401 round trip, authenticated Allocate, CreatePermission,
// ChannelBind) on fresh sockets for -duration. Each allocation is released
// right after it is timed, untimed, so the server's port range and the
// client's descriptors never run out: the figure is a churn rate, calls
// starting and ending.
func runAllocs(cfg *config, peer *net.UDPAddr) (*result, error) {
	src := &sources{ips: cfg.clientIPs, sequential: true}
	var index atomic.Int64
	var ok, failed, retrans, relFailed atomic.Int64
	var mu sync.Mutex
	var h histogram
	errs := map[string]int{}

	var selfA, srvA, sysA cpuSample
	start := time.Now()
	deadline := start.Add(cfg.duration)
	selfA, srvA, sysA = sampleCPU(0), sampleCPU(cfg.serverPID), sampleSystemCPU()
	mA := sampleMachine()
	var wg sync.WaitGroup
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local histogram
			for time.Now().Before(deadline) {
				i := int(index.Add(1) - 1)
				t0 := time.Now()
				a, err := openAllocation(cfg, src, i, peer, true, true)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					errs[errKind(err)]++
					mu.Unlock()
					continue
				}
				local.record(time.Since(t0))
				ok.Add(1)
				retrans.Add(int64(a.ctl.retransmissions))
				if err := a.close(); err != nil {
					relFailed.Add(1)
					mu.Lock()
					errs["release: "+errKind(err)]++
					mu.Unlock()
				}
			}
			mu.Lock()
			h.merge(&local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	selfB, srvB, sysB := sampleCPU(0), sampleCPU(cfg.serverPID), sampleSystemCPU()
	mB := sampleMachine()
	if ok.Load() == 0 && failed.Load() > 0 {
		for k, v := range errs {
			return nil, fmt.Errorf("allocs: every allocation failed (%dx %s)", v, k)
		}
	}
	r := &result{
		Label: cfg.label, Mode: "allocs", Server: cfg.server, Transport: cfg.transport,
		Concurrency: cfg.concurrency, DurationS: elapsed.Seconds(),
		OK: ok.Load(), Failed: failed.Load(), Retransmits: retrans.Load(),
		Rate:     float64(ok.Load()) / cfg.duration.Seconds(),
		LatP50ms: ms(h.quantile(0.5)), LatP99ms: ms(h.quantile(0.99)),
		Errors:    errs,
		ClientCPU: cpuPercent(selfA, selfB), ServerCPU: cpuPercent(srvA, srvB), ServerPID: cfg.serverPID,
		ServerSysCPU: sysPercent(srvA, srvB),
	}
	r.OtherCPU = otherCPU(cpuPercent(sysA, sysB), r.ClientCPU, r.ServerCPU)
	r.setMachine(mA, mB, mB, runtime.NumCPU())
	r.ServerUsPerAlloc = perUnit(r.ServerCPU, r.Rate)
	r.MachineUsPerAlloc = perUnit(r.MachineCPU, r.Rate)
	return r, nil
}
