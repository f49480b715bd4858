package router

import (
	"io"
	"net"
	"sync"
	"time"
)

// clientConns counts the open connections of each client address, to hold
// each address to Options.MaxConnsPerClient. It is safe for concurrent use.
type clientConns struct {
	max int // <= 0: no limit
	mu  sync.Mutex
	n   map[string]int
}

func newClientConns(max int) *clientConns {
	return &clientConns{max: max, n: map[string]int{}}
}

// clientAddr is the address a connection's limit is counted by: its remote
// IP address.
func clientAddr(c net.Conn) string {
	a := c.RemoteAddr()
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// admit counts c against its client's limit and returns it wrapped so that
// closing it gives the place back; or false, counting nothing, when the
// client holds its maximum already.
func (cc *clientConns) admit(c net.Conn) (net.Conn, bool) {
	if cc.max <= 0 {
		return c, true
	}
	addr := clientAddr(c)
	cc.mu.Lock()
	if cc.n[addr] >= cc.max {
		cc.mu.Unlock()
		return nil, false
	}
	cc.n[addr]++
	cc.mu.Unlock()
	var once sync.Once
	release := func() {
		once.Do(func() {
			cc.mu.Lock()
			if cc.n[addr]--; cc.n[addr] <= 0 {
				delete(cc.n, addr)
			}
			cc.mu.Unlock()
		})
	}
	// A *net.TCPConn stays one, embedded, so that what the fast path and
	// net/http look for (SyscallConn, CloseWrite, ReadFrom) is still there.
	if tc, ok := c.(*net.TCPConn); ok {
		return &countedTCPConn{TCPConn: tc, release: release}, true
	}
	return &countedConn{Conn: c, release: release}, true
}

type countedTCPConn struct {
	*net.TCPConn
	release func()
}

func (c *countedTCPConn) Close() error {
	err := c.TCPConn.Close()
	c.release()
	return err
}

type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// tooManyConns is the answer on a plain-HTTP connection over its client's
// limit.
const tooManyConns = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nConnection: close\r\nContent-Length: 52\r\n\r\n" +
	"too many connections from your address: retry later\n"

// refuse answers a plain-HTTP connection over its client's limit with 429
// and closes it, reading a little of what the client sent first so that
// the close does not reset the answer away. It runs on a goroutine of its
// own, bounded in time.
func refuse(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(c, tooManyConns)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	c.Close()
}

// limitedListener closes the connections over their client's limit as it
// accepts them.
type limitedListener struct {
	net.Listener
	cc      *clientConns
	refused func()
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc, ok := l.cc.admit(c); ok {
			return lc, nil
		}
		l.refused()
		c.Close()
	}
}

// LimitListener returns ln holding each client address to
// Options.MaxConnsPerClient, counted together with Serve's listener: a
// connection over the limit is closed at once (on a TLS listener there is
// no plain answer to give). Serve's own listener needs no wrapping.
func (r *Router) LimitListener(ln net.Listener) net.Listener {
	if r.conns.max <= 0 {
		return ln
	}
	return &limitedListener{Listener: ln, cc: r.conns, refused: r.metrics.RefusedConns.Inc}
}
