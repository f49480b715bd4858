package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"paas/runtime/network"
)

// Labels every instance carries in containerd.
const (
	LabelApp      = "paas.app"
	LabelRelease  = "paas.release"
	LabelProcess  = "paas.process"
	LabelInstance = "paas.instance" // the number in web.3
	LabelNode     = "paas.node"
	LabelIP       = "paas.ip"
	LabelPort     = "paas.port"
	LabelNetNS    = "paas.netns"
	LabelOneOff   = "paas.oneoff" // "true" for paas run
	LabelCreated  = "paas.created"
)

// Spec describes an instance to start.
type Spec struct {
	App     string
	Release int
	Process string // process type: web, worker...
	Number  int    // 1, 2, ... within the process type
	Image   string // image name in the runtime's containerd namespace
	// Command is the process's command line, run with /bin/sh -c (as a
	// Procfile's); empty runs the image's entrypoint and command.
	Command string
	Env     map[string]string // config vars; the runtime adds PORT and PAAS_*
	// Port is given to the process as $PORT; 0 sets no PORT.
	Port   int
	Memory int64 // bytes; 0 means the runtime's default (Options.Memory)
	CPU    int   // millicores; 0 means the runtime's default (Options.CPU)
	Pids   int64 // processes and threads; 0 means the runtime's default (Options.Pids)
	OneOff bool  // a paas run container, not part of the formation
}

// Name is the instance's name as users see it: web.1.
func (s Spec) Name() string { return fmt.Sprintf("%s.%d", s.Process, s.Number) }

// Instance states.
const (
	StateRunning = "running"
	StateCreated = "created"
	StateStopped = "stopped" // the process exited
	StateUnknown = "unknown"
)

// Instance is an instance as containerd knows it.
type Instance struct {
	ID       string
	App      string
	Release  int
	Process  string
	Number   int
	Node     string
	IP       string
	Port     int
	OneOff   bool
	State    string
	ExitCode uint32 // when State is stopped
	Created  time.Time
}

// Name is the instance's name as users see it: web.1.
func (i Instance) Name() string { return fmt.Sprintf("%s.%d", i.Process, i.Number) }

// Address is host:port of the instance's $PORT, or "" if it has none.
func (i Instance) Address() string {
	if i.IP == "" || i.Port == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%d", i.IP, i.Port)
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start creates and starts an instance. On error nothing is left behind.
func (r *Runtime) Start(ctx context.Context, s Spec) (Instance, error) {
	inst, _, err := r.start(ctx, s, nil)
	return inst, err
}

// Stdio attaches a one-off instance to a person: its standard streams and,
// with TTY, a pseudo-terminal (then Stderr is unused).
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
}

// Attached is a running instance whose streams are attached.
type Attached struct {
	Instance
	task containerd.Task
}

// Wait blocks until the process exits and its output has reached the
// Stdio's writers (for at most ioDrain more), and returns its exit code.
func (a *Attached) Wait(ctx context.Context) (uint32, error) {
	ch, err := a.task.Wait(ctx)
	if err != nil {
		return 0, err
	}
	select {
	case st := <-ch:
		if io := a.task.IO(); io != nil {
			drained := make(chan struct{})
			go func() { io.Wait(); close(drained) }()
			select {
			case <-drained:
			case <-time.After(ioDrain):
			}
		}
		return st.ExitCode(), st.Error()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// ioDrain bounds how long Attached.Wait waits for the copy of output
// that a process wrote just before it exited.
const ioDrain = 2 * time.Second

// Resize sets the size of the instance's terminal.
func (a *Attached) Resize(ctx context.Context, width, height uint32) error {
	return a.task.Resize(ctx, width, height)
}

// StartAttached starts a one-off instance with its standard streams
// attached to io instead of its log. Stop it when done.
func (r *Runtime) StartAttached(ctx context.Context, s Spec, io Stdio) (*Attached, error) {
	s.OneOff = true
	inst, task, err := r.start(ctx, s, &io)
	if err != nil {
		return nil, err
	}
	return &Attached{Instance: inst, task: task}, nil
}

func (r *Runtime) start(ctx context.Context, s Spec, stdio *Stdio) (inst Instance, task containerd.Task, err error) {
	if err := r.ready(); err != nil {
		return Instance{}, nil, err
	}
	c, launcher, err := r.dialLauncher()
	if err != nil {
		return Instance{}, nil, err
	}
	img, err := c.GetImage(ctx, s.Image)
	if err != nil {
		return Instance{}, nil, fmt.Errorf("image %s: %w", s.Image, err)
	}
	if ok, err := img.IsUnpacked(ctx, r.opt.Snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, r.opt.Snapshotter); err != nil {
			return Instance{}, nil, fmt.Errorf("unpack %s: %w", s.Image, err)
		}
	}
	id := fmt.Sprintf("%s.%s.%d.v%d.%s", s.App, s.Process, s.Number, s.Release, randomSuffix())
	labels := map[string]string{
		LabelApp:      s.App,
		LabelRelease:  strconv.Itoa(s.Release),
		LabelProcess:  s.Process,
		LabelInstance: strconv.Itoa(s.Number),
		LabelNode:     r.opt.Node,
		LabelCreated:  time.Now().UTC().Format(time.RFC3339Nano),
	}
	if s.OneOff {
		labels[LabelOneOff] = "true"
	}
	if s.Port > 0 {
		labels[LabelPort] = strconv.Itoa(s.Port)
	}

	env := make([]string, 0, len(s.Env)+4)
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	if s.Port > 0 {
		env = append(env, "PORT="+strconv.Itoa(s.Port))
	}
	env = append(env, "PAAS_APP="+s.App, "PAAS_RELEASE=v"+strconv.Itoa(s.Release), "PAAS_PROCESS="+s.Name())
	var args []string
	if s.Command != "" {
		args = []string{"/bin/sh", "-c", s.Command}
	}
	resolv := r.opt.ResolvConf
	if resolv == "" {
		resolv = "/etc/resolv.conf"
	}
	if s.Memory == 0 {
		s.Memory = r.opt.Memory
	}
	if s.Pids == 0 {
		s.Pids = r.opt.Pids
	}
	if s.CPU == 0 {
		s.CPU = r.opt.CPU
	}
	// From here on, undo what was done if anything fails.
	cleanup := context.WithoutCancel(ctx)
	launched, err := launcher.Create(ctx, Container{
		ID: id, Labels: labels, Image: img,
		Args: args, Env: env,
		Hostname: s.App + "-" + s.Process + "-" + strconv.Itoa(s.Number),
		Network:  r.opt.Network, NetworkLabels: map[string]string{network.GroupLabel: s.App}, ResolvConf: resolv,
		Limits: Limits{Memory: s.Memory, CPU: s.CPU, Pids: s.Pids},
		TTY:    stdio != nil && stdio.TTY,
	})
	if err != nil {
		return Instance{}, nil, err
	}
	defer func() {
		if err != nil {
			_ = launcher.Remove(cleanup, id, r.opt.Network)
		}
	}()
	ctr := launched.Container
	labels[LabelIP] = launched.IP.String()
	labels[LabelNetNS] = launched.NetNS
	logTo := cio.LogFile(r.logPath(id))
	if r.opt.LogDriver != "" {
		logTo = cio.BinaryIO(r.opt.LogDriver, map[string]string{LogDriverCommand: r.logPath(id)})
	}
	if stdio != nil {
		opts := []cio.Opt{cio.WithStreams(stdio.Stdin, stdio.Stdout, stdio.Stderr)}
		if stdio.TTY {
			opts = append(opts, cio.WithTerminal)
		}
		logTo = cio.NewCreator(opts...)
	}
	task, err = ctr.NewTask(ctx, logTo)
	if err != nil {
		return Instance{}, nil, fmt.Errorf("create task %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			_, _ = task.Delete(cleanup, containerd.WithProcessKill)
		}
	}()
	if err := task.Start(ctx); err != nil {
		return Instance{}, nil, fmt.Errorf("start %s: %w", id, err)
	}
	return instanceOf(id, labels, StateRunning, 0), task, nil
}

func instanceOf(id string, labels map[string]string, state string, exit uint32) Instance {
	atoi := func(k string) int { n, _ := strconv.Atoi(labels[k]); return n }
	created, _ := time.Parse(time.RFC3339Nano, labels[LabelCreated])
	return Instance{
		ID: id, App: labels[LabelApp], Release: atoi(LabelRelease), Process: labels[LabelProcess],
		Number: atoi(LabelInstance), Node: labels[LabelNode], IP: labels[LabelIP], Port: atoi(LabelPort),
		OneOff: labels[LabelOneOff] == "true", State: state, ExitCode: exit, Created: created,
	}
}

// List returns every instance in the runtime's namespace, running or not.
func (r *Runtime) List(ctx context.Context) ([]Instance, error) {
	c, err := r.dial()
	if err != nil {
		return nil, err
	}
	ctrs, err := c.Containers(ctx, `labels."`+LabelApp+`"`)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Instance, 0, len(ctrs))
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if errdefs.IsNotFound(err) {
			continue // deleted meanwhile
		} else if err != nil {
			return nil, err
		}
		state, exit := StateCreated, uint32(0)
		task, err := ctr.Task(ctx, nil)
		switch {
		case errdefs.IsNotFound(err):
		case err != nil:
			state = StateUnknown
		default:
			st, err := task.Status(ctx)
			switch {
			case err != nil:
				state = StateUnknown
			case st.Status == containerd.Running || st.Status == containerd.Paused || st.Status == containerd.Pausing:
				state = StateRunning
			case st.Status == containerd.Stopped:
				state, exit = StateStopped, st.ExitStatus
			}
		}
		out = append(out, instanceOf(ctr.ID(), labels, state, exit))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stop stops an instance — SIGTERM, then SIGKILL after the grace period —
// and removes its container, writable layer and network namespace. The log
// file stays. Stopping an instance that is gone succeeds.
func (r *Runtime) Stop(ctx context.Context, id string) error {
	c, launcher, err := r.dialLauncher()
	if err != nil {
		return err
	}
	ctr, err := c.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	if task, err := ctr.Task(ctx, nil); err == nil {
		if err := r.stopTask(ctx, task); err != nil {
			errs = append(errs, err)
		}
	} else if !errdefs.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := launcher.Remove(ctx, id, r.opt.Network); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r *Runtime) stopTask(ctx context.Context, task containerd.Task) error {
	st, err := task.Status(ctx)
	if err == nil && st.Status != containerd.Stopped {
		exited, err := task.Wait(ctx)
		if err != nil {
			return err
		}
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal %s: %w", task.ID(), err)
		}
		grace := time.NewTimer(r.opt.StopGrace)
		defer grace.Stop()
		select {
		case <-exited:
		case <-grace.C:
			if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("kill %s: %w", task.ID(), err)
			}
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete task %s: %w", task.ID(), err)
	}
	return nil
}

// Logs returns up to the last n lines of an instance's output.
func (r *Runtime) Logs(id string, n int) ([]string, error) {
	f, err := os.Open(r.logPath(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const max = 64 << 10
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	b, err := io.ReadAll(io.NewSectionReader(f, off, max))
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if off > 0 && len(lines) > 0 {
		lines = lines[1:] // a partial first line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if len(l) > 0 || len(lines) > 1 {
			out = append(out, ParseLogLine(string(l)).Text)
		}
	}
	return out, nil
}

// Wait blocks until an instance's process exits and returns its exit
// code. An instance already stopped returns at once.
func (r *Runtime) Wait(ctx context.Context, id string) (uint32, error) {
	c, err := r.dial()
	if err != nil {
		return 0, err
	}
	ctr, err := c.LoadContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return 0, err
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return 0, err
	}
	select {
	case st := <-ch:
		return st.ExitCode(), st.Error()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// LogPath is the file an instance's output goes to.
func (r *Runtime) LogPath(id string) string { return r.logPath(id) }
