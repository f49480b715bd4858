package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"paas/router/internal/proxy"
)

// Serve serves HTTP on ln with the edge limits of the options until ctx
// ends, then shuts down gracefully within Options.ShutdownTimeout. It
// closes ln.
func (r *Router) Serve(ctx context.Context, ln net.Listener) error {
	return r.ServeWith(ctx, ln, r.newServer())
}

// ServeWith serves plain HTTP on ln as Serve does, handing srv the
// connections whose requests are not for the router's fast path (see
// below); srv's Handler must send apps' requests to r, and srv's
// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes, when set, bound the
// fast path too. It shuts srv down with the rest when ctx ends.
//
// The fast path proxies the plain HTTP/1.1 requests for an app's exact
// domain on the connection's own goroutine, without net/http; the rest
// (WebSocket upgrades, chunked request bodies, HTTP/1.0, wildcard domains,
// unknown hosts, redirects to HTTPS, ACME challenges, oversized or
// malformed heads) goes, connection and all, to srv.
func (r *Router) ServeWith(ctx context.Context, ln net.Listener, srv *http.Server) error {
	hl := &handOffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	var closing atomic.Bool
	cs := &proxy.ConnServer{
		Table:             r.handler.Load,
		Redirected:        r.redirected,
		ACME:              r.acme != nil,
		HandOff:           hl.handOff,
		ReadHeaderTimeout: orDefault(srv.ReadHeaderTimeout, r.opts.ReadHeaderTimeout),
		IdleTimeout:       orDefault(srv.IdleTimeout, r.opts.IdleTimeout),
		MaxHeaderBytes:    orDefault(srv.MaxHeaderBytes, r.opts.MaxHeaderBytes),
		Closing:           &closing,
	}

	var (
		mu    sync.Mutex
		conns = make(map[*proxy.Conn]struct{})
		wg    sync.WaitGroup
	)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(hl) }()
	acceptErr := make(chan error, 1)
	go func() {
		var wait time.Duration
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
					acceptErr <- nil
					return
				}
				// Out of file descriptors and the like: wait, as net/http does.
				wait = min(max(2*wait, 5*time.Millisecond), time.Second)
				r.log.Warn("accept failed; retrying", "err", err, "in", wait)
				time.Sleep(wait)
				continue
			}
			wait = 0
			lc, ok := r.conns.admit(c)
			if !ok {
				r.metrics.RefusedConns.Inc()
				go refuse(c)
				continue
			}
			c = lc
			fc := cs.NewConn(c)
			mu.Lock()
			conns[fc] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				cs.Serve(fc)
				mu.Lock()
				delete(conns, fc)
				mu.Unlock()
			}()
		}
	}()

	// A request's client may leave while the app thinks; its goroutine is
	// blocked on the app then, so this one looks for such clients.
	watchDone := make(chan struct{})
	go func() {
		t := time.NewTicker(goneCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-watchDone:
				return
			case now := <-t.C:
				mu.Lock()
				for fc := range conns {
					fc.WatchGone(now, goneCheckEvery)
				}
				mu.Unlock()
			}
		}
	}()
	defer close(watchDone)

	var err error
	select {
	case err = <-srvErr:
		err = fmt.Errorf("router: serve: %w", err)
	case <-ctx.Done():
	}
	ln.Close()
	<-acceptErr
	closing.Store(true)
	mu.Lock()
	for fc := range conns {
		if fc.Idle() {
			fc.Interrupt()
		}
	}
	mu.Unlock()

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.ShutdownTimeout)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		mu.Lock()
		for fc := range conns {
			fc.Close()
		}
		mu.Unlock()
		<-done
		if shutErr == nil {
			shutErr = sctx.Err()
		}
	}
	r.proxy.CloseIdleConnections()
	if err != nil {
		return err
	}
	if shutErr != nil {
		_ = srv.Close()
		return fmt.Errorf("router: shutdown: %w", shutErr)
	}
	return nil
}

// goneCheckEvery is how often the fast path's requests in flight for that
// long are checked for a client that left.
const goneCheckEvery = 500 * time.Millisecond

// orDefault is v when set (positive), else def.
func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// redirected reports whether plain-HTTP requests for host are redirected
// to HTTPS.
func (r *Router) redirected(host []byte) bool {
	idx := r.redirects.Load()
	return idx != nil && r.httpsPort.Load() != 0 && idx.match(string(host))
}

// handOffListener is the listener of the http.Server behind the fast
// path: it accepts the connections the fast path hands over.
type handOffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *handOffListener) handOff(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *handOffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handOffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handOffListener) Addr() net.Addr { return l.addr }
