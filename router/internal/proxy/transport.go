package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// h1Transport sends GET and HEAD requests without a body or an upgrade
// over pooled HTTP/1.1 keep-alive connections, writing the request and
// reading the response on the caller's goroutine. http.Transport hands
// every request to a writer and a reader goroutine per connection; on a
// small machine those hand-offs were a good part of the router's CPU time
// per request. Everything else — bodies, upgrades (WebSocket), other
// methods — goes to the standard transport, which shares nothing with this
// one but the dialer.
type h1Transport struct {
	std         *http.Transport
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int           // idle connections kept per address
	idleTimeout time.Duration // an idle connection older than this is closed, not used

	mu    sync.Mutex
	pools map[string]*pool // by address
}

var _ http.RoundTripper = (*h1Transport)(nil)

// maxResponseHeaderBytes bounds a response's head, as
// http.Transport.MaxResponseHeaderBytes does: apps are not trusted.
const maxResponseHeaderBytes = 1 << 20

// pconn is one keep-alive connection to a backend.
type pconn struct {
	addr   string
	pool   *pool
	c      net.Conn
	rio    *rawIO       // under lr; the fast path writes requests here
	lr     *limitReader // under br
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// limitReader reads from a connection, at most left bytes while left is
// not negative.
type limitReader struct {
	r    io.Reader
	left int64
}

var errHeaderTooLarge = errors.New("backend response headers too large")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) ||
		(req.Body != nil && req.Body != http.NoBody) || req.Header.Get("Upgrade") != "" ||
		req.URL.Scheme != "http" {
		return t.std.RoundTrip(req)
	}
	ctx := req.Context()
	addr := req.URL.Host
	pc, reused := t.get(addr)
	for {
		if pc == nil {
			c, err := t.dial(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			pc = newPconn(t.pool(addr), addr, c)
		}
		resp, err := t.exchange(ctx, pc, req)
		if err == nil {
			return resp, nil
		}
		pc.c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A kept-alive connection that the backend closed meanwhile fails
		// at once, before any of the response; GET and HEAD can go again on
		// a new connection. The other idle ones may be as dead (a restart).
		if reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			t.closeIdle(addr)
			pc, reused = nil, false
			continue
		}
		return nil, err
	}
}

func newPconn(p *pool, addr string, c net.Conn) *pconn {
	pc := &pconn{addr: addr, pool: p, c: c, rio: newRawIO(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
	pc.lr = &limitReader{r: pc.rio, left: -1}
	pc.br = bufio.NewReaderSize(pc.lr, 8192)
	return pc
}

// getConn returns an idle connection to addr from p, and true, or a new
// one. With probe, an idle connection is used only if it looks open.
func (p *pool) getConn(addr string, probe bool, now time.Time) (*pconn, bool, error) {
	for {
		pc, ok := p.get(now)
		if !ok {
			break
		}
		if !probe || pc.alive() {
			return pc, true, nil
		}
		pc.c.Close()
	}
	pc, err := p.dialConn(addr)
	return pc, false, err
}

// alive reports whether an idle connection looks usable: the app has
// neither closed it nor sent anything on it. It costs a system call.
func (pc *pconn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	if pc.rio.rc == nil {
		return true
	}
	ok := false
	err := pc.rio.rc.Control(func(fd uintptr) {
		var b [1]byte
		_, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = e == syscall.EAGAIN // nothing to read, no end of stream, no error
	})
	return err == nil && ok
}

// dialConn returns a new connection to addr, of p.
func (p *pool) dialConn(addr string) (*pconn, error) {
	c, err := p.t.dial(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newPconn(p, addr, c), nil
}

// exchange writes req on pc and reads the response's head.
func (t *h1Transport) exchange(ctx context.Context, pc *pconn, req *http.Request) (*http.Response, error) {
	// A client that goes away aborts the exchange by its deadline.
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(pc.bw); err != nil {
		stop()
		return nil, err
	}
	if err := pc.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	var resp *http.Response
	var err error
	pc.lr.left = maxResponseHeaderBytes
	for {
		resp, err = http.ReadResponse(pc.br, req)
		// 1xx informational responses (100 Continue, 103 Early Hints) are
		// dropped; 101 is not expected without an Upgrade.
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if err != nil && pc.lr.left == 0 {
		err = errHeaderTooLarge // textproto reports the line it cut short
	}
	pc.lr.left = -1
	if err != nil {
		stop()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		return nil, errors.New("backend switched protocols unasked")
	}
	b := &connBody{t: t, pc: pc, rc: resp.Body, stop: stop, keep: !resp.Close && !req.Close}
	if req.Method == http.MethodHead || resp.ContentLength == 0 {
		resp.Body = http.NoBody
		b.release(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// connBody is a response body that gives its connection back to the pool
// once read to the end, or closes it when abandoned.
type connBody struct {
	t    *h1Transport
	pc   *pconn
	rc   io.ReadCloser
	stop func() bool // stops the context watch; false if it fired
	keep bool        // the connection may be reused
	done bool
}

func (b *connBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.release(err == io.EOF)
	}
	return n, err
}

func (b *connBody) Close() error {
	if !b.done {
		b.release(false) // unread bytes would be taken for the next response
	}
	return nil
}

func (b *connBody) release(complete bool) {
	b.done = true
	if b.stop() && complete && b.keep {
		b.t.put(b.pc)
		return
	}
	b.pc.c.Close()
}

// pool is the idle connections to one address, most recently used last.
type pool struct {
	t    *h1Transport
	mu   sync.Mutex
	idle []*pconn
	gone bool // dropped from the transport: connections given back are closed
}

// pool returns addr's pool, made on first use. An app's backend keeps it,
// so the fast path finds it without a lookup.
func (t *h1Transport) pool(addr string) *pool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pools == nil {
		t.pools = make(map[string]*pool)
	}
	p := t.pools[addr]
	if p == nil {
		p = &pool{t: t}
		t.pools[addr] = p
	}
	return p
}

func (t *h1Transport) get(addr string) (*pconn, bool) { return t.pool(addr).get(time.Now()) }

func (t *h1Transport) put(pc *pconn) { pc.pool.put(pc, time.Now()) }

// get takes the most recently used idle connection that has not idled out.
func (p *pool) get(now time.Time) (*pconn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		pc := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(pc.idleAt) < p.t.idleTimeout {
			return pc, true
		}
		pc.c.Close()
	}
	return nil, false
}

// put gives pc back, or closes it when the pool is full or gone.
func (p *pool) put(pc *pconn, now time.Time) {
	pc.idleAt = now
	p.mu.Lock()
	defer p.mu.Unlock()
	// Sweep as we go: the oldest connection, at the bottom, may have idled
	// out (LIFO reuse never reaches it while traffic is light).
	if len(p.idle) > 0 && now.Sub(p.idle[0].idleAt) >= p.t.idleTimeout {
		p.idle[0].c.Close()
		p.idle = append(p.idle[:0], p.idle[1:]...)
	}
	if p.gone || len(p.idle) >= p.t.maxIdle {
		pc.c.Close()
		return
	}
	p.idle = append(p.idle, pc)
}

// drain closes the idle connections; with gone, the pool takes no more.
func (p *pool) drain(gone bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.gone = p.gone || gone
	p.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// retain closes the idle connections to addresses not in keep (instances
// gone from the routing table), and those idle for too long.
func (t *h1Transport) retain(keep map[string]bool) {
	t.mu.Lock()
	var gone, kept []*pool
	for addr, p := range t.pools {
		if keep[addr] {
			kept = append(kept, p)
		} else {
			gone = append(gone, p)
			delete(t.pools, addr)
		}
	}
	t.mu.Unlock()
	for _, p := range gone {
		p.drain(true)
	}
	now := time.Now()
	for _, p := range kept {
		p.mu.Lock()
		var closing []*pconn
		fresh := p.idle[:0]
		for _, pc := range p.idle {
			if now.Sub(pc.idleAt) >= t.idleTimeout {
				closing = append(closing, pc)
			} else {
				fresh = append(fresh, pc)
			}
		}
		clear(p.idle[len(fresh):])
		p.idle = fresh
		p.mu.Unlock()
		for _, pc := range closing {
			pc.c.Close()
		}
	}
}

func (t *h1Transport) closeIdle(addr string) { t.pool(addr).drain(false) }

// CloseIdleConnections closes the idle connections of both transports.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	var pools []*pool
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.drain(false)
	}
	t.std.CloseIdleConnections()
}
