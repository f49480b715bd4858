// Package api serves the controller's REST API (/v1, JSON) over the store:
// it authenticates every request by its API token (or, for the dashboard,
// by its session cookie and CSRF token: see sessions.go), authorizes it by
// the caller's role on the app it names, validates input, and maps error
// kinds to HTTP statuses. It holds no state of its own but a count of
// recent failed sign-ins.
package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"paas/controller"
	"paas/controller/internal/store"
)

// Options configure the API. Zero values are documented per field.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger // if nil, logs are discarded

	// BaseDomain is the domain under which every app has its default
	// domain, <app>.<BaseDomain>. If empty, "localhost".
	BaseDomain string

	// APIHosts are the server's own host names, where the API and the
	// dashboard answer (lower case, no ports; see
	// controller.ParseAPIHosts). No app may hold one of them, as a custom
	// domain, a wildcard that covers it or a default domain. If empty,
	// none is protected.
	APIHosts []string

	// WebURL returns an app's default URL. If nil, http://<app>.<BaseDomain>.
	WebURL func(app string) string

	// GitHost is the host name in git remote URLs. If empty, the host the
	// request was sent to.
	GitHost string
	// SSHPort is the git SSH server's port. If 0, 2222.
	SSHPort int

	// Health reports the server's components. If nil, /healthz reports
	// only the database. Anyone gets the overall status (for load
	// balancers); the components' detail (addresses, versions, errors)
	// goes to admins only.
	Health func(ctx context.Context) controller.Health

	// Prometheus serves the metrics in Prometheus's format at GET
	// /metrics, to admins and to MetricsToken. If nil, /metrics answers
	// 404.
	Prometheus http.Handler
	// MetricsToken, if not empty, is a bearer token that may read
	// /metrics and nothing else: what a Prometheus server scrapes with.
	MetricsToken string

	// TrustForwardedProto makes the API believe a request's
	// X-Forwarded-Proto header when it decides whether the request came
	// over HTTPS (for the session cookie's Secure flag). Set it only when
	// a proxy in front of the server sets that header.
	TrustForwardedProto bool

	// Version is reported by /v1/info.
	Version string

	// BootstrapTokenFile, if set, is removed the first time the bootstrap
	// admin token is used: the file is there to be read once.
	BootstrapTokenFile string

	// Changed is called after every successful change of state, so the
	// scheduler can act on it at once. If nil, nothing is called.
	Changed func()
	// Routes serves the routing table to routers. If nil, the routing
	// call answers 404.
	Routes interface {
		Table(ctx context.Context, after int64) (controller.RoutingTable, error)
	}
	// Instances lists an app's instances and Events its platform events;
	// if nil, the app has none (no runtime).
	Instances func(ctx context.Context, app string) ([]controller.Instance, error)
	Events    func(app string) []controller.Event
	// LogDir holds the instances' log files; if empty, logs show only
	// platform events.
	LogDir string
	// BuildLogDir holds the output of builds, as <app>/<build>.log; if
	// empty, build logs are not served.
	BuildLogDir string
	// Metrics returns an app's request metrics, and false when there are
	// none to serve (no router). If nil, the same as false.
	Metrics func(app string) (controller.AppMetrics, bool)
	// AppDestroyed is called after an app is destroyed, before the call
	// answers, to remove what other parts keep by the app's name (its
	// instances' logs, its events, its images). Until it returns, no app of
	// that name can be created. May be nil.
	AppDestroyed func(app string)
	// Restart replaces an app's instances of a process type ("" for all)
	// as a rollout; if nil, restarts are refused.
	Restart func(ctx context.Context, app, process string) error
	// Run runs a one-off command (paas run); if nil, runs are refused.
	Run func(ctx context.Context, app, command string, detached bool, out io.Writer) (int, error)
}

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// perm is who may call a route.
type perm int

const (
	public        perm = iota // anyone, no token
	anyUser                   // any authenticated user
	adminOnly                 // admins
	appMember                 // the app's owner, its collaborators, admins
	appOwner                  // the app's owner, admins
	metricsReader             // admins, and the metrics token
)

type route struct {
	pattern string // net/http ServeMux pattern: "METHOD /path/{var}"
	perm    perm
	fn      func(w http.ResponseWriter, r *http.Request, who store.Actor) error
}

type server struct {
	opt           Options
	log           *slog.Logger
	bootstrapUsed atomic.Bool
	signIns       limiter // failed sign-ins

	// names is held while an app name is created or its app destroyed;
	// destroying holds the names of apps being destroyed, which cannot be
	// created again until everything of the old app is gone.
	names      sync.Mutex
	destroying map[string]bool
}

// New returns the API's handler.
func New(opt Options) http.Handler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.BaseDomain == "" {
		opt.BaseDomain = "localhost"
	}
	if opt.SSHPort == 0 {
		opt.SSHPort = 2222
	}
	if opt.WebURL == nil {
		base := opt.BaseDomain
		opt.WebURL = func(app string) string { return "http://" + app + "." + base }
	}
	s := &server{opt: opt, log: opt.Logger, destroying: map[string]bool{}}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.wrap(rt))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, controller.Errorf(controller.ErrNotFound, "no such API call: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Routes lists the API's calls with who may make them; tests use it to
// check that every route is covered by the authorization matrix.
func (s *server) routes() []route {
	return []route{
		{"GET /healthz", public, s.health},
		{"GET /metrics", metricsReader, s.metrics},
		{"GET /v1/info", public, s.info},
		{"GET /v1/me", anyUser, s.me},
		{"POST /v1/sessions", public, s.signIn},
		{"GET /v1/sessions/current", anyUser, s.currentSession},
		{"DELETE /v1/sessions/current", anyUser, s.signOut},

		{"GET /v1/apps", anyUser, s.listApps},
		{"POST /v1/apps", anyUser, s.createApp},
		{"GET /v1/apps/{app}", appMember, s.getApp},
		{"DELETE /v1/apps/{app}", appOwner, s.destroyApp},
		{"PATCH /v1/apps/{app}", appMember, s.updateApp},

		{"GET /v1/apps/{app}/config", appMember, s.getConfig},
		{"PATCH /v1/apps/{app}/config", appMember, s.setConfig},

		{"GET /v1/apps/{app}/formation", appMember, s.getFormation},
		{"PATCH /v1/apps/{app}/formation", appMember, s.scale},

		{"GET /v1/apps/{app}/releases", appMember, s.listReleases},
		{"POST /v1/apps/{app}/releases", appMember, s.createRelease},
		{"GET /v1/apps/{app}/releases/{version}", appMember, s.getRelease},
		{"POST /v1/apps/{app}/rollback", appMember, s.rollback},

		{"GET /v1/apps/{app}/builds", appMember, s.listBuilds},
		{"GET /v1/apps/{app}/builds/{id}/log", appMember, s.buildLog},
		{"GET /v1/apps/{app}/instances", appMember, s.listInstances},
		{"GET /v1/apps/{app}/metrics", appMember, s.appMetrics},
		{"GET /v1/apps/{app}/events", appMember, s.listEvents},
		{"GET /v1/apps/{app}/logs", appMember, s.appLogs},
		{"POST /v1/apps/{app}/run", appMember, s.run},
		{"POST /v1/apps/{app}/restart", appMember, s.restart},
		{"GET /v1/apps/{app}/certs", appMember, s.listCerts},
		{"POST /v1/apps/{app}/certs", appMember, s.addCert},
		{"DELETE /v1/apps/{app}/certs/{name}", appMember, s.removeCert},
		{"GET /v1/apps/{app}/buildpacks", appMember, s.listBuildpacks},
		{"POST /v1/apps/{app}/buildpacks", appMember, s.addBuildpack},
		{"DELETE /v1/apps/{app}/buildpacks/{name}", appMember, s.removeBuildpack},
		{"GET /v1/apps/{app}/healthchecks", appMember, s.listHealthChecks},
		{"PUT /v1/apps/{app}/healthchecks/{type}", appMember, s.setHealthCheck},
		{"DELETE /v1/apps/{app}/healthchecks/{type}", appMember, s.unsetHealthCheck},
		{"GET /v1/routing", adminOnly, s.routingTable},

		{"GET /v1/apps/{app}/domains", appMember, s.listDomains},
		{"POST /v1/apps/{app}/domains", appMember, s.addDomain},
		{"DELETE /v1/apps/{app}/domains/{domain}", appMember, s.removeDomain},

		{"GET /v1/apps/{app}/collaborators", appMember, s.listCollaborators},
		{"POST /v1/apps/{app}/collaborators", appOwner, s.addCollaborator},
		{"DELETE /v1/apps/{app}/collaborators/{user}", appOwner, s.removeCollaborator},

		{"GET /v1/keys", anyUser, s.listKeys},
		{"POST /v1/keys", anyUser, s.addKey},
		{"DELETE /v1/keys/{id}", anyUser, s.removeKey},

		{"GET /v1/tokens", anyUser, s.listTokens},
		{"POST /v1/tokens", anyUser, s.createToken},
		{"DELETE /v1/tokens/{id}", anyUser, s.revokeToken},

		{"GET /v1/users", adminOnly, s.listUsers},
		{"POST /v1/users", adminOnly, s.createUser},
		{"DELETE /v1/users/{name}", adminOnly, s.deleteUser},
		{"PUT /v1/users/{name}/password", adminOnly, s.setPassword},
		{"GET /v1/users/{name}/limits", adminOnly, s.userLimits},
		{"PUT /v1/users/{name}/limits", adminOnly, s.setUserLimits},

		{"GET /v1/audit", adminOnly, s.audit},
	}
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the real writer (to flush
// streamed logs and to lift the write deadline).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (s *server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		w.Header().Set("Cache-Control", "no-store")
		who, err := s.authorize(r, rt.perm)
		if err == nil {
			err = rt.fn(w, r, who)
			if err == nil && r.Method != http.MethodGet && s.opt.Changed != nil {
				s.opt.Changed()
			}
		}
		if err != nil {
			s.fail(w, r, err)
		}
		if w.status == 0 {
			w.status = http.StatusOK
		}
		s.log.Debug("api", "method", r.Method, "path", r.URL.Path, "status", w.status, "user", who.Name, "duration", time.Since(start))
	})
}

// authorize authenticates the request's token unless the route is public,
// then checks the caller's role against the route's.
func (s *server) authorize(r *http.Request, p perm) (store.Actor, error) {
	if p == public {
		return store.Actor{}, nil
	}
	if p == metricsReader && s.opt.MetricsToken != "" {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(secret)), []byte(s.opt.MetricsToken)) == 1 {
			return store.Actor{Name: "metrics token", Addr: r.RemoteAddr}, nil
		}
	}
	who, err := s.authenticate(r)
	if err != nil {
		return store.Actor{}, err
	}
	switch p {
	case anyUser:
		return who, nil
	case adminOnly, metricsReader:
		if !who.Admin {
			return who, controller.Errorf(controller.ErrForbidden, "only an admin may do this")
		}
		return who, nil
	}
	appName := r.PathValue("app")
	role, err := s.opt.Store.Access(r.Context(), who, appName)
	if err != nil {
		return who, err
	}
	switch {
	case who.Admin, role == store.RoleOwner:
		return who, nil
	case role == store.RoleCollaborator && p == appMember:
		return who, nil
	case role == store.RoleCollaborator:
		return who, controller.Errorf(controller.ErrForbidden, "only the owner of %s may do this", appName)
	}
	return who, controller.Errorf(controller.ErrForbidden, "you do not have access to app %s", appName)
}

// authenticate finds the caller: by the API token in "Authorization:
// Bearer", else by the dashboard's session cookie (see sessions.go).
func (s *server) authenticate(r *http.Request) (store.Actor, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if c, err := r.Cookie(s.cookieName(r)); err == nil && c.Value != "" {
			who, err := s.sessionActor(r, c.Value)
			who.Addr = r.RemoteAddr
			return who, err
		}
	}
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || secret == "" {
		return store.Actor{}, controller.Errorf(controller.ErrUnauthorized, "no API token given: log in with paas login")
	}
	who, tok, err := s.opt.Store.Authenticate(r.Context(), strings.TrimSpace(secret))
	if err != nil {
		return store.Actor{}, err
	}
	who.Addr = r.RemoteAddr
	s.tokenUsed(tok)
	return who, nil
}

// tokenUsed removes the bootstrap token's file the first time that token
// is used, by the CLI or to sign in to the dashboard: it is there to be
// read once.
func (s *server) tokenUsed(tok controller.Token) {
	if tok.Description == store.BootstrapTokenDescription && s.opt.BootstrapTokenFile != "" && s.bootstrapUsed.CompareAndSwap(false, true) {
		if err := os.Remove(s.opt.BootstrapTokenFile); err == nil {
			s.log.Info("bootstrap token used: removed its file", "file", s.opt.BootstrapTokenFile)
		}
	}
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrBusy) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	var ce *controller.Error
	if errors.As(err, &ce) {
		writeError(w, err)
		return
	}
	id := newRequestID()
	s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error (request " + id + "); the server log has the details"})
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, controller.HTTPStatus(err), map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly: one value, no unknown fields, at most
// MaxBodyBytes.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return controller.Errorf(controller.ErrInvalid, "request body is larger than %d bytes", MaxBodyBytes)
		case errors.Is(err, io.EOF):
			return controller.Errorf(controller.ErrInvalid, "request body is empty: send a JSON object")
		}
		return controller.Errorf(controller.ErrInvalid, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return controller.Errorf(controller.ErrInvalid, "invalid JSON body: more than one value")
	}
	return nil
}

func (s *server) health(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	var h controller.Health
	if s.opt.Health != nil {
		h = s.opt.Health(r.Context())
	} else {
		h = controller.Health{Status: "ok", Components: map[string]controller.ComponentHealth{}}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.opt.Store.Ping(ctx); err != nil {
			h.Status = "degraded"
			h.Components["database"] = controller.ComponentHealth{Error: err.Error()}
		} else {
			h.Components["database"] = controller.ComponentHealth{OK: true}
		}
	}
	status := http.StatusOK
	if h.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	// A load balancer needs the status only; the components' addresses,
	// versions and errors are for admins (paas doctor, the dashboard).
	if who, err := s.authenticate(r); err != nil || !who.Admin {
		h = controller.Health{Status: h.Status}
	}
	writeJSON(w, status, h)
	return nil
}

func (s *server) metrics(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	if s.opt.Prometheus == nil {
		return controller.Errorf(controller.ErrNotFound, "this server serves no metrics")
	}
	s.opt.Prometheus.ServeHTTP(w, r)
	return nil
}

func (s *server) info(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	writeJSON(w, http.StatusOK, controller.Info{Version: s.opt.Version, BaseDomain: s.opt.BaseDomain})
	return nil
}

func (s *server) me(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	u, err := s.opt.Store.User(r.Context(), who.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// pathInt reads a positive integer path value.
func pathInt(r *http.Request, name string) (int64, error) {
	var n int64
	v := r.PathValue(name)
	if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 || fmt.Sprint(n) != v {
		return 0, controller.Errorf(controller.ErrInvalid, "invalid %s %q: want a positive number", name, v)
	}
	return n, nil
}
