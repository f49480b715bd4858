// Command benchrouter is the Go side of bench/router/run.sh: a small
// backend, and the paas router in front of it, each on a loopback address.
//
//	benchrouter backend -addr 127.0.0.1:18081
//	benchrouter router -addr 127.0.0.1:18082 -backend 127.0.0.1:18081 -host app.localhost
//	benchrouter bare -addr 127.0.0.1:18084 -backend 127.0.0.1:18081
//
// bare is a reference point: net/http/httputil's ReverseProxy alone, with
// a keep-alive transport and none of the router. Each serves until
// interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"paas/controller"
	"paas/router"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchrouter backend|router [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "backend":
		err = backend(ctx, os.Args[2:])
	case "router":
		err = runRouter(ctx, os.Args[2:])
	case "bare":
		err = bare(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrouter:", err)
		os.Exit(1)
	}
}

func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}

// backend answers every request with a short body, as a small app would.
func backend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18081", "loopback address to listen on")
	_ = fs.Parse(args)
	if err := loopback(*addr); err != nil {
		return err
	}
	body := []byte("hello from the backend\n")
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// runRouter serves the paas router with one app whose endpoints are the
// given backends.
func runRouter(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("router", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18082", "loopback address to listen on")
	backends := fs.String("backend", "127.0.0.1:18081", "comma-separated backend addresses")
	host := fs.String("host", "app.localhost", "the app's domain")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	_ = fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := loopback(*addr); err != nil {
		return err
	}
	var eps []controller.Endpoint
	for i, b := range strings.Split(*backends, ",") {
		if err := loopback(b); err != nil {
			return err
		}
		eps = append(eps, controller.Endpoint{Instance: fmt.Sprintf("web.%d", i+1), Release: 1, Address: b})
	}
	// Every connection comes from 127.0.0.1: no per-client cap.
	r, err := router.New(router.Options{MaxConnsPerClient: -1, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "app", Domains: []string{*host}, Endpoints: eps},
	}})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	return r.Serve(ctx, ln)
}

// bare serves a plain httputil.ReverseProxy to one backend.
func bare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18084", "loopback address to listen on")
	backend := fs.String("backend", "127.0.0.1:18081", "backend address")
	_ = fs.Parse(args)
	if err := loopback(*addr); err != nil {
		return err
	}
	if err := loopback(*backend); err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: *backend})
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
