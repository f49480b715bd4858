package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"paas/runtime"
	"paas/runtime/network"
)

// Limits bound one step's container. Zero means no limit.
type Limits struct {
	Memory  int64         // bytes
	CPUs    float64       // cores
	Pids    int64         // processes
	Timeout time.Duration // wall clock
}

// RunSpec is a command to run on top of a state.
type RunSpec struct {
	Args    []string // argv; Args[0] is looked up in the container's PATH
	Env     []string // KEY=value; PATH defaults to the usual one
	Dir     string   // working directory; "/" if empty
	User    string   // user[:group] or uid[:gid]; root if empty
	Output  io.Writer
	Limits  Limits
	Network *network.Network // nil: loopback only
	// ResolvConf is a host file bind-mounted read-only at /etc/resolv.conf
	// when Network is set.
	ResolvConf string
	CreatedBy  string // image history
	// Mounts are added to the container's (e.g. a Volume's).
	Mounts []specs.Mount
}

// ExitError is a step's command that ended with a non-zero status.
type ExitError struct{ Status uint32 }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Status) }

// ErrTimeout is a step that ran out of its wall-clock limit.
var ErrTimeout = errors.New("step timed out")

// limitPoll is how often a running step's cgroup counters are read.
const limitPoll = 200 * time.Millisecond

// killWait bounds how long a killed task may take to report its exit.
const killWait = 10 * time.Second

// Run runs spec in a container whose root is a new snapshot on parent, and
// commits what the command changed as a new layer. A non-zero exit is an
// *ExitError. When ctx ends or the timeout passes the task is killed at
// once; in every case the container, its task, its network namespace and
// its snapshot are removed before Run returns.
func (s *Store) Run(ctx context.Context, parent State, spec RunSpec) (_ State, err error) {
	id := "paas-build-" + randomID()
	if _, err := s.snapshots().Prepare(ctx, id, parent.ChainID().String()); err != nil {
		return State{}, fmt.Errorf("prepare snapshot: %w", err)
	}
	defer s.removeSnapshot(ctx, id)

	if err := s.runContainer(ctx, id, id, spec); err != nil {
		return State{}, err
	}
	return s.commitSnapshot(ctx, parent, id, spec.CreatedBy)
}

// Workdir is a writable snapshot that several commands run in, one after
// the other, without a layer committed between them: committing diffs the
// whole root filesystem, seconds on a large image, while a front end that
// only needs some files of the result can read them with View. It is not
// safe for concurrent use.
type Workdir struct {
	s   *Store
	key string
}

// Workdir prepares a writable snapshot on parent. The caller removes it
// with Remove.
func (s *Store) Workdir(ctx context.Context, parent State) (*Workdir, error) {
	key := "paas-build-" + randomID()
	if _, err := s.snapshots().Prepare(ctx, key, parent.ChainID().String()); err != nil {
		return nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	return &Workdir{s: s, key: key}, nil
}

// Run runs spec in a container on the snapshot, as Store.Run does, and
// keeps what it changed in the snapshot.
func (w *Workdir) Run(ctx context.Context, spec RunSpec) error {
	return w.s.runContainer(ctx, "paas-build-"+randomID(), w.key, spec)
}

// View mounts the snapshot read-only for the duration of f.
func (w *Workdir) View(ctx context.Context, f func(root string) error) error {
	mounts, err := w.s.snapshots().Mounts(ctx, w.key)
	if err != nil {
		return fmt.Errorf("snapshot mounts: %w", err)
	}
	return mount.WithReadonlyTempMount(ctx, mounts, f)
}

// Remove deletes the snapshot, even when ctx is cancelled.
func (w *Workdir) Remove(ctx context.Context) { w.s.removeSnapshot(ctx, w.key) }

// Volume is a writable directory that outlives builds, kept by the
// snapshotter as a snapshot with no parent that is never committed (and a
// garbage-collection root, so no lease is needed to keep it), and mounted
// into build containers: a front end's cache that costs no copying and no
// layer. It is not safe for concurrent use; callers serialize builds that
// share one.
type Volume struct {
	s      *Store
	key    string
	mounts []mount.Mount
	labels map[string]string
}

// labelGCRoot keeps a snapshot from the garbage collector.
const labelGCRoot = "containerd.io/gc.root"

// Volume opens the volume called key, creating an empty one if there is
// none.
func (s *Store) Volume(ctx context.Context, key string) (*Volume, error) {
	sn := s.snapshots()
	info, err := sn.Stat(ctx, key)
	var mounts []mount.Mount
	switch {
	case errdefs.IsNotFound(err):
		info.Labels = map[string]string{labelGCRoot: time.Now().UTC().Format(time.RFC3339), LabelBuilder: "paas"}
		mounts, err = sn.Prepare(ctx, key, "", snapshots.WithLabels(info.Labels))
		if err != nil {
			return nil, fmt.Errorf("create volume %s: %w", key, err)
		}
	case err != nil:
		return nil, err
	case info.Kind != snapshots.KindActive:
		return nil, fmt.Errorf("volume %s: snapshot is not active", key)
	default:
		if mounts, err = sn.Mounts(ctx, key); err != nil {
			return nil, fmt.Errorf("volume %s: %w", key, err)
		}
	}
	if len(mounts) != 1 || mounts[0].Type != "bind" {
		return nil, fmt.Errorf("volume %s: the %s snapshotter does not give a bind mount", key, s.snapshotter)
	}
	return &Volume{s: s, key: key, mounts: mounts, labels: info.Labels}, nil
}

// Dir is the volume's directory on the host, for the caller's own reads
// and writes between containers.
func (v *Volume) Dir() string { return v.mounts[0].Source }

// Mount is the volume bind-mounted at dest in a container.
func (v *Volume) Mount(dest string) specs.Mount {
	return specs.Mount{Destination: dest, Type: "bind", Source: v.Dir(), Options: []string{"rbind", "rw", "nosuid", "nodev"}}
}

// Label is one of the volume's labels ("" if unset).
func (v *Volume) Label(key string) string { return v.labels[key] }

// SetLabel sets one of the volume's labels (values up to 4 KiB).
func (v *Volume) SetLabel(ctx context.Context, key, value string) error {
	_, err := v.s.snapshots().Update(ctx, snapshots.Info{Name: v.key, Labels: map[string]string{key: value}}, "labels."+key)
	if err == nil {
		v.labels[key] = value
	}
	return err
}

// RemoveVolume deletes the volume called key; one that is not there is
// no error.
func (s *Store) RemoveVolume(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := s.snapshots().Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", key, err)
	}
	return nil
}

func (s *Store) runContainer(ctx context.Context, id, snapshot string, spec RunSpec) (err error) {
	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	env := spec.Env
	if !hasKey(env, "PATH") {
		env = append([]string{"PATH=" + DefaultPath}, env...)
	}
	l := spec.Limits
	launched, err := s.launcher.Create(ctx, runtime.Container{
		ID: id, Labels: map[string]string{LabelBuilder: "paas"}, Snapshot: snapshot,
		Args: spec.Args, Env: env, Cwd: dir, User: spec.User, Hostname: "build",
		Network: spec.Network, NetworkLabels: map[string]string{"paas.build": id}, ResolvConf: spec.ResolvConf,
		Mounts: spec.Mounts,
		Limits: runtime.Limits{Memory: l.Memory, CPU: int(l.CPUs * 1000), Pids: l.Pids},
	})
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	c := launched.Container
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		// The snapshot is the caller's: Remove leaves it. Right after a
		// cancel the task may not be quite gone (a delete that raced the
		// kill): delete it again and retry, a few times.
		for attempt := 0; ; attempt++ {
			derr := s.launcher.Remove(cctx, id, spec.Network)
			if derr == nil {
				return
			}
			if attempt == 5 || cctx.Err() != nil {
				s.log.Warn("remove build container", "container", id, "err", derr)
				return
			}
			if t, err := c.Task(cctx, nil); err == nil {
				if _, err := t.Delete(cctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
					s.log.Debug("delete build task again", "container", id, "err", err)
				}
			}
			time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
		}
	}()

	out := spec.Output
	if out == nil {
		out = io.Discard
	}
	// The shim writes stdout and stderr to a file that is tailed into out:
	// unlike FIFOs, nothing is lost when a command exits at once.
	logDir, err := os.MkdirTemp("", "paas-build-log-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logDir)
	logPath := filepath.Join(logDir, "output")
	task, err := c.NewTask(ctx, cio.LogFile(logPath))
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	tail := startTail(logPath, out)
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if _, derr := task.Delete(cctx, containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			s.log.Warn("delete build task", "container", id, "err", derr)
		}
		tail.finish() // the shim has closed the file: read what is left
	}()
	// Wait must not end with ctx: after a cancel the task is killed and
	// its real exit awaited below.
	exitc, err := task.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("wait for task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	// The kernel counts OOM kills and failed forks in the step's cgroup:
	// the first of either stops the step (a fork bomb, a runaway
	// allocation), and its error says which limit it reached.
	var cgroupsPath string
	var poll <-chan time.Time
	if spec.Limits.Memory > 0 || spec.Limits.Pids > 0 {
		if sp, err := c.Spec(ctx); err == nil && sp.Linux != nil {
			cgroupsPath = sp.Linux.CgroupsPath
		}
		t := time.NewTicker(limitPoll)
		defer t.Stop()
		poll = t.C
	}

	var timeout <-chan time.Time
	if spec.Limits.Timeout > 0 {
		t := time.NewTimer(spec.Limits.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var stopErr error
wait:
	for {
		select {
		case st := <-exitc:
			code, _, err := st.Result()
			if err != nil {
				return fmt.Errorf("task: %w", err)
			}
			// A limit reached just before the exit (the shell reporting a
			// killed child, a bomb whose parent returned) still fails the step.
			if le := limitHit(cgroupsPath, spec.Limits); le != nil {
				return le
			}
			if code != 0 {
				return &ExitError{Status: code}
			}
			return nil
		case <-ctx.Done():
			stopErr = ctx.Err()
			break wait
		case <-timeout:
			stopErr = fmt.Errorf("%w after %s", ErrTimeout, spec.Limits.Timeout)
			break wait
		case <-poll:
			if le := limitHit(cgroupsPath, spec.Limits); le != nil {
				stopErr = le
				break wait
			}
		}
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killWait)
	defer cancel()
	if err := task.Kill(kctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("kill build task", "container", id, "err", err)
	}
	select {
	case <-exitc:
	case <-kctx.Done():
		s.log.Warn("build task did not exit after SIGKILL", "container", id)
	}
	return stopErr
}

// tailer copies a growing file to a writer until finish.
type tailer struct {
	stop chan struct{}
	done chan struct{}
}

// punchEvery is how much read output the tail lets pile up in the file
// before it frees the disk space (or memory, on tmpfs) under it.
const punchEvery = 1 << 20

func startTail(path string, w io.Writer) *tailer {
	t := &tailer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		var f *os.File
		defer func() {
			if f != nil {
				f.Close()
			}
		}()
		buf := make([]byte, 32<<10)
		var read, punched int64
		canPunch := true
		for {
			stopping := false
			select {
			case <-t.stop:
				stopping = true
			case <-time.After(50 * time.Millisecond):
			}
			if f == nil {
				f, _ = os.OpenFile(path, os.O_RDWR, 0) // the shim creates it
			}
			if f != nil {
				for {
					n, err := f.Read(buf)
					if n > 0 {
						_, _ = w.Write(buf[:n])
						read += int64(n)
					}
					// A step that prints without end must not fill the
					// host: what was read is punched out of the file (its
					// size, and the shim's offset, stay).
					if canPunch && read-punched >= punchEvery {
						err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, punched, read-punched)
						canPunch = err == nil // a file system without holes keeps it all
						punched = read
					}
					if err != nil || n == 0 {
						break
					}
				}
			}
			if stopping {
				return
			}
		}
	}()
	return t
}

// finish reads what is left and stops the tail.
func (t *tailer) finish() {
	close(t.stop)
	<-t.done
}

// DefaultPath is the PATH of a step whose environment sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func hasKey(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}
