package proxy

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traefik/traefik/v2/pkg/config/dynamic"
	"github.com/traefik/traefik/v2/pkg/server/service/loadbalancer/wrr"

	"paas/controller"
)

// statusClientGone is logged, as nginx does, when the client closed the
// connection before the response.
const statusClientGone = 499

// app serves one app: a balancer over its endpoints.
type app struct {
	name    string
	p       *Proxy
	maxBody int64 // negative: no limit
	lb      *wrr.Balancer
	metrics *appMetrics

	mu sync.Mutex   // serialises endpoint status changes
	up atomic.Int32 // endpoints in the balancer's rotation
}

// backend is one endpoint of an app.
type backend struct {
	app  *app
	ep   controller.Endpoint
	url  *url.URL
	rp   httputil.ReverseProxy // p's, rewriting to url
	name string                // unique within the balancer
	down bool                  // guarded by app.mu

	pool atomic.Pointer[pool] // the transport's pool for ep.Address, once looked up
}

// connPool returns the pool of connections to b's endpoint.
func (b *backend) connPool() *pool {
	if p := b.pool.Load(); p != nil {
		return p
	}
	p := b.app.p.transport.pool(b.ep.Address)
	b.pool.Store(p)
	return p
}

func (p *Proxy) newApp(ar controller.AppRoute) *app {
	a := &app{name: ar.App, p: p, maxBody: ar.MaxBodyBytes, metrics: p.cfg.Metrics.app(ar.App)}
	if a.maxBody == 0 {
		a.maxBody = p.cfg.DefaultMaxBody
	}
	// A non-nil health check lets SetStatus take endpoints out of rotation.
	lb := wrr.New(nil, &dynamic.HealthCheck{})
	n := 0
	for i, ep := range ar.Endpoints {
		if _, _, err := net.SplitHostPort(ep.Address); err != nil {
			p.cfg.Logger.Warn("skipping endpoint with invalid address", "app", ar.App, "instance", ep.Instance, "address", ep.Address)
			continue
		}
		b := &backend{
			app:  a,
			ep:   ep,
			url:  &url.URL{Scheme: "http", Host: ep.Address},
			name: strconv.Itoa(i) + " " + ep.Instance,
			rp:   *p.rp,
		}
		b.rp.Rewrite = b.rewrite
		lb.AddService(b.name, b, nil)
		n++
	}
	if n > 0 {
		a.lb = lb
		a.up.Store(int32(n))
	}
	return a
}

func (a *app) anyUp() bool { return a.up.Load() > 0 }

// markDown takes b out of rotation for cooldown.
func (a *app) markDown(b *backend, cooldown time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b.down {
		return
	}
	b.down = true
	a.up.Add(-1)
	a.lb.SetStatus(context.Background(), b.name, false)
	time.AfterFunc(cooldown, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		b.down = false
		a.up.Add(1)
		a.lb.SetStatus(context.Background(), b.name, true)
	})
}

// reqState is what the parts of one proxied request share. It is the
// ResponseWriter handed down the balancer, so the backend and the reverse
// proxy's error handler find it without a context value (each
// Request.WithContext copies the request).
type reqState struct {
	statusWriter
	in        *http.Request // the request handed to the balancer
	backend   *backend      // the endpoint tried last
	requestID string
	body      *bodyReader // nil when the request has no body
	retried   bool
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &reqState{statusWriter: statusWriter{ResponseWriter: w}, in: r, requestID: requestID(r.Header.Get("X-Request-Id"))}
	switch {
	case a.lb == nil || !a.anyUp():
		w.Header()["Retry-After"] = []string{"5"}
		writeError(st, r, http.StatusServiceUnavailable, st.requestID)
	case a.maxBody >= 0 && r.ContentLength > a.maxBody:
		writeError(st, r, http.StatusRequestEntityTooLarge, st.requestID)
	default:
		// The reverse proxy copies these into the outbound request; rewrite
		// puts them back if the client named them in Connection.
		r.Header["X-Request-Id"] = []string{st.requestID}
		r.Header["X-Forwarded-Port"] = []string{forwardedPort(r)}
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			rc := r.Body
			if a.maxBody >= 0 {
				rc = http.MaxBytesReader(nil, rc, a.maxBody)
			}
			st.body = &bodyReader{rc: rc, timeout: a.p.cfg.BodyReadTimeout, rate: a.p.cfg.MinBodyRate}
			if st.body.timeout > 0 {
				st.body.ctl = http.NewResponseController(w)
			}
			r.Body = st.body
		}
		a.lb.ServeHTTP(st, r)
	}
	status := st.status
	if status == 0 {
		status = http.StatusOK
	}
	d := time.Since(start)
	a.metrics.observe(status, st.bytes, d)
	if a.p.cfg.AccessLog != nil {
		e := Entry{
			Time:       start,
			App:        a.name,
			Method:     r.Method,
			Host:       r.Host,
			Path:       r.URL.Path,
			Status:     status,
			Bytes:      st.bytes,
			Duration:   d,
			RequestID:  st.requestID,
			RemoteAddr: r.RemoteAddr,
		}
		if st.backend != nil {
			e.Instance = st.backend.ep.Instance
		}
		a.p.cfg.AccessLog(e)
	}
}

// ServeHTTP proxies r to b. w is the request's *reqState, or a *picker:
// only app's balancer calls it.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p, ok := w.(*picker); ok {
		p.b = b // the fast path asks which backend is next
		return
	}
	w.(*reqState).backend = b
	b.rp.ServeHTTP(w, r)
}

// rewrite makes the outbound request for b.
func (b *backend) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(b.url)
	pr.Out.Host = pr.In.Host // the app sees the host the client asked for
	pr.SetXForwarded()       // For (client IP only: inbound X-Forwarded-* is not trusted), Host, Proto
	// Set by app.ServeHTTP on the inbound request, and copied unless the
	// client listed them as hop-by-hop.
	for _, k := range [...]string{"X-Forwarded-Port", "X-Request-Id"} {
		if _, ok := pr.Out.Header[k]; !ok {
			pr.Out.Header[k] = pr.In.Header[k]
		}
	}
}

// requestID returns in if it is a sane request id, else a new one.
func requestID(in string) string {
	if n := len(in); n > 0 && n <= 128 {
		ok := true
		for i := 0; i < n && ok; i++ {
			c := in[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '/' || c == '='
		}
		if ok {
			return in
		}
	}
	const hex = "0123456789abcdef"
	var b [32]byte
	x, y := rand.Uint64(), rand.Uint64()
	for i := range 16 {
		b[i] = hex[x>>(4*i)&0xf]
		b[16+i] = hex[y>>(4*i)&0xf]
	}
	return string(b[:])
}

// forwardedPort is the port the client addressed: the Host header's, or
// the scheme's default.
func forwardedPort(r *http.Request) string {
	h := r.Host
	for i := len(h) - 1; i >= 0; i-- {
		switch c := h[i]; {
		case c == ':':
			if i+1 < len(h) {
				return h[i+1:]
			}
			i = 0
		case c < '0' || c > '9':
			i = 0
		}
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// bodyReader counts what was read of a request body, so that a request can
// be retried only if none was; bounds the wait for each read and their sum
// (bodyPace); and ignores
// Close, which the server does itself, so that a retry finds the body open.
type bodyReader struct {
	rc       io.ReadCloser
	n        atomic.Int64
	timeout  time.Duration
	rate     int64 // MinBodyRate
	pace     bodyPace
	ctl      *http.ResponseController
	timedOut atomic.Bool // a read hit the timeout: the client stalled
}

func (b *bodyReader) Read(p []byte) (int, error) {
	var start time.Time
	if b.timeout > 0 {
		start = time.Now()
		_ = b.ctl.SetReadDeadline(b.pace.deadline(start, b.n.Load(), b.timeout, b.rate))
	}
	n, err := b.rc.Read(p)
	if b.timeout > 0 {
		b.pace.waited += time.Since(start)
	}
	b.n.Add(int64(n))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		b.timedOut.Store(true)
	}
	if err == io.EOF && b.timeout > 0 {
		// The server reads on in the background once the body is done, and
		// a timeout there would cancel a response still streaming.
		_ = b.ctl.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *bodyReader) Close() error { return nil }

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 || w.status < 200 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over for a protocol switch (WebSocket).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
