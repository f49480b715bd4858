package scheduler

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"paas/controller"
	"paas/controller/internal/store"
	"paas/runtime"
)

// OneOffRuntime is what one-off runs need beyond Runtime.
type OneOffRuntime interface {
	Runtime
	Wait(ctx context.Context, id string) (uint32, error)
	LogPath(id string) string
}

// RunOneOff runs command in a new instance of the app's current release
// (paas run), with the release's config. Attached, it copies the output to
// out until the process exits, removes the instance and returns its exit
// code; ctx ending stops it. Detached, it returns at once and the
// instance's output goes to the app's logs; the instance is removed when
// it exits.
func (s *Scheduler) RunOneOff(ctx context.Context, app, command string, detached bool, out io.Writer) (int, error) {
	rt, ok := s.opt.Runtime.(OneOffRuntime)
	if !ok {
		return 0, controller.Errorf(controller.ErrInvalid, "this server cannot run one-off processes")
	}
	if strings.TrimSpace(command) == "" {
		return 0, controller.Errorf(controller.ErrInvalid, "no command given: paas run -- COMMAND")
	}
	deps, err := s.opt.State.Deployments(ctx)
	if err != nil {
		return 0, err
	}
	var d *store.Deployment
	for i := range deps {
		if deps[i].App == app {
			d = &deps[i]
		}
	}
	if d == nil {
		return 0, controller.Errorf(controller.ErrInvalid, "%s has no release to run: deploy it first", app)
	}
	return s.runSpec(ctx, rt, app, d.Release, d.Image, d.Config, command, detached, out)
}

// RunRelease runs a release's "release" process (a Procfile's release:
// line, such as database migrations) in a one-off instance of the new
// image, before the release exists, and returns its exit code.
func (s *Scheduler) RunRelease(ctx context.Context, app string, version int, image string, env map[string]string, command string, out io.Writer) (int, error) {
	rt, ok := s.opt.Runtime.(OneOffRuntime)
	if !ok {
		return 0, controller.Errorf(controller.ErrInvalid, "this server cannot run one-off processes")
	}
	return s.runSpec(ctx, rt, app, version, image, env, command, false, out)
}

func (s *Scheduler) runSpec(ctx context.Context, rt OneOffRuntime, app string, release int, image string, env map[string]string, command string, detached bool, out io.Writer) (int, error) {
	s.mu.Lock()
	s.runs++
	n := s.runs
	s.mu.Unlock()
	in, err := rt.Start(ctx, runtime.Spec{App: app, Release: release, Process: "run", Number: n, Image: image, Command: command, Env: env, Port: Port, OneOff: true})
	if err != nil {
		return 0, fmt.Errorf("start one-off: %w", err)
	}
	s.event(app, "starting run.%d: %s", n, command)
	if detached {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			wctx := context.WithoutCancel(ctx)
			code, _ := rt.Wait(wctx, in.ID)
			_ = rt.Stop(wctx, in.ID)
			s.event(app, "run.%d exited with code %d", n, code)
		}()
		return 0, nil
	}
	defer func() { _ = rt.Stop(context.WithoutCancel(ctx), in.ID) }()
	type result struct {
		code uint32
		err  error
	}
	done := make(chan result, 1)
	go func() { c, err := rt.Wait(ctx, in.ID); done <- result{c, err} }()
	var off int64
	// copyNew copies the lines added to the log since the last call; at the
	// end, a last line with no newline too.
	copyNew := func(final bool) {
		f, err := os.Open(rt.LogPath(in.ID))
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return
		}
		br := bufio.NewReader(f)
		for {
			l, err := br.ReadString('\n')
			if err != nil && (!final || l == "") {
				return
			}
			off += int64(len(l))
			fmt.Fprintln(out, runtime.ParseLogLine(strings.TrimSuffix(l, "\n")).Text)
			if f, ok := out.(interface{ Flush() }); ok {
				f.Flush()
			}
		}
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case r := <-done:
			// Deleting the task makes containerd's shim finish copying the
			// process's output to the log, but it waits 2 s at most: on a
			// machine busy writing to disk the last lines can land later. So
			// the log is read until it has not grown for a while.
			_ = rt.Stop(context.WithoutCancel(ctx), in.ID)
			settle(rt.LogPath(in.ID), copyNew)
			s.event(app, "run.%d exited with code %d", n, r.code)
			if r.err != nil {
				return 0, r.err
			}
			return int(r.code), nil
		case <-t.C:
			copyNew(false)
		}
	}
}

// settle copies what is added to the log at path until it has stayed the
// same size for logQuiet (logSettleMax at most), then copies a last line
// with no newline.
func settle(path string, copyNew func(final bool)) {
	deadline := time.Now().Add(logSettleMax)
	var size int64 = -1
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		copyNew(false)
		st, err := os.Stat(path)
		if err != nil {
			break
		}
		if st.Size() != size {
			size, quietSince = st.Size(), time.Now()
		} else if time.Since(quietSince) >= logQuiet {
			break
		}
		time.Sleep(logQuiet / 5)
	}
	copyNew(true)
}

// How long the log of a finished one-off must stay the same before it is
// taken as complete, and how long to wait for that at most.
const (
	logQuiet     = 250 * time.Millisecond
	logSettleMax = 5 * time.Second
)

// AttachRuntime starts instances attached to a person's terminal.
type AttachRuntime interface {
	OneOffRuntime
	StartAttached(ctx context.Context, s runtime.Spec, io runtime.Stdio) (*runtime.Attached, error)
}

// RunAttached runs command in a one-off instance of the app's current
// release with its streams attached (paas run with a terminal): sizes
// from resize go to its terminal. It returns the command's exit code and
// removes the instance; ctx ending (the person hanging up) stops it.
func (s *Scheduler) RunAttached(ctx context.Context, app, command string, stdio runtime.Stdio, resize <-chan [2]uint32) (int, error) {
	rt, ok := s.opt.Runtime.(AttachRuntime)
	if !ok {
		return 0, controller.Errorf(controller.ErrInvalid, "this server cannot attach to processes")
	}
	if strings.TrimSpace(command) == "" {
		command = "/bin/sh"
	}
	deps, err := s.opt.State.Deployments(ctx)
	if err != nil {
		return 0, err
	}
	var d *store.Deployment
	for i := range deps {
		if deps[i].App == app {
			d = &deps[i]
		}
	}
	if d == nil {
		return 0, controller.Errorf(controller.ErrInvalid, "%s has no release to run: deploy it first", app)
	}
	s.mu.Lock()
	s.runs++
	n := s.runs
	s.mu.Unlock()
	a, err := rt.StartAttached(ctx, runtime.Spec{App: app, Release: d.Release, Process: "run", Number: n, Image: d.Image, Command: command, Env: d.Config, Port: Port}, stdio)
	if err != nil {
		return 0, fmt.Errorf("start one-off: %w", err)
	}
	s.event(app, "run.%d attached: %s", n, command)
	defer func() { _ = rt.Stop(context.WithoutCancel(ctx), a.ID) }()
	go func() {
		for {
			select {
			case sz, ok := <-resize:
				if !ok {
					return
				}
				_ = a.Resize(ctx, sz[0], sz[1])
			case <-ctx.Done():
				return
			}
		}
	}()
	code, err := a.Wait(ctx)
	s.event(app, "run.%d exited with code %d", n, code)
	return int(code), err
}
