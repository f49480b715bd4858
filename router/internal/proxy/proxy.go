package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"paas/controller"
)

// Config is what every Table built by one Proxy shares.
type Config struct {
	Logger *slog.Logger // required
	// DialTimeout bounds a connection attempt to an endpoint.
	DialTimeout time.Duration
	// MaxIdleConnsPerHost is the keep-alive pool size per endpoint.
	MaxIdleConnsPerHost int
	// DefaultMaxBody limits a request body when the app sets no limit;
	// negative means no limit.
	DefaultMaxBody int64
	// BodyReadTimeout is the longest wait for the next bytes of a request
	// body; 0 means none.
	BodyReadTimeout time.Duration
	// MinBodyRate, in bytes per second, is the least average pace of a
	// request body: the waits for it may add up to BodyReadTimeout plus
	// the bytes received at this rate, no more. 0 means no such bound;
	// it applies only with a BodyReadTimeout.
	MinBodyRate int64
	// RefusedCooldown is how long an endpoint that refused a connection is
	// left out of its app's balancer.
	RefusedCooldown time.Duration
	// AccessLog, if not nil, is called once per request routed to an app,
	// on the request's goroutine.
	AccessLog func(Entry)
	// Metrics records per-app request metrics; required.
	Metrics *Metrics
}

// Entry is one access-log record.
type Entry struct {
	Time       time.Time     // when the request arrived
	App        string        // app name
	Instance   string        // endpoint that served the request, e.g. web.1; empty if none did
	Method     string        // request method
	Host       string        // request Host header
	Path       string        // request path
	Status     int           // response status; 499 when the client went away first
	Bytes      int64         // response body bytes written to the client
	Duration   time.Duration // until the response was complete
	RequestID  string        // X-Request-Id sent to the backend
	RemoteAddr string        // client address
}

// Proxy holds what outlives a routing table: the transport with its
// connection pools and the reverse proxy. Safe for concurrent use.
type Proxy struct {
	cfg       Config
	transport *h1Transport
	rp        *httputil.ReverseProxy
}

// New returns a Proxy.
func New(cfg Config) *Proxy {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	const idleTimeout = 90 * time.Second
	p := &Proxy{cfg: cfg}
	p.transport = &h1Transport{
		dial:        dialer.DialContext,
		maxIdle:     cfg.MaxIdleConnsPerHost,
		idleTimeout: idleTimeout,
		std: &http.Transport{
			Proxy:                  nil, // endpoints are direct addresses; never an environment proxy
			DialContext:            dialer.DialContext,
			MaxIdleConns:           0, // no global cap; per-host cap below
			MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:        idleTimeout,
			DisableCompression:     true, // pass Accept-Encoding through untouched
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: maxResponseHeaderBytes,
			// Response headers are not bounded in time: long polls are apps' business.
		},
	}
	// Each backend has a copy, with a Rewrite of its own.
	p.rp = &httputil.ReverseProxy{
		Transport: p.transport,
		// 0, not -1: ReverseProxy already flushes every write of an SSE
		// (text/event-stream) or unknown-length (chunked, streamed) response;
		// -1 would also flush the headers of every other response in a
		// write of their own, which cost a third of the throughput.
		FlushInterval: 0,
		ErrorHandler:  p.proxyError,
		BufferPool:    &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
		ErrorLog:      slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return p
}

// CloseIdleConnections closes the idle keep-alive connections to backends.
func (p *Proxy) CloseIdleConnections() { p.transport.CloseIdleConnections() }

// Retain closes the idle keep-alive connections to the endpoints that are
// not in t: call it once t is served.
func (p *Proxy) Retain(t controller.RoutingTable) {
	keep := make(map[string]bool)
	for _, a := range t.Apps {
		for _, ep := range a.Endpoints {
			keep[ep.Address] = true
		}
	}
	p.transport.retain(keep)
}

// proxyError runs when the round trip to an endpoint failed. Nothing has
// been written to w, the request's *reqState, yet. r is the outbound
// request, already rewritten and with its body closed by the transport; a
// retry starts from st.in.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st := w.(*reqState)
	b := st.backend
	if isDialError(err) && r.Context().Err() == nil {
		// Nothing reached the endpoint, so the request can go to another
		// one, once, if its body has not been read.
		p.cfg.Logger.Warn("endpoint refused connection", "app", b.app.name, "instance", b.ep.Instance, "address", b.ep.Address, "err", err)
		b.app.markDown(b, p.cfg.RefusedCooldown)
		if !st.retried && (st.body == nil || st.body.n.Load() == 0) && b.app.anyUp() {
			st.retried = true
			b.app.metrics.retry()
			b.app.lb.ServeHTTP(w, st.in)
			return
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, r, http.StatusRequestEntityTooLarge, st.requestID)
	case st.body != nil && st.body.timedOut.Load():
		p.cfg.Logger.Debug("client stalled sending the body", "app", b.app.name, "err", err)
		writeError(w, r, http.StatusRequestTimeout, st.requestID)
	case r.Context().Err() != nil || errors.Is(err, context.Canceled):
		st.status = statusClientGone // the client left; nobody reads an answer
	default:
		p.cfg.Logger.Warn("endpoint failed", "app", b.app.name, "instance", b.ep.Instance, "address", b.ep.Address, "err", err)
		writeError(w, r, http.StatusBadGateway, st.requestID)
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

var _ httputil.BufferPool = (*bufferPool)(nil)

// bufferPool recycles the 32 KiB copy buffers of the reverse proxy.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
