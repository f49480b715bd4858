package router

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/crypto/acme/autocert"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"paas/controller"
	"paas/router/internal/proxy"
)

// Options configure a Router. The zero value of each field selects its
// default.
type Options struct {
	// BaseDomain is used for a table that names none: an app whose route
	// has no domains answers at <app>.<BaseDomain>. Default "localhost".
	BaseDomain string
	// APIHosts are host names of the paas API and dashboard that this
	// router must never hand to an app, in addition to those every table
	// names (controller.RoutingTable.APIHosts): a request for one is
	// answered 404, no app's certificate is served for one, and ACME
	// obtains none for an app. Lower case, no ports.
	APIHosts []string

	// ReadHeaderTimeout bounds the reading of a request's headers, against
	// clients that trickle them (slowloris). Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive client connection idle that long.
	// Default 120s.
	IdleTimeout time.Duration
	// BodyReadTimeout is the longest wait for the next bytes of a request
	// body (a client that announces a body and sends none is cut off then,
	// see CVE-2024-28869). Default 60s; negative means no limit (and no
	// MinBodyRate either).
	BodyReadTimeout time.Duration
	// MinBodyRate, in bytes per second, is the least average pace of a
	// request body: all the waits for its bytes together may last
	// BodyReadTimeout plus the bytes received at this rate, so a client
	// sending a byte now and then is cut off (408) after about
	// BodyReadTimeout, whatever length it announced. Time the app takes
	// to read the body does not count. Default 500 (as Apache's
	// mod_reqtimeout); negative means no minimum.
	MinBodyRate int64
	// MaxConnsPerClient limits the connections one client address may
	// hold open at once (app traffic and the API on Serve's listener, and
	// on listeners wrapped by LimitListener, together); a connection over
	// it is answered 429 and closed. Default 256; negative means no limit.
	MaxConnsPerClient int
	// MaxHeaderBytes limits the size of a request's headers (request line
	// included); beyond it the client gets 431. Default 64 KiB. Go's server
	// allows 4 KiB of slack over it.
	MaxHeaderBytes int
	// MaxBodyBytes limits a request body for apps whose route sets no
	// limit; beyond it the client gets 413. Default 100 MiB; negative means
	// no limit.
	MaxBodyBytes int64

	// DialTimeout bounds a connection attempt to an app's instance.
	// Default 5s.
	DialTimeout time.Duration
	// MaxIdleConnsPerEndpoint is the number of idle keep-alive connections
	// kept per instance. Default 256.
	MaxIdleConnsPerEndpoint int
	// RefusedCooldown is how long an instance that refused a connection is
	// left out of its app's rotation (the controller's table stays the
	// authority on health; this covers the moments before it catches up).
	// Default 2s.
	RefusedCooldown time.Duration
	// ShutdownTimeout is how long Serve waits for requests in flight when
	// its context ends. Default 10s.
	ShutdownTimeout time.Duration

	// Logger receives the router's own log. Default: discard.
	Logger *slog.Logger
	// AccessLog, if set, is called once per request routed to an app
	// (not for unknown hosts), on the request's goroutine after the
	// response is complete: it must not block.
	AccessLog func(AccessEntry)
	// ACME, if set, obtains certificates automatically for custom domains
	// that have none uploaded.
	ACME *ACMEOptions
}

// AccessEntry records one request routed to an app.
type AccessEntry struct {
	Time       time.Time     // when the request arrived
	App        string        // app name
	Instance   string        // instance that served it, e.g. web.1; empty if none did
	Method     string        // request method
	Host       string        // Host header
	Path       string        // URL path
	Status     int           // response status; 499 when the client went away first
	Bytes      int64         // response body bytes sent
	Duration   time.Duration // arrival to end of response
	RequestID  string        // X-Request-Id as sent to the instance
	RemoteAddr string        // client address
}

// TableSource gives the router routing tables. The controller implements
// it in process, and its client over the API.
type TableSource interface {
	// Table returns the current table as soon as its Version is greater
	// than after (at once for after = -1), or an error when ctx ends or the
	// table cannot be had. It may be called from one goroutine at a time.
	Table(ctx context.Context, after int64) (controller.RoutingTable, error)
}

// Router is an http.Handler that routes requests by host to apps'
// instances. Its methods are safe for concurrent use.
type Router struct {
	opts    Options
	log     *slog.Logger
	proxy   *proxy.Proxy
	metrics *proxy.Metrics

	handler atomic.Pointer[proxy.Table] // nil until the first table
	mu      sync.Mutex                  // serialises Update
	version atomic.Int64
	certs   atomic.Pointer[certIndex]
	acme    *autocert.Manager // nil without Options.ACME

	redirects atomic.Pointer[redirectIndex] // nil when no app forces HTTPS
	httpsPort atomic.Int32                  // 0: no HTTPS side, no redirects

	conns *clientConns // open connections per client address
}

var _ http.Handler = (*Router)(nil)

// New returns a Router with no table: it answers 503 until the first
// Update, or until Run receives a table.
func New(opts Options) (*Router, error) {
	if opts.ReadHeaderTimeout < 0 || opts.IdleTimeout < 0 || opts.DialTimeout < 0 ||
		opts.RefusedCooldown < 0 || opts.ShutdownTimeout < 0 || opts.MaxHeaderBytes < 0 ||
		opts.MaxIdleConnsPerEndpoint < 0 {
		return nil, errors.New("router: negative timeout or limit in options")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if opts.BaseDomain == "" {
		opts.BaseDomain = "localhost"
	}
	def(&opts.ReadHeaderTimeout, 10*time.Second)
	def(&opts.IdleTimeout, 120*time.Second)
	def(&opts.BodyReadTimeout, 60*time.Second)
	def(&opts.DialTimeout, 5*time.Second)
	def(&opts.RefusedCooldown, 2*time.Second)
	def(&opts.ShutdownTimeout, 10*time.Second)
	if opts.MaxHeaderBytes == 0 {
		opts.MaxHeaderBytes = 64 << 10
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 100 << 20
	}
	if opts.MaxIdleConnsPerEndpoint == 0 {
		opts.MaxIdleConnsPerEndpoint = 256
	}
	if opts.MinBodyRate == 0 {
		opts.MinBodyRate = 500
	}
	if opts.MaxConnsPerClient == 0 {
		opts.MaxConnsPerClient = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	bodyTimeout := max(opts.BodyReadTimeout, 0)
	r := &Router{opts: opts, log: opts.Logger, metrics: proxy.NewMetrics(), conns: newClientConns(opts.MaxConnsPerClient)}
	cfg := proxy.Config{
		Logger:              opts.Logger,
		DialTimeout:         opts.DialTimeout,
		MaxIdleConnsPerHost: opts.MaxIdleConnsPerEndpoint,
		DefaultMaxBody:      opts.MaxBodyBytes,
		BodyReadTimeout:     bodyTimeout,
		MinBodyRate:         max(opts.MinBodyRate, 0),
		RefusedCooldown:     opts.RefusedCooldown,
		Metrics:             r.metrics,
	}
	if f := opts.AccessLog; f != nil {
		cfg.AccessLog = func(e proxy.Entry) { f(AccessEntry(e)) }
	}
	r.proxy = proxy.New(cfg)
	r.version.Store(-1)
	if opts.ACME != nil {
		r.acme = newACME(opts.ACME, r.acmePolicy)
	}
	return r, nil
}

// ServeHTTP routes req to an instance of the app that answers at its host.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	t := r.handler.Load()
	if t != nil && t.IsAPIHost(req.Host) {
		t.ServeHTTP(w, req) // not found
		return
	}
	if r.redirectToHTTPS(w, req) {
		return
	}
	if t != nil {
		t.ServeHTTP(w, req)
		return
	}
	proxy.ServeStarting(w, req)
}

// Version returns the version of the table served, or -1 before the first.
func (r *Router) Version() int64 { return r.version.Load() }

// Update swaps in t, unless the table served is newer. Requests in flight
// finish on the table they started on.
func (r *Router) Update(t controller.RoutingTable) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.version.Load(); t.Version < cur {
		r.log.Debug("ignoring older routing table", "version", t.Version, "serving", cur)
		return
	}
	start := time.Now()
	t.APIHosts = r.apiHosts(t.APIHosts)
	h, err := r.proxy.Build(t, r.opts.BaseDomain)
	if err != nil {
		// Only an internal failure gets here; keep the last table.
		r.log.Error("building routing table", "version", t.Version, "err", err)
		return
	}
	r.handler.Store(h)
	r.certs.Store(r.buildCerts(t))
	r.redirects.Store(buildRedirects(t))
	r.version.Store(t.Version)
	d := time.Since(start)
	keep := make(map[string]bool, len(t.Apps))
	for _, a := range t.Apps {
		keep[a.App] = true
	}
	r.metrics.Retain(keep)
	r.proxy.Retain(t)
	r.metrics.TableVersion.Set(float64(t.Version))
	r.metrics.TableApps.Set(float64(len(t.Apps)))
	r.metrics.TableBuild.Observe(d.Seconds())
	r.log.Info("routing table", "version", t.Version, "apps", len(t.Apps), "took", d)
}

// apiHosts returns the table's API hosts and the options', canonical and
// without duplicates.
func (r *Router) apiHosts(table []string) []string {
	seen := make(map[string]bool, len(table)+len(r.opts.APIHosts))
	var out []string
	for _, h := range append(slices.Clip(table), r.opts.APIHosts...) {
		if h = controller.CanonicalHost(h); h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// Run follows src until ctx ends: it takes the current table, then each
// newer one, and swaps each in. When src fails, the router keeps serving
// the last table and asks again with exponential backoff (100ms to 10s,
// jittered). Run returns nil when ctx ends.
func (r *Router) Run(ctx context.Context, src TableSource) error {
	const minWait, maxWait = 100 * time.Millisecond, 10 * time.Second
	wait := minWait
	for {
		after := r.Version()
		t, err := src.Table(ctx, after)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			r.log.Warn("routing table source failed; serving the last table", "version", after, "err", err, "retry_in", wait)
		case t.Version <= after:
			err = fmt.Errorf("source returned version %d, not newer than %d", t.Version, after)
			r.log.Warn("routing table source misbehaves", "err", err)
		default:
			wait = minWait
			r.Update(t)
			continue
		}
		timer := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// newServer returns the hardened http.Server that Serve uses.
func (r *Router) newServer() *http.Server {
	return &http.Server{
		Handler:           r.ACMEHandler(r),
		ReadHeaderTimeout: r.opts.ReadHeaderTimeout,
		IdleTimeout:       r.opts.IdleTimeout,
		MaxHeaderBytes:    r.opts.MaxHeaderBytes,
		// No ReadTimeout or WriteTimeout: they would cut WebSockets, long
		// polls and big uploads; bodies have BodyReadTimeout per read and
		// MinBodyRate over all.
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
}

// MetricsHandler serves the router's metrics in Prometheus format: per app,
// requests by status class, latency histograms, response bytes and
// retries; and the table's version, size and build time.
func (r *Router) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(r.metrics.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelWarn)})
}
