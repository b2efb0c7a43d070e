package relay

import (
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// watch keeps the snapshot current: it subscribes to the kernel's address
// events (netlink RTM_NEWADDR/RTM_DELADDR, IPv4 and IPv6) and takes the
// snapshot again after each batch. Subscribing comes before the snapshot is
// taken again, so no address added in between is missed. It returns a
// function that stops the watch.
func (h *hostAddrs) watch(onErr func(error)) (func(), error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("relay: netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("relay: netlink bind: %w", err)
	}
	// A bounded wait lets the loop notice the stop.
	tv := unix.Timeval{Usec: 200_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("relay: netlink timeout: %w", err)
	}
	h.refresh()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(fd)
		buf := make([]byte, 16<<10)
		for !stop.Load() {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			switch {
			case n > 0:
				h.refresh()
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			case errors.Is(err, unix.ENOBUFS):
				h.refresh() // events were lost: look again
			case err != nil:
				onErr(fmt.Errorf("relay: netlink address events: %w", err))
				return
			}
		}
	}()
	return func() { stop.Store(true); <-done }, nil
}
