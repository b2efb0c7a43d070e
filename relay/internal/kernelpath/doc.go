// Package kernelpath is turnkey's kernel fast path: an eBPF program on TCX
// ingress that relays UDP ChannelData both ways for the channels the relay
// installs, and the loader that attaches it and manages its maps.
//
// The relay (relay/kernelpath.go) decides what is installed, from its
// channel table; this package only knows entries, slots and interfaces.
// IPv4 and IPv6 (without extension headers); a channel is relayed in the
// family it arrived in.
package kernelpath

// The generated kernelpath_bpfel.go and kernelpath_bpfel.o are committed so
// that building turnkey needs no C compiler; CI regenerates them with
// Debian 12's clang 14 and libbpf-dev and compares.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-14 -strip llvm-strip-14 -target bpfel -type addr -type up_key -type up_value -type down_key -type down_value -type counters kernelpath kernelpath.c -- -O2 -Wall -Werror -I/usr/include/x86_64-linux-gnu
