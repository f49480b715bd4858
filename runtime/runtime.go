// Package runtime is the only code, beside the builder, that talks to
// containerd and CNI for app instances. An instance is one container and
// its task in one containerd namespace ("paas" by default), labelled with
// its app, release, process type and number, in a network namespace of
// its own on the CNI bridge, with memory, CPU and pids limits, and its
// stdout and stderr in a log file.
//
// Launcher is the one place where containers are made, for instances and
// for the builder's steps alike, and so the one place that decides their
// isolation: seccomp, capabilities, no_new_privs, a user namespace (see
// its doc), the network namespace and the limits.
//
// The runtime keeps no state: everything it knows of an instance is in
// containerd (labels) and on disk (the log), so a new Runtime after a
// restart of paas sees, and can stop, what the old one started.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"paas/runtime/network"
)

// DefaultAddress is containerd's usual socket.
const DefaultAddress = "/run/containerd/containerd.sock"

// DefaultNamespace is the containerd namespace paas works in.
const DefaultNamespace = "paas"

// Options configure a Runtime. Zero values are documented per field.
type Options struct {
	Address   string // containerd socket; if empty, DefaultAddress
	Namespace string // containerd namespace; if empty, DefaultNamespace
	// Network gives instances their network namespace. Required to start
	// instances; Ping works without it.
	Network *network.Network
	// LogDir keeps each instance's log file. Required to start instances.
	LogDir string
	// Node names this machine in instance records; if empty, the host name.
	Node string
	// StopGrace is how long a stopping instance has between SIGTERM and
	// SIGKILL; if 0, 30 s (as Heroku gives).
	StopGrace time.Duration
	// Snapshotter unpacks images and makes writable layers; if empty,
	// overlayfs.
	Snapshotter string
	// Pids limits the processes (and threads) of an instance whose Spec
	// sets none; if 0, 2048.
	Pids int64
	// Memory (bytes) and CPU (millicores) limit an instance whose Spec
	// sets none: the formation's default, and that of one-off and release
	// commands. If 0, such an instance has no limit.
	Memory int64
	CPU    int
	// LogDriver is the absolute path of the paas binary, which the shim
	// runs as "paas log-driver FILE" to timestamp and rotate an
	// instance's output. If empty, output goes straight to the file,
	// without times, and containerd 1.6's shim may lose the last lines of
	// stderr (it closes the file both streams share when stdout ends).
	LogDriver string
	// ResolvConf is the host file bind-mounted read-only at
	// /etc/resolv.conf in instances (see network.WriteResolvConf); if
	// empty, a copy of the host's /etc/resolv.conf.
	ResolvConf string
	// UserNS is the host range that uids and gids 0… of instances map
	// to (see Launcher); if zero, DefaultUserNS.
	UserNS IDMap
	// HostUserNS runs instances in the host's user namespace, their root
	// the host's root: only for kernels without id-mapped mounts, by the
	// operator's explicit choice.
	HostUserNS bool
	// RootfsDir is where instances' root filesystems are mounted; if
	// empty, /run/paas/rootfs.
	RootfsDir string
}

// Runtime runs instances on one containerd. It dials lazily and redials
// after a failure, so a containerd that starts after paas, or restarts, is
// picked up. It is safe for concurrent use.
type Runtime struct {
	opt Options

	mu       sync.Mutex
	client   *containerd.Client
	launcher *Launcher
}

// New returns a Runtime. It does not dial yet.
func New(opt Options) *Runtime {
	if opt.Address == "" {
		opt.Address = DefaultAddress
	}
	if opt.Namespace == "" {
		opt.Namespace = DefaultNamespace
	}
	if opt.Node == "" {
		opt.Node, _ = os.Hostname()
	}
	if opt.StopGrace == 0 {
		opt.StopGrace = 30 * time.Second
	}
	if opt.Snapshotter == "" {
		opt.Snapshotter = "overlayfs"
	}
	if opt.Pids == 0 {
		opt.Pids = 2048
	}
	return &Runtime{opt: opt}
}

// Address is containerd's socket.
func (r *Runtime) Address() string { return r.opt.Address }

// Node is the name of the machine the runtime runs instances on.
func (r *Runtime) Node() string { return r.opt.Node }

func (r *Runtime) dial() (*containerd.Client, error) {
	c, _, err := r.dialLauncher()
	return c, err
}

func (r *Runtime) dialLauncher() (*containerd.Client, *Launcher, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return r.client, r.launcher, nil
	}
	c, err := containerd.New(r.opt.Address,
		containerd.WithDefaultNamespace(r.opt.Namespace),
		containerd.WithTimeout(3*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("containerd is unreachable at %s: %w", r.opt.Address, err)
	}
	r.client = c
	r.launcher = NewLauncher(c, LaunchOptions{Snapshotter: r.opt.Snapshotter, UserNS: r.userNS(), Dir: r.opt.RootfsDir})
	return c, r.launcher, nil
}

// Ping asks containerd for its version: the proof that it answers.
func (r *Runtime) Ping(ctx context.Context) (string, error) {
	if _, err := os.Stat(r.opt.Address); err != nil {
		return "", fmt.Errorf("containerd is unreachable: no socket at %s (is containerd running?)", r.opt.Address)
	}
	c, err := r.dial()
	if err != nil {
		return "", err
	}
	v, err := c.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd is unreachable at %s: %w", r.opt.Address, err)
	}
	return v.Version, nil
}

// Close closes the connection, if any. Instances keep running.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client == nil {
		return nil
	}
	err := errors.Join(r.client.Close(), r.launcher.Close())
	r.client, r.launcher = nil, nil
	return err
}

// userNS is the launcher's range: nil for the host's user namespace.
func (r *Runtime) userNS() *IDMap {
	if r.opt.HostUserNS {
		return nil
	}
	m := r.opt.UserNS
	if m == (IDMap{}) {
		m = DefaultUserNS
	}
	return &m
}

func (r *Runtime) logPath(id string) string {
	return filepath.Join(r.opt.LogDir, id+".log")
}

// LogDir is where instances' log files are: <instance ID>.log, and
// <instance ID>.log.1 after a rotation.
func (r *Runtime) LogDir() string { return r.opt.LogDir }

func (r *Runtime) ready() error {
	if r.opt.Network == nil {
		return errors.New("runtime: no network configured")
	}
	if r.opt.LogDir == "" {
		return errors.New("runtime: no log directory configured")
	}
	return os.MkdirAll(r.opt.LogDir, 0o700)
}
