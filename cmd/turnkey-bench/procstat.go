package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// cpuSample is a process's user+system CPU time at an instant, from
// /proc/PID/stat, so a run can say which process used the cores; sys is
// the system part, so it can also say how much of that was the kernel's
// work on the process's behalf (its syscalls and what they trigger).
type cpuSample struct {
	at         time.Time
	ticks, sys int64
	ok         bool
}

func sampleCPU(pid int) cpuSample {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuSample{}
	}
	// The command name may contain spaces; fields resume after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuSample{}
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return cpuSample{}
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15 stime
	if err1 != nil || err2 != nil {
		return cpuSample{}
	}
	return cpuSample{at: time.Now(), ticks: ut + st, sys: st, ok: true}
}

// cpuPercent is the CPU used between two samples, in percent of one core.
func cpuPercent(a, b cpuSample) float64 { return percent(a, b, b.ticks-a.ticks) }

// sysPercent is the system part of cpuPercent.
func sysPercent(a, b cpuSample) float64 { return percent(a, b, b.sys-a.sys) }

// percent is ticks between samples a and b in percent of one core; -1 when
// either sample failed.
func percent(a, b cpuSample, ticks int64) float64 {
	if !a.ok || !b.ok || !b.at.After(a.at) {
		return -1
	}
	return float64(ticks) / clockTicks / b.at.Sub(a.at).Seconds() * 100
}

// rssBytes reads VmRSS from /proc/PID/status; -1 when unknown.
func rssBytes(pid int) int64 {
	rss, _, _ := procStatus(pid)
	return rss
}

// procStatus reads VmRSS (bytes) and Threads from /proc/PID/status; a
// field not found is -1.
func procStatus(pid int) (rss, threads int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1, fmt.Errorf("read process status: %w", err)
	}
	rss, threads = -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		key, val, _ := strings.Cut(line, ":")
		var dst *int64
		shift := 0
		switch key {
		case "VmRSS":
			dst, shift = &rss, 10 // kB
		case "Threads":
			dst = &threads
		default:
			continue
		}
		if f := strings.Fields(val); len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				*dst = n << shift
			}
		}
	}
	return rss, threads, nil
}

// sampleSystemCPU is the whole machine's busy time (all cores, everything
// but idle and iowait) from /proc/stat, so a run can tell how much of the
// two cores went to processes that are neither client nor server: on a
// shared box, builds running beside the benchmark.
func sampleSystemCPU() cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return cpuSample{}
	}
	var busy int64
	for i, s := range f[1:] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return cpuSample{}
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		busy += v
	}
	return cpuSample{at: time.Now(), ticks: busy, ok: true}
}

// otherCPU is what the rest of the machine used: total minus the parts
// accounted for, never below zero.
func otherCPU(total float64, parts ...float64) float64 {
	if total < 0 {
		return -1
	}
	for _, p := range parts {
		if p > 0 {
			total -= p
		}
	}
	return max(0, total)
}

// machineSample is the whole machine at an instant: /proc/stat's busy and
// total ticks (all cores), the UDP receive-buffer drops of /proc/net/snmp
// and the 1-minute load average, so a run shows how loaded the box was and
// whether the kernel dropped datagrams on a full socket.
type machineSample struct {
	at           time.Time
	busy, total  int64
	rcvbufErrors int64
	inErrors     int64
	load1        float64
	ok, snmpOK   bool
}

func sampleMachine() machineSample {
	m := machineSample{at: time.Now(), load1: -1}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		m.busy, m.total, m.ok = parseProcStat(string(b))
	}
	if b, err := os.ReadFile("/proc/net/snmp"); err == nil {
		m.rcvbufErrors, m.inErrors, m.snmpOK = parseSnmpUDP(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				m.load1 = v
			}
		}
	}
	return m
}

// parseProcStat sums the aggregate "cpu" line: busy is everything but idle
// and iowait, total everything (guest time is already in user).
func parseProcStat(s string) (busy, total int64, ok bool) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, x := range f[1:] {
		if i >= 8 {
			break
		}
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, true
}

// parseSnmpUDP reads RcvbufErrors and InErrors from the "Udp:" header and
// value lines of /proc/net/snmp.
func parseSnmpUDP(s string) (rcvbuf, inErrs int64, ok bool) {
	var names []string
	for _, line := range strings.Split(s, "\n") {
		rest, found := strings.CutPrefix(line, "Udp: ")
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		var gotR, gotI bool
		for i, n := range names {
			if i >= len(f) {
				break
			}
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				continue
			}
			switch n {
			case "RcvbufErrors":
				rcvbuf, gotR = v, true
			case "InErrors":
				inErrs, gotI = v, true
			}
		}
		return rcvbuf, inErrs, gotR && gotI
	}
	return 0, 0, false
}
