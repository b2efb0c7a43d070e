// Command barehttp is the baseline for the token endpoint benchmarks: a
// bare net/http server answering every request with a small fixed JSON body,
// about the size of a Twilio token response. Whatever turnkey's API achieves
// below it on the same box is the cost of its routing, authentication,
// store and token minting.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// body is shaped like a Tokens.json answer (ice_servers with credentials).
const body = `{"account_sid":"AC00000000000000000000000000000000","date_created":"Mon, 01 Jan 2024 00:00:00 +0000",` +
	`"ice_servers":[{"url":"stun:127.0.0.1:3478","urls":"stun:127.0.0.1:3478"},` +
	`{"url":"turn:127.0.0.1:3478?transport=udp","urls":"turn:127.0.0.1:3478?transport=udp","username":"1700000000:bench","credential":"AAAAAAAAAAAAAAAAAAAAAAAAAAA="}],` +
	`"password":"AAAAAAAAAAAAAAAAAAAAAAAAAAA=","ttl":"86400","username":"1700000000:bench"}`

func main() {
	listen := flag.String("listen", "127.0.0.1:8099", "address to serve on (loopback)")
	maxLife := flag.Duration("max-lifetime", time.Hour, "exit by itself after this long")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("barehttp: -listen %q must be a loopback address", *listen)
	}
	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Drain the form body as a real handler would parse it.
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(body))
		}),
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		select {
		case <-sig:
		case <-time.After(*maxLife):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatalf("barehttp: %v", err)
	}
}
