// Package server puts the controller together: it opens the store (with
// its config-encryption key), bootstraps the first admin, and serves the
// REST API. It is what "paas server" runs for the controller component.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"paas/controller"
	"paas/controller/internal/api"
	"paas/controller/internal/routing"
	"paas/controller/internal/scheduler"
	"paas/controller/internal/seal"
	"paas/controller/internal/store"
)

// Options configure a Controller. Zero values are documented per field.
type Options struct {
	// DataDir holds the SQLite database, the config-encryption key and the
	// bootstrap token file. Required.
	DataDir string
	// Database is a postgres:// DSN or a SQLite file path. If empty,
	// <DataDir>/paas.db.
	Database string

	Logger *slog.Logger // if nil, logs are discarded

	BaseDomain string                  // if empty, "localhost"
	WebURL     func(app string) string // if nil, http://<app>.<BaseDomain>
	GitHost    string                  // if empty, the host of each API request
	SSHPort    int                     // if 0, 2222
	Version    string
	// APIHosts are the server's own host names (lower case, no ports):
	// no app may hold one, and routers never send one to an app. If
	// empty, none is protected.
	APIHosts []string

	// Health reports the server's components for /healthz. If nil, only
	// the database is reported.
	Health func(ctx context.Context) controller.Health

	// Runtime runs the apps' instances. If nil, the controller records
	// state but runs nothing.
	Runtime Runtime
	// Scheduler tunes the reconcile loop; zero values are the
	// scheduler's defaults.
	Scheduler SchedulerOptions
	// LogDir is where the runtime writes instances' logs, for paas logs.
	LogDir string
	// Builder builds pushed source for Deploy; if nil, pushes are refused.
	Builder Builder
	// KeepReleases is how many of an app's newest releases keep their
	// images (the ones paas rollback can go back to); if 0, 5.
	KeepReleases int
	// AppDestroyed is called after an app is destroyed, once its
	// instances are stopped and their logs and events removed, to remove
	// what other components keep for it (its git repository, its images,
	// the router's access log). No app of the same name can be created
	// until it returns.
	AppDestroyed func(app string)
	// MetricsToken, if not empty, is a bearer token that may read GET
	// /metrics (and nothing else), for a Prometheus server; admins' API
	// tokens may read it too.
	MetricsToken string
	// Quotas are the operator's limits on formations and on apps per
	// user; zero fields are the store's built-in values.
	Quotas controller.Quotas
	// BuildOutputLimit bounds the output of one build that is kept and
	// sent to the pusher, in bytes; past it the rest is dropped after a
	// line that says so. If 0, no limit.
	BuildOutputLimit int64
	// TrustForwardedProto makes the API believe X-Forwarded-Proto when it
	// decides whether a request came over HTTPS (the session cookie's
	// Secure flag). Set it only behind a proxy that sets the header.
	TrustForwardedProto bool
}

// Runtime runs instances on a node: *runtime.Runtime, or a remote node
// agent.
type Runtime = scheduler.Runtime

// SchedulerOptions tune the scheduler; see the scheduler's Options for
// each field's meaning and default.
type SchedulerOptions struct {
	Interval, HealthTimeout, SettleTime, DrainTime time.Duration
	Backoff, MaxBackoff, ResetAfter                time.Duration
}

// DestroyWait bounds how long destroying an app waits for its instances
// to stop before their logs and events are removed.
const DestroyWait = time.Minute

// Names of files in the data directory.
const (
	KeyFile            = "secrets.key" // AES key for config values, mode 0600
	BootstrapTokenFile = "admin-token" // the first admin's token, mode 0600, removed on first use
	SQLiteFile         = "paas.db"
	BuildLogDir        = "build-logs" // <app>/<build>.log: each build's output, mode 0600
)

// Controller is the controller component.
type Controller struct {
	metrics atomic.Pointer[MetricsSource]
	prom    atomic.Pointer[http.Handler]
	opt     Options
	store   *store.Store
	handler http.Handler
	routes  *routing.Publisher
	sched   *scheduler.Scheduler // nil without a runtime
}

// Open opens the controller's state and prepares its API.
func Open(ctx context.Context, opt Options) (*Controller, error) {
	if opt.DataDir == "" {
		return nil, errors.New("controller: no data directory")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	key, err := seal.LoadOrCreateKey(filepath.Join(opt.DataDir, KeyFile))
	if err != nil {
		return nil, err
	}
	sealer, err := seal.New(key)
	if err != nil {
		return nil, err
	}
	dsn := opt.Database
	if dsn == "" {
		dsn = filepath.Join(opt.DataDir, SQLiteFile)
	}
	st, err := store.Open(ctx, dsn, sealer)
	if err != nil {
		return nil, err
	}
	base := opt.BaseDomain
	if base == "" {
		base = "localhost"
	}
	st.SetQuotas(opt.Quotas)
	c := &Controller{opt: opt, store: st, routes: routing.New(base, opt.APIHosts...)}
	var changed func()
	var instances func(context.Context, string) ([]controller.Instance, error)
	var events func(string) []controller.Event
	var run func(context.Context, string, string, bool, io.Writer) (int, error)
	var restart func(context.Context, string, string) error
	if opt.Runtime != nil {
		so := opt.Scheduler
		c.sched = scheduler.New(scheduler.Options{
			State: st, Runtime: opt.Runtime, Routes: c.routes, BaseDomain: base,
			Logger:   opt.Logger.With("component", "scheduler"),
			Interval: so.Interval, HealthTimeout: so.HealthTimeout, SettleTime: so.SettleTime, DrainTime: so.DrainTime,
			Backoff: so.Backoff, MaxBackoff: so.MaxBackoff, ResetAfter: so.ResetAfter,
		})
		changed = c.sched.Notify
		run = c.sched.RunOneOff
		restart = func(ctx context.Context, app, process string) error {
			procs, err := st.Formation(ctx, app)
			if err != nil {
				return err
			}
			types := make([]string, 0, len(procs))
			for _, p := range procs {
				types = append(types, p.Type)
			}
			c.sched.Restart(app, process, types)
			return nil
		}
		instances = c.sched.Instances
		events = func(app string) []controller.Event {
			var out []controller.Event
			for _, e := range c.sched.Events(app) {
				out = append(out, controller.Event{Time: e.Time, Source: e.Source, Message: e.Message})
			}
			return out
		}
	}
	destroyed := func(app string) {
		// The API waits for this before it answers the destroy and lets the
		// name be taken again.
		ctx, cancel := context.WithTimeout(context.Background(), DestroyWait)
		defer cancel()
		if c.sched != nil {
			if err := c.sched.Forget(ctx, app); err != nil {
				opt.Logger.Warn("destroyed app: its instances did not all stop in time", "app", app, "err", err)
			}
		}
		if opt.LogDir != "" {
			files, _ := filepath.Glob(filepath.Join(opt.LogDir, app+".*.log"))
			for _, f := range files {
				if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
					opt.Logger.Warn("destroyed app: cannot remove a log file", "app", app, "file", f, "err", err)
				}
			}
		}
		if opt.AppDestroyed != nil {
			opt.AppDestroyed(app)
		}
	}
	c.handler = api.New(api.Options{
		Changed:             changed,
		Routes:              c.routes,
		Instances:           instances,
		Events:              events,
		LogDir:              opt.LogDir,
		Run:                 run,
		Restart:             restart,
		AppDestroyed:        destroyed,
		Store:               st,
		Logger:              opt.Logger,
		BaseDomain:          opt.BaseDomain,
		APIHosts:            opt.APIHosts,
		WebURL:              opt.WebURL,
		GitHost:             opt.GitHost,
		SSHPort:             opt.SSHPort,
		Version:             opt.Version,
		Health:              opt.Health,
		BootstrapTokenFile:  filepath.Join(opt.DataDir, BootstrapTokenFile),
		TrustForwardedProto: opt.TrustForwardedProto,
		BuildLogDir:         filepath.Join(opt.DataDir, BuildLogDir),
		Metrics:             c.appMetrics,
		MetricsToken:        opt.MetricsToken,
		Prometheus: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h := c.prom.Load(); h != nil {
				(*h).ServeHTTP(w, r)
				return
			}
			http.Error(w, "no metrics: this server runs no router", http.StatusNotFound)
		}),
	})
	return c, nil
}

// MetricsSource gives an app's request metrics for the last hour. The
// router implements it; paas server hands it over with SetMetrics.
type MetricsSource interface {
	AppMetrics(app string) controller.AppMetrics
}

// SetMetrics makes the API serve m's metrics at /v1/apps/{app}/metrics.
// Until it is called that call answers 404. It is safe to call while the
// API serves.
func (c *Controller) SetMetrics(m MetricsSource) { c.metrics.Store(&m) }

// SetPrometheus makes the API serve h at GET /metrics, to admins and to
// Options.MetricsToken. Until it is called /metrics answers 404. It is
// safe to call while the API serves.
func (c *Controller) SetPrometheus(h http.Handler) { c.prom.Store(&h) }

func (c *Controller) appMetrics(app string) (controller.AppMetrics, bool) {
	m := c.metrics.Load()
	if m == nil {
		return controller.AppMetrics{}, false
	}
	return (*m).AppMetrics(app), true
}

// CheckSession tells whether secret, the value of a dashboard session
// cookie (controller.SecureSessionCookie or SessionCookie), belongs to a
// live session: nil if so,
// an ErrUnauthorized error if not. The dashboard asks before it serves a
// page.
func (c *Controller) CheckSession(ctx context.Context, secret string) error {
	_, _, err := c.store.Session(ctx, secret)
	return err
}

// Dialect names the database in use: "sqlite" or "postgres".
func (c *Controller) Dialect() string { return c.store.Dialect() }

// Bootstrap creates the first admin if there are no users yet, writing its
// token to the bootstrap token file (mode 0600) before the admin exists.
// It returns the token and true when it created the admin.
func (c *Controller) Bootstrap(ctx context.Context) (string, bool, error) {
	path := filepath.Join(c.opt.DataDir, BootstrapTokenFile)
	var token string
	created, err := c.store.Bootstrap(ctx, func(secret string) error {
		token = secret
		return writeSecretFile(path, secret+"\n")
	})
	if err != nil {
		return "", false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return token, created, nil
}

// writeSecretFile replaces path with data, readable by its owner only.
func writeSecretFile(path, data string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Ping checks the database.
func (c *Controller) Ping(ctx context.Context) error { return c.store.Ping(ctx) }

// Handler serves the REST API (/v1/...), /healthz and /metrics.
func (c *Controller) Handler() http.Handler { return c.handler }

// Run runs the scheduler until ctx ends (without a runtime, it only
// waits). Running instances keep running after it returns.
func (c *Controller) Run(ctx context.Context) error {
	if c.sched == nil {
		<-ctx.Done()
		return nil
	}
	return c.sched.Run(ctx)
}

// Table returns the routing table once it is newer than after: the
// in-process source the router follows.
func (c *Controller) Table(ctx context.Context, after int64) (controller.RoutingTable, error) {
	return c.routes.Table(ctx, after)
}

// Close closes the state store.
func (c *Controller) Close() error { return c.store.Close() }
