package controller

import (
	"strings"
	"time"
)

// User is a person or a robot that holds API tokens and SSH keys.
type User struct {
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
	// HasPassword tells whether the user can sign in with a password.
	HasPassword bool `json:"has_password"`
}

// NewUser is what an admin sends to create a user.
type NewUser struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
	// Password, if set, lets the user sign in to the dashboard with it
	// (at least 8 characters). It is stored only as a slow hash.
	Password string `json:"password,omitempty"`
}

// Password is what an admin sends to set a user's password. An empty
// password removes it.
type Password struct {
	Password string `json:"password"`
}

// The dashboard's session cookie is SecureSessionCookie over HTTPS and
// SessionCookie over plain HTTP (a set-up on localhost). The __Host-
// prefix makes browsers take the cookie only when it is Secure, has
// Path=/ and no Domain: apps under the base domain are the same site as
// the dashboard, and without it one could plant a session cookie for the
// dashboard's host (Domain=<base>) or shadow the real one. The prefix is
// invalid without Secure, hence the plain name over HTTP; over HTTPS the
// plain name is never read.
const (
	SessionCookie       = "paas_session"
	SecureSessionCookie = "__Host-paas_session"
)

// SignIn starts a dashboard session: a user name and password, or an API
// token.
type SignIn struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// Session describes the caller's dashboard session. CSRFToken must be sent
// as the X-CSRF-Token header with every call other than GET made with the
// session's cookie.
type Session struct {
	User      User      `json:"user"`
	CSRFToken string    `json:"csrf_token,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// CreatedUser is the answer to creating a user: the user and a first API
// token for them, shown only this once.
type CreatedUser struct {
	User  User     `json:"user"`
	Token NewToken `json:"token"`
}

// Token describes an API token. The secret itself is stored only as a hash
// and is shown once, in NewToken, when the token is made.
type Token struct {
	ID          int64      `json:"id"`
	Description string     `json:"description"`
	Prefix      string     `json:"prefix"` // the secret's first characters, to tell tokens apart
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
}

// NewToken is a token together with its secret, returned once at creation.
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// Key is an SSH public key that lets its user push with git.
type Key struct {
	ID          int64     `json:"id"`
	Fingerprint string    `json:"fingerprint"` // SHA256:..., unique across all users
	Type        string    `json:"type"`        // ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256...
	Comment     string    `json:"comment"`
	PublicKey   string    `json:"public_key"` // authorized_keys form, without the comment
	User        string    `json:"user"`
	CreatedAt   time.Time `json:"created_at"`
}

// App is a deployable application.
type App struct {
	Name    string `json:"name"`
	Owner   string `json:"owner"`
	Release int    `json:"release"` // current release version; 0 before the first release
	GitURL  string `json:"git_url"` // where to git push, e.g. ssh://git@host:2222/shop.git
	WebURL  string `json:"web_url"` // the default domain, e.g. http://shop.localhost:8000
	// ForceHTTPS redirects the app's plain-HTTP requests to HTTPS (308)
	// where the router serves HTTPS.
	ForceHTTPS bool `json:"force_https"`
	// MaxBodyBytes limits a request's body at the router; 0 is the
	// router's default.
	MaxBodyBytes int64     `json:"max_body_bytes"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// AppUpdate changes an app's HTTP settings (PATCH /v1/apps/{app}); a nil
// field is left as it is.
type AppUpdate struct {
	ForceHTTPS   *bool  `json:"force_https,omitempty"`
	MaxBodyBytes *int64 `json:"max_body_bytes,omitempty"`
}

// AppInfo is an app with what apps:info shows beside it.
type AppInfo struct {
	App
	Formation     []Process      `json:"formation"`
	Domains       []Domain       `json:"domains"`
	Collaborators []Collaborator `json:"collaborators"`
	Current       *Release       `json:"current_release,omitempty"`
}

// Release statuses. A release is recorded as pending; the scheduler moves
// it to deploying and then to succeeded, or to failed with a reason, and
// the running release stays what it was.
const (
	ReleasePending   = "pending"
	ReleaseDeploying = "deploying"
	ReleaseSucceeded = "succeeded"
	ReleaseFailed    = "failed"
)

// Release is one immutable version of an app: an image and a snapshot of
// its config. Versions count up from 1 per app and are never reused.
type Release struct {
	Version      int               `json:"version"`
	Image        string            `json:"image"`  // image reference, e.g. paas/shop:build-3
	Digest       string            `json:"digest"` // sha256:... of the manifest, when known
	Build        int64             `json:"build,omitempty"`
	ProcessTypes map[string]string `json:"process_types"`    // process type → command
	Config       map[string]string `json:"config,omitempty"` // only in single-release answers
	ConfigKeys   []string          `json:"config_keys"`      // names of the config vars, sorted
	Status       string            `json:"status"`
	Reason       string            `json:"reason,omitempty"` // why a release failed
	Description  string            `json:"description"`      // "Deploy 1a2b3c4", "Set FOO, BAR", "Rollback to v2"
	CreatedBy    string            `json:"created_by"`
	CreatedAt    time.Time         `json:"created_at"`
}

// NewRelease asks for a release of an existing image (as Deis's "pull"
// and Heroku's release-from-slug do). Config comes from the app.
type NewRelease struct {
	Image        string            `json:"image"`
	Digest       string            `json:"digest,omitempty"`
	ProcessTypes map[string]string `json:"process_types,omitempty"`
	Description  string            `json:"description,omitempty"`
}

// Rollback names the release to roll back to; 0 means the one before the
// current release.
type Rollback struct {
	Version int `json:"version,omitempty"`
}

// ConfigChange is the answer to a config update: the app's config after it,
// whether it changed anything, and the release it made, if it changed
// something and the app had a release to base one on.
type ConfigChange struct {
	Config  map[string]string `json:"config"`
	Changed bool              `json:"changed"`
	Release *Release          `json:"release,omitempty"`
}

// Process is the formation of one process type.
type Process struct {
	Type     string `json:"type"`
	Quantity int    `json:"quantity"`
	Memory   int64  `json:"memory"` // limit in bytes; 0 means the server's default
	CPU      int    `json:"cpu"`    // limit in millicores; 0 means the server's default
	// Pids limits the processes and threads of each instance; 0 means the
	// server's default.
	Pids    int64  `json:"pids"`
	Command string `json:"command,omitempty"`
}

// ProcessUpdate changes one process type's formation; nil fields are kept.
type ProcessUpdate struct {
	Type     string `json:"type"`
	Quantity *int   `json:"quantity,omitempty"`
	Memory   *int64 `json:"memory,omitempty"`
	CPU      *int   `json:"cpu,omitempty"`
	Pids     *int64 `json:"pids,omitempty"`
}

// Build statuses.
const (
	BuildPending   = "pending"
	BuildRunning   = "running"
	BuildSucceeded = "succeeded"
	BuildFailed    = "failed"
)

// Build is one run of the builder over a pushed revision.
type Build struct {
	ID         int64      `json:"id"`
	App        string     `json:"app"`
	Rev        string     `json:"rev"` // the pushed commit
	Status     string     `json:"status"`
	Image      string     `json:"image,omitempty"`
	Digest     string     `json:"digest,omitempty"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Domain routes a host name to an app. Names are unique across all apps.
type Domain struct {
	Name      string    `json:"name"` // e.g. shop.example.com or *.example.com
	App       string    `json:"app"`
	CreatedAt time.Time `json:"created_at"`
}

// Collaborator is a user who may deploy and configure an app they do not own.
type Collaborator struct {
	User      string    `json:"user"`
	CreatedAt time.Time `json:"created_at"`
}

// AuditEvent is one entry of the append-only record of state changes.
// Details never hold secret values, only what changed (keys, names).
type AuditEvent struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`  // user name
	Action     string    `json:"action"` // e.g. app.create, config.set
	App        string    `json:"app,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
}

// AuditQuery filters the audit log; zero fields do not filter.
type AuditQuery struct {
	App    string
	Actor  string
	Before int64 // only events with a smaller ID, for paging back
	Limit  int   // at most this many, newest first; 0 means 100
}

// Info describes a controller; it is public.
type Info struct {
	Version    string `json:"version"`
	BaseDomain string `json:"base_domain"`
}

// Health is the answer of /healthz: overall status and each component's.
type Health struct {
	Status string `json:"status"` // ok or degraded
	// Components is each component's state, shown to admins only.
	Components map[string]ComponentHealth `json:"components,omitempty"`
}

// ComponentHealth is the state of one dependency of the server.
type ComponentHealth struct {
	OK      bool   `json:"ok"`
	Address string `json:"address,omitempty"`
	Version string `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Instance is one running (or exited) process of an app, as paas ps shows.
type Instance struct {
	Name     string    `json:"name"` // web.1
	Release  int       `json:"release"`
	State    string    `json:"state"` // running, starting, crashed, stopping
	Healthy  bool      `json:"healthy"`
	Address  string    `json:"address,omitempty"`
	Node     string    `json:"node"`
	Restarts int       `json:"restarts"`
	Created  time.Time `json:"created"`
	ID       string    `json:"id"`
}

// Event is a platform event of an app: a start, a stop, a crash, a
// release going live or failing.
type Event struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source,omitempty"` // scheduler, build
	Message string    `json:"message"`
}

// RunRequest asks for a one-off process (paas run).
type RunRequest struct {
	Command  string `json:"command"`
	Detached bool   `json:"detached,omitempty"`
}

// HealthCheck says when a new instance of a process type is healthy. For
// web: an HTTP GET of Path answering 2xx or 3xx, or, with no Path, a TCP
// connection to $PORT; other types: still running after the settle time.
// Each attempt may take Timeout seconds; after Attempts failures the
// rollout is abandoned.
type HealthCheck struct {
	Type     string `json:"type"`
	Path     string `json:"path,omitempty"`
	Timeout  int    `json:"timeout"`  // seconds per attempt; 0 means 5
	Attempts int    `json:"attempts"` // 0 means as many as fit in the server's health timeout
}

// ValidateHealthCheck checks a health check's settings.
func ValidateHealthCheck(h HealthCheck) error {
	if err := ValidateProcessType(h.Type); err != nil {
		return err
	}
	if h.Path != "" && (!strings.HasPrefix(h.Path, "/") || len(h.Path) > 512 || strings.ContainsAny(h.Path, " \t\r\n")) {
		return Errorf(ErrInvalid, "invalid health check path %q: an absolute path such as /health", clip(h.Path))
	}
	if h.Path != "" && h.Type != "web" {
		return Errorf(ErrInvalid, "only web processes have an HTTP health check; %s processes count as healthy when they keep running", h.Type)
	}
	if h.Timeout < 0 || h.Timeout > 300 {
		return Errorf(ErrInvalid, "health check timeout must be 1 to 300 seconds")
	}
	if h.Attempts < 0 || h.Attempts > 1000 {
		return Errorf(ErrInvalid, "health check attempts must be 1 to 1000")
	}
	return nil
}

// Cert describes a TLS certificate of an app (never its key).
type Cert struct {
	Name      string    `json:"name"`    // the first DNS name, which identifies it
	Domains   []string  `json:"domains"` // every DNS name it covers
	Issuer    string    `json:"issuer"`
	NotAfter  time.Time `json:"not_after"`
	CreatedAt time.Time `json:"created_at"`
}

// NewCert uploads a certificate chain and its private key, PEM-encoded.
type NewCert struct {
	CertPEM string `json:"cert_pem"`
	KeyPEM  string `json:"key_pem"`
}

// Quotas are the operator's limits on what users may ask for (paas
// server's settings). A zero field is the store's built-in value, given
// per field.
type Quotas struct {
	// MaxMemory is the most memory one instance may be given, in bytes; if
	// 0, 64 GiB.
	MaxMemory int64
	// MaxCPU is the most CPU one instance may be given, in millicores; if
	// 0, 64000.
	MaxCPU int
	// MaxPids is the most processes (and threads) one instance may be
	// given; if 0, 32768.
	MaxPids int64
	// MaxProcessInstances is the most instances of one process type; if
	// 0, 100.
	MaxProcessInstances int
	// MaxAppInstances is the most instances of one app, all process types
	// together; if 0, no limit beyond the per-type one.
	MaxAppInstances int
	// AppLimit is how many apps a user may own unless an admin gave them a
	// limit of their own; if 0, no limit. Admins have none.
	AppLimit int
}

// UserLimits is what an admin sends to set a user's own limits.
type UserLimits struct {
	// Apps is how many apps the user may own (0: none); null gives the
	// user the server's default again.
	Apps *int `json:"apps"`
}

// UserQuota is a user's limits and what they use of them.
type UserQuota struct {
	User string `json:"user"`
	// Apps is the user's own app limit; null when the server's default
	// applies.
	Apps *int `json:"apps"`
	// AppLimit is the app limit in effect; null when there is none (an
	// admin, or a server without a default).
	AppLimit *int `json:"app_limit"`
	// AppsOwned is how many apps the user owns now.
	AppsOwned int `json:"apps_owned"`
}

// MaxUserAppLimit bounds a user's own app limit.
const MaxUserAppLimit = 100000
