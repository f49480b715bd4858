package gitreceive

import (
	"context"
	"io"
	"log/slog"
	"time"

	"paas/controller"
)

// Controller is what gitreceive needs from the controller, the only owner
// of state. Its methods are called concurrently, from one goroutine per SSH
// connection; every ctx ends when the connection does.
type Controller interface {
	// UserForKey resolves an SSH public key fingerprint ("SHA256:...", as
	// ssh-keygen -l prints it) to a user name. An unknown key gives an error
	// wrapping controller.ErrNotFound.
	UserForKey(ctx context.Context, fingerprint string) (string, error)
	// CanPush reports whether user may push to (and clone) app: nil, or an
	// error wrapping controller.ErrNotFound (no such app) or
	// controller.ErrForbidden.
	CanPush(ctx context.Context, user, app string) error
	// Deploy builds and releases the pushed tree and returns when the
	// release is live or has failed. Output goes to req.Output, line by
	// line, meant for the pusher; it should end with the URL the app is
	// served at. An error that wraps one of the controller's kinds is shown
	// to the pusher by its message; any other only as "deploy failed", with
	// the details in the log.
	Deploy(ctx context.Context, req DeployRequest) (controller.Release, error)
}

// DeployRequest is one pushed revision to build and release.
type DeployRequest struct {
	App  string
	User string // who pushed
	Rev  string // the pushed commit, 40 hex digits
	// Source is a tar stream of the commit's tree: directories 0755, files
	// 0644 or 0755, symlinks as symlinks, submodules left out. Deploy reads
	// it to the end or not at all; it is closed when Deploy returns.
	Source io.Reader
	// Output reaches the pusher as git progress lines ("remote: ...").
	// It is safe for concurrent use.
	Output io.Writer
}

// Defaults of the Options fields left zero.
const (
	DefaultMaxPushBytes = 1 << 30 // 1 GiB
	DefaultIdleTimeout  = 5 * time.Minute
	DefaultMaxTimeout   = 2 * time.Hour
	DefaultLockTimeout  = 10 * time.Minute
)

// Options configures a Server. Controller, ReposDir and HostKeyFile are
// required; every other zero field means its default.
type Options struct {
	Controller Controller
	// ReposDir holds one bare repository per app, <app>.git. It is created
	// (mode 0700) if missing.
	ReposDir string
	// HostKeyFile is the server's ed25519 host key, in OpenSSH's private key
	// format. It is generated on first start (mode 0600) and reused after,
	// so that clients' known_hosts stay valid.
	HostKeyFile string
	// MaxPushBytes bounds the pack data of one push; default
	// DefaultMaxPushBytes. Negative means no limit.
	MaxPushBytes int64
	// IdleTimeout closes a connection on which nothing moved for this long;
	// default DefaultIdleTimeout. While a deploy runs or a push waits for
	// its turn, the server keeps the connection alive itself.
	IdleTimeout time.Duration
	// MaxTimeout bounds a whole connection, deploy included; default
	// DefaultMaxTimeout.
	MaxTimeout time.Duration
	// LockTimeout is how long a push waits for an earlier push to the same
	// app to finish before it gives up; default DefaultLockTimeout.
	LockTimeout time.Duration
	// GitPath is the git binary used for upload-pack; default "git", looked
	// up in PATH.
	GitPath string
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
}

// Runner is implemented by a Controller that can run one-off processes
// attached to the person at the other end of the SSH session:
// "ssh -t git@HOST -p 2222 run APP -- COMMAND" (paas run uses it when its
// standard input is a terminal).
type Runner interface {
	Run(ctx context.Context, req RunRequest) (int, error)
}

// RunRequest is one attached run.
type RunRequest struct {
	App, User, Command string
	TTY                bool
	Stdin              io.Reader
	Stdout, Stderr     io.Writer
	Resize             <-chan [2]uint32 // terminal width, height; first the initial size
}
