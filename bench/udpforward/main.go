// Command udpforward is the physical baseline for relay benchmarks: a plain
// UDP forwarder with the same shape as a TURN relay but no protocol.
//
// Each client address gets its own "relay" socket connected to the peer, as a
// TURN allocation does: client -> listen socket -> relay socket -> peer, and
// the peer's reply -> relay socket -> listen socket -> client. What it lacks is
// everything a TURN server adds per packet: ChannelData parsing, permission
// and channel lookups, authentication. Whatever a TURN server achieves below
// this forwarder on the same box is the cost of those.
//
// It listens with one SO_REUSEPORT socket per core and moves datagrams in
// batches (recvmmsg/sendmmsg), as fast as the kernel allows here.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3490", "address clients send to (loopback only)")
	peer := flag.String("peer", "127.0.0.1:3480", "address every packet is forwarded to")
	sockets := flag.Int("sockets", runtime.NumCPU(), "SO_REUSEPORT listen sockets")
	batch := flag.Int("batch", 64, "datagrams per recvmmsg/sendmmsg")
	bufBytes := flag.Int("sockbuf", 4<<20, "socket buffer bytes (capped by net.core.[rw]mem_max)")
	idle := flag.Duration("idle", 30*time.Second, "close a client's relay socket after this long without traffic")
	maxLife := flag.Duration("max-lifetime", time.Hour, "exit by itself after this long, so a forgotten forwarder stops")
	flag.Parse()

	if err := checkLoopback(*listen, *peer); err != nil {
		log.Fatalf("udpforward: %v", err)
	}
	peerAddr, err := net.ResolveUDPAddr("udp4", *peer)
	if err != nil {
		log.Fatalf("udpforward: peer %q: %v", *peer, err)
	}
	f, err := newForwarder(*listen, peerAddr, *sockets, *batch, *bufBytes, *idle)
	if err != nil {
		log.Fatalf("udpforward: %v", err)
	}
	fmt.Printf("udpforward listening on %s, forwarding to %s with %d sockets\n", f.addr(), peerAddr, *sockets)
	go f.run()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-time.After(*maxLife):
	}
	f.close()
}

// checkLoopback refuses any non-loopback address: the forwarder is a test
// instrument and must never send traffic off the machine.
func checkLoopback(addrs ...string) error {
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("address %q: %w", a, err)
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("address %q is not a loopback address", a)
		}
	}
	return nil
}
