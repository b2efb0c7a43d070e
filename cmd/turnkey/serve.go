package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// runServe is `turnkey serve`: it starts the node the configuration
// describes and runs it until a signal ends it.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("turnkey serve", flag.ContinueOnError)
	cfg, reload, code, ok := loadConfigReloadable(fs, args, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "turnkey serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, stderr)
	slog.SetDefault(log)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	n, err := startNode(cfg, log, level, stdout)
	if err != nil {
		log.Error("turnkey: start failed", "err", err)
		return 1
	}
	n.reloadConfig = reload
	return n.wait(sigs)
}

// wait runs until a signal ends the process: SIGHUP reloads, the first
// SIGTERM/SIGINT drains, a second one exits at once.
func (n *node) wait(sigs <-chan os.Signal) int {
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			n.reload()
			continue
		}
		n.log.Info("turnkey: draining", "signal", sig.String(), "timeout", n.cfg.DrainTimeout.String())
		done := make(chan int, 1)
		go func() { done <- n.drain() }()
		for {
			select {
			case code := <-done:
				return code
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					// A reload (say, a certificate renewal hook) must not
					// cut a drain short.
					n.reload()
					continue
				}
				n.log.Warn("turnkey: second signal, exiting now", "signal", sig.String())
				n.cancel()
				return 1
			}
		}
	}
	return 0
}

// drain turns unready, refuses new allocations, waits for live ones up to
// the drain timeout, then shuts everything down.
func (n *node) drain() int {
	n.draining.set()
	if n.relay != nil {
		if left := n.relay.Drain(time.Now().Add(n.cfg.DrainTimeout.D())); left > 0 {
			n.log.Warn("turnkey: drain timeout passed; closing live allocations", "allocations", left)
		}
	}
	n.shutdown()
	n.log.Info("turnkey: stopped")
	return 0
}
