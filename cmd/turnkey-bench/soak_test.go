package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The soak keeps turnkey-soak's defaults, so bench/soak.sh and SOAK.md's
// figures mean the same as before it became a mode.
func TestSoakFlagDefaults(t *testing.T) {
	c, err := parseSoakFlags([]string{"-secret", "s", "-admin", "127.0.0.1:9641/"})
	if err != nil {
		t.Fatal(err)
	}
	o := c.soak
	if c.server != "127.0.0.1:3478" || c.allocs != 100000 || c.concurrency != 200 || c.duration != 30*time.Minute ||
		c.settle != 2*time.Minute || c.rto != 500*time.Millisecond || c.tries != 6 || c.realm != "turnkey" ||
		o.warmup != 1000 || o.goroutineOK != 5 || o.fdOK != 5 || o.rssOK != 8<<20 || c.identity != "soak" {
		t.Errorf("defaults changed: %+v", c)
	}
	if want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}; !slices.Equal(c.clientIPs, want) {
		t.Errorf("client IPs %v, want %v", c.clientIPs, want)
	}
	if o.admin != "http://127.0.0.1:9641" {
		t.Errorf("admin %q, want http://127.0.0.1:9641", o.admin)
	}
}

func TestSoakFlagErrors(t *testing.T) {
	for want, args := range map[string][]string{
		"-secret is required":                   {"-pid", "1"},
		"-admin or -pid is required":            {"-secret", "s"},
		"must be at least 1":                    {"-secret", "s", "-pid", "1", "-tries", "0"},
		"-client-ips is empty":                  {"-secret", "s", "-pid", "1", "-client-ips", " , "},
		`"192.0.2.1" is not an IPv4 loopback`:   {"-secret", "s", "-pid", "1", "-server", "192.0.2.1:3478"},
		`"example.com" is not an IPv4 loopback`: {"-secret", "s", "-admin", "http://example.com:9641"},
	} {
		if _, err := parseSoakFlags(args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one with %q", args, err, want)
		}
	}
}

func TestWithin(t *testing.T) {
	o := &soakOpts{goroutineOK: 5, fdOK: 5, rssOK: 8 << 20}
	base := soakSample{Goroutines: 10, Threads: 5, OpenFDs: 20, RSSBytes: 30 << 20, Allocations: 0}
	ok := base
	ok.Goroutines, ok.OpenFDs, ok.RSSBytes, ok.Threads = 15, 25, 38<<20, 50 // threads are not judged
	if !within(ok, base, o) {
		t.Error("counts at the tolerance are not within it")
	}
	unknown := soakSample{Goroutines: -1, Threads: -1, OpenFDs: -1, RSSBytes: -1, Allocations: -1}
	if !within(unknown, base, o) {
		t.Error("unknown counts count against the baseline")
	}
	for _, bump := range []func(*soakSample){
		func(s *soakSample) { s.Goroutines = 16 }, func(s *soakSample) { s.OpenFDs = 26 },
		func(s *soakSample) { s.RSSBytes = 38<<20 + 1 }, func(s *soakSample) { s.Allocations = 1 },
	} {
		s := base
		bump(&s)
		if within(s, base, o) {
			t.Errorf("%+v is within tolerance of %+v", s, base)
		}
	}
}

func TestProcStatus(t *testing.T) {
	rss, threads, err := procStatus(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if rss <= 0 || threads <= 0 {
		t.Errorf("rss %d, threads %d: want both positive", rss, threads)
	}
	if _, _, err := procStatus(-5); err == nil {
		t.Error("no error for a process that cannot exist")
	}
}
