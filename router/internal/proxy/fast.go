package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The fast path serves the plain HTTP/1.1 requests that make up nearly all
// of an app's traffic — origin-form target, a Host that names an app of the
// table exactly, no body or a Content-Length one, no upgrade — straight
// from the client's connection to a pooled backend connection, with one
// goroutine per client connection and no net/http request, header map or
// response writer in between. On a small machine net/http's per-request
// machinery (its background read per request, header maps, the reverse
// proxy's copies) cost the router about twice nginx's CPU per request.
//
// Everything else is handed, with the bytes already read, to the
// http.Server the fast path was given, for the rest of that connection:
// HTTP/1.0, Transfer-Encoding or Expect in a request, upgrades (WebSocket),
// wildcard domains, unknown hosts, apps with no instance up, redirects to
// HTTPS, ACME challenges, heads larger than the read buffer, anything that
// does not parse cleanly (net/http then answers 400, 431 or the like). A
// request is handed over only before anything of it was sent to an app,
// so the answer is the same either way.

// ConnServer serves client connections on the fast path. Its fields must
// be set before Serve is first called.
type ConnServer struct {
	// Table returns the table in force; nil hands every request over.
	Table func() *Table
	// Redirected reports whether plain-HTTP requests for host (lower case,
	// no port) are redirected to HTTPS; nil means none are.
	Redirected func(host []byte) bool
	// ACME: requests for /.well-known/acme-challenge/ are handed over.
	ACME bool
	// HandOff takes over a connection for good: the http.Server's side.
	HandOff func(net.Conn)
	// ReadHeaderTimeout bounds the reading of a request head, IdleTimeout
	// the wait for the next request on a kept-alive connection.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes: a longer head is handed over, for net/http to judge.
	MaxHeaderBytes int
	// Closing, once true, makes connections close after their current
	// request (graceful shutdown).
	Closing *atomic.Bool
}

const (
	fastReadBuf  = 8 << 10 // a request head must fit, or it is handed over
	fastWriteBuf = 8 << 10
	acmePrefix   = "/.well-known/acme-challenge/"
)

// Conn is a client connection on the fast path.
type Conn struct {
	s        *ConnServer
	c        net.Conn
	br       *bufio.Reader
	out      *rawIO // a response is written by the read that waits for the next request
	remoteIP string
	idle     atomic.Bool // waiting for a request: shutdown may interrupt it
	idleSet  time.Time   // when the idle read deadline was set; zero when another one is
	line     []byte      // scratch for over-long backend header lines
	saved    []byte      // a copy of the head of a request with a body
	picker   picker
	idBuf    [32]byte
	hdr      []byte // a response head being put together
	named    []byte // scratch for relay
	bodyLeft bool   // a request body is not all read: the close must linger

	// The backend connection of the request in flight, and when the request
	// began: WatchGone may take the connection (and interrupt it) if the
	// client leaves meanwhile.
	inflight atomic.Pointer[pconn]
	since    atomic.Int64 // unix nanoseconds
	gone     atomic.Bool  // WatchGone found the client gone
}

// NewConn wraps c for Serve.
func (s *ConnServer) NewConn(c net.Conn) *Conn {
	fc := &Conn{s: s, c: c, out: newPooledRawIO(c)}
	fc.remoteIP = c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(fc.remoteIP); err == nil {
		fc.remoteIP = h
	}
	fc.idle.Store(true)
	return fc
}

// readers holds the read buffers of client connections between requests,
// so that an idle keep-alive connection holds none.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, fastReadBuf) }}

// releaseBuffers gives the connection's buffers back while it waits for a
// request: it costs a goroutine and little else then.
func (fc *Conn) releaseBuffers() {
	if fc.br != nil && fc.br.Buffered() == 0 {
		fc.br.Reset(nil)
		readers.Put(fc.br)
		fc.br = nil
	}
	fc.out.release()
}

// Idle reports whether the connection waits for a request.
func (fc *Conn) Idle() bool { return fc.idle.Load() }

// Interrupt makes a wait for the next request end now.
func (fc *Conn) Interrupt() { _ = fc.c.SetReadDeadline(time.Unix(1, 0)) }

// Close closes the client connection.
func (fc *Conn) Close() error { return fc.c.Close() }

// bufferedConn is a connection handed to net/http with the bytes the fast
// path had read and not used.
type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

// CloseWrite lets net/http half-close before it closes a connection whose
// request it refused, so that the client reads the answer, not a reset.
func (b *bufferedConn) CloseWrite() error {
	if cw, ok := b.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (b *bufferedConn) Read(p []byte) (int, error) {
	if b.br.Buffered() > 0 {
		return b.br.Read(p)
	}
	return b.Conn.Read(p)
}

// head is what the fast path needs of a request head.
type head struct {
	raw       []byte // the whole head, CRLF CRLF included; aliases the read buffer
	lineEnd   int    // end of the request line, CRLF included
	method    []byte
	target    []byte
	host      []byte // Host value as sent
	hostKey   []byte // lower case, no port, no trailing dot; in key
	accept    []byte
	requestID []byte
	length    int64 // Content-Length; 0 when none
	close     bool  // Connection: close
	drop      [16][2]int
	ndrop     int
	key       [253]byte
}

// Serve serves fc until the client leaves, an error, or a hand-over. It
// closes the connection unless it hands it over.
func (s *ConnServer) Serve(fc *Conn) {
	handed := false
	defer func() {
		if !handed {
			_ = fc.out.Flush()
			if fc.bodyLeft {
				lingerClose(fc.c)
			}
			fc.c.Close()
			fc.releaseBuffers()
		}
	}()
	var h head
	for {
		fc.idle.Store(true)
		if s.Closing != nil && s.Closing.Load() {
			return
		}
		if fc.br != nil && fc.br.Buffered() > 0 {
			// Pipelined: the last response goes now, not with the next read.
			if err := fc.out.Flush(); err != nil {
				return
			}
		} else {
			// Moving the deadline resets a timer: not for every request, but
			// when it is a tenth of the timeout (at most a second) old.
			if now := time.Now(); now.Sub(fc.idleSet) > min(s.IdleTimeout/10, time.Second) {
				if err := fc.c.SetReadDeadline(now.Add(s.IdleTimeout)); err != nil {
					return
				}
				fc.idleSet = now
			}
			// The last response goes out, then the wait for the next request
			// holds no buffer.
			fc.releaseBuffers() // the read buffer; the write one once written
			if err := fc.out.Wait(); err != nil {
				return
			}
			fc.out.release()
			fc.br = readers.Get().(*bufio.Reader)
			fc.br.Reset(fc.out)
			if _, err := fc.br.Peek(1); err != nil {
				return
			}
		}
		fc.idle.Store(false)
		ok, err := s.readHead(fc, &h)
		if err != nil {
			return
		}
		if ok {
			ok = s.route(fc, &h)
		}
		if !ok {
			if fc.out.Flush() != nil {
				return
			}
			_ = fc.c.SetReadDeadline(time.Time{})
			handed = true
			s.HandOff(&bufferedConn{Conn: fc.c, br: fc.br})
			return
		}
		if h.close || (s.Closing != nil && s.Closing.Load()) {
			return
		}
	}
}

// lingerClose ends the sending side of a connection whose request body was
// not all read, then reads what the client still sends, a little while:
// closed at once, with its body unread, the connection would be reset, and
// a reset can destroy the response before the client reads it (net/http's
// server waits likewise).
func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, lingerBytes))
}

const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// readHead reads a request head into h. It reports false when the request
// is not for the fast path, with the head still unread in fc.br.
func (s *ConnServer) readHead(fc *Conn, h *head) (bool, error) {
	from := 0
	limit := fc.br.Size()
	if s.MaxHeaderBytes > 0 {
		limit = min(limit, s.MaxHeaderBytes)
	}
	for {
		n := fc.br.Buffered()
		buf, _ := fc.br.Peek(n)
		if i := bytes.Index(buf[from:], crlfcrlf); i >= 0 {
			if from+i+4 > limit {
				return false, nil
			}
			return parseHead(h, buf[:from+i+4]), nil
		}
		if bytes.Contains(buf, lflf) {
			return false, nil // bare LF line ends: net/http's to judge
		}
		if n >= limit {
			return false, nil // too big for the fast path: net/http answers 431 if need be
		}
		from = max(n-3, 0)
		if !fc.idleSet.IsZero() {
			_ = fc.c.SetReadDeadline(time.Now().Add(s.ReadHeaderTimeout))
			fc.idleSet = time.Time{}
		}
		if _, err := fc.br.Peek(n + 1); err != nil {
			// A trickler cut off at the read-header timeout is closed, as
			// net/http closes it.
			return false, err
		}
	}
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// parseHead parses raw, a request head ending in CRLF CRLF, into h. It
// reports false for anything the fast path leaves to net/http.
func parseHead(h *head, raw []byte) bool {
	*h = head{raw: raw, hostKey: h.hostKey[:0]}
	i := bytes.IndexByte(raw, '\n')
	if i < 1 || raw[i-1] != '\r' {
		return false
	}
	h.lineEnd = i + 1
	line := raw[:i-1]
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return false
	}
	h.method = line[:sp]
	switch string(h.method) {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		return false
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 1 || string(rest[sp+1:]) != "HTTP/1.1" {
		return false
	}
	h.target = rest[:sp]
	if h.target[0] != '/' {
		return false // absolute-form, asterisk-form: net/http's
	}
	inPath := true
	for i, c := range h.target {
		switch {
		case c <= ' ' || c >= 0x7f:
			return false
		case c == '?':
			inPath = false
		case c == '%' && inPath:
			// net/http refuses a path with a bad escape: so does the fast path.
			if i+2 >= len(h.target) || !isHex(h.target[i+1]) || !isHex(h.target[i+2]) {
				return false
			}
		}
	}
	seenLength := false
	for p := h.lineEnd; p < len(raw)-2; {
		e := bytes.IndexByte(raw[p:], '\n') + p
		if e <= p || raw[e-1] != '\r' {
			return false
		}
		line := raw[p : e-1]
		start, end := p, e+1
		p = end
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			return false // obsolete line folding
		}
		colon := -1
		for j, c := range line {
			if c == ':' && colon < 0 {
				colon = j
				continue
			}
			if colon < 0 && !isTokenChar(c) || c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
		if colon < 1 {
			return false
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		var lower [24]byte
		if len(name) > len(lower) {
			continue // none of ours is that long
		}
		for j, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[j] = c
		}
		drop := false
		switch string(lower[:len(name)]) {
		case "host":
			if h.host != nil || !hostKey(h, value) {
				return false
			}
			h.host = value
		case "content-length":
			if seenLength || len(value) == 0 || len(value) > 15 {
				return false
			}
			seenLength = true
			for _, c := range value {
				if c < '0' || c > '9' {
					return false
				}
				h.length = h.length*10 + int64(c-'0')
			}
		case "connection":
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = trimOWS(tok)
				switch {
				case asciiEqualFold(tok, "close"):
					h.close = true
				case asciiEqualFold(tok, "keep-alive"), len(tok) == 0:
				default:
					return false // other hop-by-hop headers named: net/http's
				}
			}
			drop = true
		case "transfer-encoding", "upgrade", "expect", "te", "trailer", "http2-settings":
			return false
		case "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
			"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port":
			drop = true // hop-by-hop, or the router's to set: the app must not trust the client's
		case "x-request-id":
			if h.requestID == nil {
				h.requestID = value
			}
			drop = true
		case "accept":
			h.accept = value
		}
		if drop {
			if h.ndrop == len(h.drop) {
				return false
			}
			h.drop[h.ndrop] = [2]int{start, end}
			h.ndrop++
		}
	}
	return h.host != nil
}

// rebase points h at raw, a copy of h.raw.
func (h *head) rebase(raw []byte) {
	at := func(s []byte) []byte {
		if s == nil {
			return nil
		}
		off := cap(h.raw) - cap(s)
		return raw[off : off+len(s) : off+len(s)]
	}
	h.method, h.target, h.host, h.accept, h.requestID = at(h.method), at(h.target), at(h.host), at(h.accept), at(h.requestID)
	h.raw = raw
}

// hostKey sets h.hostKey from a Host value: lower case, no port, no
// trailing dot. It reports false for a value that is not a plain DNS name
// with an optional port (IPv6 literals and the like go to net/http).
func hostKey(h *head, v []byte) bool {
	if i := bytes.IndexByte(v, ':'); i >= 0 {
		port := v[i+1:]
		if len(port) == 0 || len(port) > 5 {
			return false
		}
		for _, c := range port {
			if c < '0' || c > '9' {
				return false
			}
		}
		v = v[:i]
	}
	if n := len(v); n > 0 && v[n-1] == '.' {
		v = v[:n-1]
	}
	if len(v) == 0 || len(v) > len(h.key) {
		return false
	}
	for i, c := range v {
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.':
		default:
			return false
		}
		h.key[i] = c
	}
	h.hostKey = h.key[:len(v)]
	return true
}

var tokenChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

func isTokenChar(c byte) bool { return tokenChars[c] }

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// picker is the ResponseWriter handed to an app's balancer to learn which
// backend it picks, without serving anything.
type picker struct {
	b      *backend
	header http.Header
}

func (p *picker) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}
func (p *picker) Write(b []byte) (int, error) { return len(b), nil }
func (p *picker) WriteHeader(int)             {}

var pickRequest = &http.Request{Header: http.Header{}}

// pick returns the backend a's balancer turns to next, nil if none is up.
func (a *app) pick(p *picker) *backend {
	p.b = nil
	a.lb.ServeHTTP(p, pickRequest)
	return p.b
}

// route serves h on the fast path if it can, and reports false when the
// request is for net/http, with nothing of it consumed.
func (s *ConnServer) route(fc *Conn, h *head) bool {
	var t *Table
	if s.Table != nil {
		t = s.Table()
	}
	if t == nil {
		return false
	}
	a := t.exact[string(h.hostKey)]
	if a == nil || a.lb == nil || !a.anyUp() || a.maxBody >= 0 && h.length > a.maxBody {
		return false
	}
	if s.ACME && bytes.HasPrefix(h.target, []byte(acmePrefix)) {
		return false
	}
	if s.Redirected != nil && s.Redirected(h.hostKey) {
		return false
	}
	start := time.Now()
	b := a.pick(&fc.picker)
	if b == nil {
		return false
	}
	// A pooled connection the app has closed fails the request sent on it.
	// Bodyless idempotent requests are sent again on a new connection then;
	// the others may not be, so their connection is checked first.
	probe := h.length > 0 || !idempotent(h.method)
	pc, reused, err := b.connPool().getConn(b.ep.Address, probe, start)
	if err != nil {
		// Refused: nothing was sent. Take it out of rotation and try another
		// once.
		a.p.cfg.Logger.Warn("endpoint refused connection", "app", a.name, "instance", b.ep.Instance, "address", b.ep.Address, "err", err)
		a.markDown(b, a.p.cfg.RefusedCooldown)
		if a.anyUp() {
			a.metrics.retry()
			if b2 := a.pick(&fc.picker); b2 != nil {
				b = b2
				if pc, reused, err = b.connPool().getConn(b.ep.Address, probe, start); err != nil {
					a.p.cfg.Logger.Warn("endpoint refused connection", "app", a.name, "instance", b.ep.Instance, "address", b.ep.Address, "err", err)
					a.markDown(b, a.p.cfg.RefusedCooldown)
				}
			}
		}
	}
	if h.length > 0 {
		// Reading the body moves the read buffer under the head.
		fc.saved = append(fc.saved[:0], h.raw...)
		h.rebase(fc.saved)
	}
	id := h.requestID
	if !validRequestID(id) {
		id = newRequestID(&fc.idBuf)
	}
	r := exchange{s: s, fc: fc, h: h, a: a, b: b, pc: pc, reused: reused, id: id, start: start}
	fc.bodyLeft = h.length > 0
	if pc != nil {
		fc.since.Store(start.UnixNano())
		fc.inflight.Store(pc)
	}
	if err != nil {
		_, _ = fc.br.Discard(len(h.raw))
		r.closeConn = h.length > 0 // the body is left unread
		r.writePage(http.StatusBadGateway)
	} else {
		r.run()
	}
	r.finish()
	return true
}

// exchange is one request on the fast path.
type exchange struct {
	s      *ConnServer
	fc     *Conn
	h      *head
	a      *app
	b      *backend
	pc     *pconn
	reused bool
	id     []byte
	start  time.Time

	status    int
	bytes     int64
	wrote     bool // the response head was written: too late for an error page
	keepPC    bool // the backend connection can be reused
	closeConn bool // the client connection must close after this
}

func (r *exchange) run() {
	h, fc := r.h, r.fc
	headLen := len(h.raw)
	err := r.send()
	if err != nil && r.reused && h.length == 0 && idempotent(h.method) && retriable(err) {
		// A kept-alive connection the app closed meanwhile: send again on a
		// new one. (The head is still in the read buffer.)
		old := r.pc
		old.c.Close()
		r.b.connPool().drain(false)
		if r.pc, err = r.b.connPool().dialConn(r.b.ep.Address); err == nil {
			r.reused = false
			if fc.inflight.CompareAndSwap(old, r.pc) {
				err = r.send()
			} else {
				err = errClientGone // WatchGone took the old one
			}
		}
	}
	// The head is consumed now: from here on the request is ours.
	_, _ = fc.br.Discard(headLen)
	if err == nil && h.length > 0 {
		err = r.sendBody()
		if err == nil {
			err = r.pc.rio.Flush()
		}
		if err != nil && r.answeredEarly(err) {
			return
		}
	} else if err == nil {
		err = r.pc.rio.Flush()
	}
	if err == nil {
		err = r.relay()
	}
	if err != nil {
		r.fail(err)
	}
}

// idempotent reports whether a request with this method may be sent
// twice (RFC 9110, 9.2.2).
func idempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE":
		return true
	}
	return false
}

func retriable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// send writes the request head to the backend and, with no body, reads the
// response's status line: a kept-alive connection the app had closed fails
// there, before anything is consumed.
func (r *exchange) send() error {
	h, w := r.h, r.pc.rio
	w.Write(h.raw[:h.lineEnd])
	p := h.lineEnd
	for i := range h.ndrop {
		w.Write(h.raw[p:h.drop[i][0]])
		p = h.drop[i][1]
	}
	w.Write(h.raw[p : len(h.raw)-2])
	w.WriteString("X-Forwarded-For: ")
	w.WriteString(r.fc.remoteIP)
	w.WriteString("\r\nX-Forwarded-Host: ")
	w.Write(h.host)
	w.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: ")
	if i := bytes.IndexByte(h.host, ':'); i >= 0 {
		w.Write(h.host[i+1:])
	} else {
		w.WriteString("80")
	}
	w.WriteString("\r\nX-Request-Id: ")
	w.Write(r.id)
	w.WriteString("\r\n\r\n")
	if h.length > 0 {
		return nil // the status line is read after the body
	}
	_, err := r.pc.br.Peek(1) // sends the head, then waits for the answer
	return err
}

// sendBody copies the request body, h.length bytes, to the backend.
func (r *exchange) sendBody() error {
	fc, w := r.fc, r.pc.rio
	n := r.h.length
	timeout := r.a.p.cfg.BodyReadTimeout
	if timeout <= 0 && fc.br.Buffered() < int(min(n, int64(fc.br.Size()))) {
		// No limit between reads of a body: not the idle or header one either.
		_ = fc.c.SetReadDeadline(time.Time{})
		fc.idleSet = time.Time{}
	}
	var pace bodyPace
	for n > 0 {
		if fc.br.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
			var start time.Time
			if timeout > 0 {
				start = time.Now()
				_ = fc.c.SetReadDeadline(pace.deadline(start, r.h.length-n, timeout, r.a.p.cfg.MinBodyRate))
				fc.idleSet = time.Time{}
			}
			if _, err := fc.br.Peek(1); err != nil {
				return clientError{err}
			}
			if timeout > 0 {
				pace.waited += time.Since(start)
			}
		}
		b, _ := fc.br.Peek(int(min(int64(fc.br.Buffered()), n)))
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, _ = fc.br.Discard(len(b))
		n -= int64(len(b))
	}
	fc.bodyLeft = false
	return nil
}

// bodyPace bounds the time a request body may take its client: each wait
// for more of it at most BodyReadTimeout, and all the waits together at
// most BodyReadTimeout plus what the bytes received allow at MinBodyRate,
// so that a client trickling a byte now and then cannot hold a connection
// for as long as its announced length would take at that pace. Only the
// time spent waiting for the client counts: an app slow to take the body
// is not held against it.
type bodyPace struct {
	waited time.Duration // spent waiting for the client so far
}

// deadline is when the next bytes of the body must have come, for a wait
// beginning at now with got bytes received.
func (p *bodyPace) deadline(now time.Time, got int64, timeout time.Duration, rate int64) time.Time {
	wait := timeout
	if rate > 0 {
		budget := timeout + time.Duration(float64(got)/float64(rate)*float64(time.Second)) - p.waited
		wait = max(min(wait, budget), 0)
	}
	return now.Add(wait)
}

// answeredEarly reports whether the app, which stopped taking the request
// body (err), answered before it did, and that answer was relayed: an app
// may reject a body it will not read (413, 401…) and close, as net/http's
// server does past a limit. The answer is passed on, as net/http's
// transport does, and the client's connection closes after it, its body
// left unread. When it reports false, nothing was written to the client.
func (r *exchange) answeredEarly(err error) bool {
	var ce clientError
	if errors.As(err, &ce) || !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		return false
	}
	r.closeConn = true
	if rerr := r.relay(); rerr != nil {
		if r.wrote {
			r.fail(rerr) // the head went out: the connection just closes
		}
		return r.wrote
	}
	r.keepPC = false
	return true
}

// errClientGone ends an exchange whose client WatchGone found gone.
var errClientGone = errors.New("the client left")

// WatchGone checks, when fc's request has been in flight for longer than
// after, whether its client has left (closed its connection or reset it),
// and if so cuts the request's backend connection, as net/http's server
// and reverse proxy do: an app waiting on a slow answer sees its client
// go. Serve's goroutine is blocked on the app then, so another goroutine
// calls this now and then. It costs a system call per slow request.
func (fc *Conn) WatchGone(now time.Time, after time.Duration) {
	pc := fc.inflight.Load()
	if pc == nil || fc.idle.Load() || now.UnixNano()-fc.since.Load() < int64(after) {
		return
	}
	sc, ok := fc.c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	gone := false
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = n == 0 && e == nil || e != nil && e != syscall.EAGAIN && e != syscall.EINTR
	})
	if gone && fc.inflight.CompareAndSwap(pc, nil) {
		fc.gone.Store(true)
		_ = pc.c.SetDeadline(time.Unix(1, 0))
	}
}

// clientError is a failure reading from the client.
type clientError struct{ err error }

func (e clientError) Error() string { return "client: " + e.err.Error() }
func (e clientError) Unwrap() error { return e.err }

// relayError is a failure writing to the client: nobody reads an answer.
type relayError struct{ err error }

func (e relayError) Error() string { return "writing to client: " + e.err.Error() }
func (e relayError) Unwrap() error { return e.err }

var errBadResponse = errors.New("malformed response from the app")

// relay reads the response from the backend and writes it to the client.
func (r *exchange) relay() error {
	br, w, h := r.pc.br, r.fc.out, r.h
	r.pc.lr.left = maxResponseHeaderBytes
	// The head is put together here, then written: the app's headers are
	// filtered, and an error page can still replace it until then.
	hb := r.fc.hdr[:0]
	var status []byte
	var code int
	http10 := false
	for {
		line, err := r.readLine(br)
		if err != nil {
			return err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[7] != '0' && line[7] != '1' ||
			line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
			return errBadResponse
		}
		code = 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return errBadResponse
			}
			code = code*10 + int(c-'0')
		}
		http10 = line[7] == '0'
		if code < 100 {
			return errBadResponse
		}
		if code == http.StatusSwitchingProtocols {
			return errors.New("app switched protocols unasked")
		}
		if code >= 200 {
			status = line[9:]
			hb = append(hb, "HTTP/1.1 "...)
			hb = append(hb, status...)
			hb = append(hb, "\r\n"...)
			break
		}
		// 100 Continue, 103 Early Hints: dropped, as net/http's transport
		// does, once read as strictly as a final head.
		for {
			line, err := r.readLine(br)
			if err != nil {
				return err
			}
			if len(line) == 0 {
				break
			}
			if colon := bytes.IndexByte(line, ':'); colon < 1 || !validHeaderLine(line, colon) {
				return errBadResponse
			}
		}
	}
	r.status = code
	length := int64(-1)
	chunked, keepAlive, closeIt, sawDate := false, !http10, false, false
	named := r.fc.named[:0] // names the app's Connection header lists, comma-separated
	for {
		line, err := r.readLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errBadResponse
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 1 || !validHeaderLine(line, colon) {
			return errBadResponse
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			v, ok := parseLength(value)
			if !ok || length >= 0 && v != length {
				return errBadResponse
			}
			length = v
			continue // written after the others, unless the body is chunked
		case asciiEqualFold(name, "transfer-encoding"):
			if http10 {
				continue // not a thing in HTTP/1.0, as net/http reads it
			}
			if !asciiEqualFold(value, "chunked") || chunked {
				return errBadResponse // net/http's transport refuses other codings too
			}
			chunked = true
		case asciiEqualFold(name, "date"):
			sawDate = true
		case asciiEqualFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = trimOWS(tok)
				switch {
				case asciiEqualFold(tok, "close"):
					closeIt = true
				case asciiEqualFold(tok, "keep-alive"):
					keepAlive = true
				case len(tok) > 0:
					named = append(append(named, tok...), ',')
				}
			}
			continue
		case asciiEqualFold(name, "keep-alive"), asciiEqualFold(name, "proxy-connection"),
			asciiEqualFold(name, "upgrade"), asciiEqualFold(name, "te"), asciiEqualFold(name, "proxy-authenticate"):
			continue
		}
		hb = append(hb, line...)
		hb = append(hb, "\r\n"...)
	}
	r.pc.lr.left = -1
	if len(named) > 0 {
		// Headers the app named in Connection are hop-by-hop too (RFC 9110,
		// 7.6.1); rare, so filtered only then.
		hb = dropNamed(hb, named)
	}
	r.fc.named = named
	noBody := string(h.method) == "HEAD" || code == http.StatusNoContent || code == http.StatusNotModified
	if length >= 0 && !chunked {
		hb = append(hb, "Content-Length: "...)
		hb = strconv.AppendInt(hb, length, 10)
		hb = append(hb, "\r\n"...)
	}
	if !sawDate {
		// A proxy adds the Date an app left out (RFC 9110, 6.6.1), as
		// net/http did for the router before.
		hb = append(hb, "Date: "...)
		hb = append(hb, httpDate()...)
		hb = append(hb, "\r\n"...)
	}
	untilEOF := !noBody && !chunked && length < 0
	r.keepPC = keepAlive && !closeIt && !untilEOF
	if untilEOF || h.close || r.closeConn || r.s.Closing != nil && r.s.Closing.Load() {
		r.closeConn = true
		hb = append(hb, "Connection: close\r\n"...)
	}
	hb = append(hb, "\r\n"...)
	r.fc.hdr = hb
	r.wrote = true
	if _, err := w.Write(hb); err != nil {
		return relayError{err}
	}
	var err error
	switch {
	case noBody:
	case chunked:
		err = r.copyChunked()
	case length >= 0:
		err = r.copyN(length)
	default:
		err = r.copyN(-1)
	}
	// The response is sent by the read that waits for the next request.
	return err
}

// parseLength parses a Content-Length value: digits only.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// validHeaderLine reports whether line, a header line whose colon is at
// colon, has a token for a name and no control characters but tabs in its
// value: nothing an app sends may split or end the head early for the
// client.
func validHeaderLine(line []byte, colon int) bool {
	for _, c := range line[:colon] {
		if !isTokenChar(c) {
			return false
		}
	}
	for _, c := range line[colon+1:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// dropNamed removes from hb, a response head, the header lines whose
// names are in named, a comma-separated list.
func dropNamed(hb, named []byte) []byte {
	out := hb[:0]
	for len(hb) > 0 {
		e := bytes.Index(hb, crlf) + 2
		line := hb[:e]
		hb = hb[e:]
		if colon := bytes.IndexByte(line, ':'); colon > 0 {
			drop := false
			for tok := range bytes.SplitSeq(named, []byte(",")) {
				if len(tok) > 0 && bytes.EqualFold(tok, line[:colon]) {
					drop = true
				}
			}
			if drop {
				continue
			}
		}
		out = append(out, line...) // never ahead of the reading: safe in place
	}
	return out
}

// readLine reads a line from br, without its line end. The line is valid
// until the next read.
func (r *exchange) readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.fc.line = append(r.fc.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			r.fc.line = append(r.fc.line, line...)
		}
		line = r.fc.line
	}
	if err != nil {
		if r.pc.lr.left == 0 {
			return nil, errHeaderTooLarge
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// copyN copies n bytes of body (all of it when n < 0) from the backend to
// the client, flushing whenever the backend has nothing more buffered, so
// that a streamed response is not held back.
func (r *exchange) copyN(n int64) error {
	br, w := r.pc.br, r.fc.out
	for n != 0 {
		if br.Buffered() == 0 {
			if w.Buffered() > 0 {
				if err := w.Flush(); err != nil {
					return relayError{err}
				}
			}
			if _, err := br.Peek(1); err != nil {
				if n < 0 && err == io.EOF {
					return nil
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		m := br.Buffered()
		if n >= 0 && int64(m) > n {
			m = int(n)
		}
		b, _ := br.Peek(m)
		if _, err := w.Write(b); err != nil {
			return relayError{err}
		}
		_, _ = br.Discard(m)
		r.bytes += int64(m)
		if n > 0 {
			n -= int64(m)
		}
	}
	return nil
}

// copyChunked copies a chunked body as it is, framing and trailers
// included, reading the framing to find its end.
func (r *exchange) copyChunked() error {
	br, w := r.pc.br, r.fc.out
	for {
		if br.Buffered() == 0 && w.Buffered() > 0 {
			if err := w.Flush(); err != nil {
				return relayError{err}
			}
		}
		line, err := r.readLine(br)
		if err != nil {
			return unexpected(err)
		}
		size := line
		if i := bytes.IndexByte(size, ';'); i >= 0 {
			size = size[:i]
		}
		size = trimOWS(size)
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil || n < 0 || len(size) == 0 || len(size) > 15 {
			return errBadResponse
		}
		w.Write(line)
		w.WriteString("\r\n")
		if n == 0 {
			break
		}
		before := r.bytes
		if err := r.copyN(n); err != nil {
			return err
		}
		r.bytes = before + n // count the data, not the framing
		// The data ends in CRLF, exactly, as net/http reads it.
		if end, err := br.Peek(2); err != nil || end[0] != '\r' || end[1] != '\n' {
			return errBadResponse
		}
		_, _ = br.Discard(2)
		w.WriteString("\r\n")
	}
	for { // trailers, then the final empty line
		line, err := r.readLine(br)
		if err != nil {
			return unexpected(err)
		}
		w.Write(line)
		if _, err := w.WriteString("\r\n"); err != nil {
			return relayError{err}
		}
		if len(line) == 0 {
			return nil
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fail ends an exchange that went wrong: an error page if nothing of the
// response was sent, and the connections closed.
func (r *exchange) fail(err error) {
	r.keepPC = false
	r.closeConn = true
	var ce clientError
	var re relayError
	switch {
	case r.fc.gone.Load() || errors.Is(err, errClientGone):
		// The client left while the app was answering: nobody reads an
		// answer, and the app's connection was cut.
		r.status = statusClientGone
	case errors.As(err, &re):
		r.status = statusClientGone
	case errors.As(err, &ce):
		if isTimeout(ce.err) && !r.wrote {
			r.a.p.cfg.Logger.Debug("client stalled sending the body", "app", r.a.name)
			r.writePage(http.StatusRequestTimeout)
		} else if !r.wrote {
			r.status = statusClientGone
		}
	default:
		r.a.p.cfg.Logger.Warn("endpoint failed", "app", r.a.name, "instance", r.b.ep.Instance, "address", r.b.ep.Address, "err", err)
		// An error page can replace a partial head still in the buffer.
		if !r.wrote {
			r.writePage(http.StatusBadGateway)
		}
	}
}

// writePage answers the request with the router's own page for status.
func (r *exchange) writePage(status int) {
	r.status = status
	req := &http.Request{Host: string(r.h.host), Header: http.Header{}}
	if r.h.accept != nil {
		req.Header.Set("Accept", string(r.h.accept))
	}
	pw := &pageWriter{header: http.Header{}}
	writeError(pw, req, status, string(r.id))
	w := r.fc.out
	w.Discard() // a partial response head
	w.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	pw.header.Set("Content-Length", strconv.Itoa(pw.body.Len()))
	if r.closeConn {
		pw.header.Set("Connection", "close")
	}
	_ = pw.header.Write(w)
	w.WriteString("\r\n")
	r.bytes = 0
	if string(r.h.method) != "HEAD" {
		w.Write(pw.body.Bytes())
		r.bytes = int64(pw.body.Len())
	}
	_ = w.Flush()
}

// pageWriter collects a page written by writeError.
type pageWriter struct {
	header http.Header
	body   bytes.Buffer
}

func (p *pageWriter) Header() http.Header         { return p.header }
func (p *pageWriter) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *pageWriter) WriteHeader(int)             {}

// finish gives the backend connection back or closes it, and records the
// request.
func (r *exchange) finish() {
	now := time.Now()
	taken := r.pc != nil && r.fc.inflight.Swap(nil) == nil // by WatchGone, which interrupts it
	switch {
	case r.pc == nil:
	case r.keepPC && !taken && r.pc.br.Buffered() == 0:
		// (Bytes after the response's end would be taken for the next
		// response on this connection: such a connection is closed.)
		r.pc.pool.put(r.pc, now)
	default:
		r.pc.c.Close()
	}
	if r.closeConn {
		r.h.close = true
	}
	if r.status == 0 {
		r.status = http.StatusBadGateway
	}
	d := now.Sub(r.start)
	r.a.metrics.observeAt(now, r.status, r.bytes, d)
	if f := r.a.p.cfg.AccessLog; f != nil {
		f(Entry{
			Time:       r.start,
			App:        r.a.name,
			Instance:   r.b.ep.Instance,
			Method:     string(r.h.method),
			Host:       string(r.h.host),
			Path:       targetPath(r.h.target),
			Status:     r.status,
			Bytes:      r.bytes,
			Duration:   d,
			RequestID:  string(r.id),
			RemoteAddr: r.fc.c.RemoteAddr().String(),
		})
	}
}

// date caches the Date header's value for the current second.
var date atomic.Pointer[struct {
	unix int64
	text string
}]

// httpDate returns the current time in the HTTP date format.
func httpDate() string {
	now := time.Now()
	if d := date.Load(); d != nil && d.unix == now.Unix() {
		return d.text
	}
	d := &struct {
		unix int64
		text string
	}{now.Unix(), now.UTC().Format(http.TimeFormat)}
	date.Store(d)
	return d.text
}

// targetPath is the path of a request target, unescaped as net/http's
// URL.Path is.
func targetPath(t []byte) string {
	p := t
	if i := bytes.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if u, err := url.PathUnescape(string(p)); err == nil {
		return u
	}
	return string(p)
}

// validRequestID reports whether a client's X-Request-Id can be kept (as
// requestID judges).
func validRequestID(b []byte) bool {
	n := len(b)
	if n == 0 || n > 128 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// newRequestID writes a random id into buf.
func newRequestID(buf *[32]byte) []byte {
	const hex = "0123456789abcdef"
	x, y := rand.Uint64(), rand.Uint64()
	for i := range 16 {
		buf[i] = hex[x>>(4*i)&0xf]
		buf[16+i] = hex[y>>(4*i)&0xf]
	}
	return buf[:]
}
