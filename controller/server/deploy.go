package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/go-units"

	"paas/controller"
	"paas/controller/internal/store"
	"paas/runtime"
)

// Builder turns pushed source into an image. The builder component
// implements it; paas server adapts one to the other.
type Builder interface {
	Build(ctx context.Context, req BuildRequest) (BuildResult, error)
}

// BuildRequest is one build of an app's source.
type BuildRequest struct {
	App       string
	Tag       string            // completes the image name, e.g. build-12
	Source    io.Reader         // tar stream of the tree
	BuildArgs map[string]string // the app's config vars
	Output    io.Writer         // build output, for the pusher
	// Buildpacks are the app's custom buildpacks, each a tar archive
	// (gzipped or not) of its directory, in the order they run; if any,
	// they replace the built-in ones for a source without a Dockerfile.
	Buildpacks [][]byte
}

// Pruner deletes an app's images but those in keep. A Builder may be one;
// then old images are deleted after each deploy (retention).
type Pruner interface {
	Prune(ctx context.Context, app string, keep []string) ([]string, error)
}

// BuildResult is a built image.
type BuildResult struct {
	Image        string
	Digest       string
	ProcessTypes map[string]string
}

// DeployRequest is a push to deploy.
type DeployRequest struct {
	App, User, Rev string
	Source         io.Reader
	Output         io.Writer
}

// UserForKey resolves an SSH key fingerprint to its user's name.
func (c *Controller) UserForKey(ctx context.Context, fingerprint string) (string, error) {
	who, err := c.store.KeyOwner(ctx, fingerprint)
	if err != nil {
		return "", err
	}
	return who.Name, nil
}

func (c *Controller) actor(ctx context.Context, user string) (store.Actor, error) {
	u, err := c.store.User(ctx, user)
	if err != nil {
		return store.Actor{}, err
	}
	return store.Actor{Name: u.Name, Admin: u.Admin, Addr: "git push"}, nil
}

// CanPush tells whether user may push to (and clone) app: its owner, a
// collaborator or an admin.
func (c *Controller) CanPush(ctx context.Context, user, app string) error {
	u, err := c.store.User(ctx, user)
	if err != nil {
		return err
	}
	who := store.Actor{Name: u.Name, Admin: u.Admin}
	if who.UserID, err = c.store.UserID(ctx, user); err != nil {
		return err
	}
	role, err := c.store.Access(ctx, who, app)
	if err != nil {
		return err
	}
	if role == store.RoleNone && !who.Admin {
		return controller.Errorf(controller.ErrForbidden, "you do not have access to app %s", app)
	}
	return nil
}

// Deploy builds the pushed tree, releases the image and waits for the
// rollout: it returns the release once it is live, or an error saying why
// the build or the rollout failed (the running release keeps serving).
// Progress goes to req.Output, Heroku style.
func (c *Controller) Deploy(ctx context.Context, req DeployRequest) (controller.Release, error) {
	out := req.Output
	if out == nil {
		out = io.Discard
	}
	if c.opt.Builder == nil {
		return controller.Release{}, controller.Errorf(controller.ErrInvalid, "this server has no builder: it cannot deploy pushes")
	}
	who, err := c.actor(ctx, req.User)
	if err != nil {
		return controller.Release{}, err
	}
	short := req.Rev
	if len(short) > 7 {
		short = short[:7]
	}
	cfg, err := c.store.Config(ctx, req.App)
	if err != nil {
		return controller.Release{}, err
	}
	bps, err := c.store.BuildpackArchives(ctx, req.App)
	if err != nil {
		return controller.Release{}, err
	}
	b, err := c.store.CreateBuild(ctx, who, req.App, req.Rev)
	if err != nil {
		return controller.Release{}, err
	}
	if f, err := c.createBuildLog(req.App, b.ID); err != nil {
		c.opt.Logger.Warn("build log not kept", "app", req.App, "build", b.ID, "err", err)
	} else {
		defer f.Close()
		out = io.MultiWriter(f, out) // the file first: a pusher gone away does not cut it short
	}
	fmt.Fprintf(out, "-----> Building %s from %s (build %d)\n", req.App, short, b.ID)
	c.note(req.App, "build %d of %s started by %s", b.ID, short, req.User)
	start := time.Now()
	var bout io.Writer = out
	if c.opt.BuildOutputLimit > 0 {
		bout = &cappedWriter{w: out, left: c.opt.BuildOutputLimit, limit: c.opt.BuildOutputLimit}
	}
	res, berr := c.opt.Builder.Build(ctx, BuildRequest{App: req.App, Tag: fmt.Sprintf("build-%d", b.ID), Source: req.Source, BuildArgs: cfg, Buildpacks: bps, Output: bout})
	fctx := context.WithoutCancel(ctx)
	if berr != nil {
		_, _ = c.store.FinishBuild(fctx, b.ID, controller.BuildFailed, "", "")
		c.noteBuild(fctx, req.App, b.ID, "build %d failed after %v: %v", b.ID, time.Since(start).Round(100*time.Millisecond), berr)
		if errors.Is(berr, context.Canceled) {
			return controller.Release{}, controller.Errorf(controller.ErrInvalid, "build %d cancelled", b.ID)
		}
		return controller.Release{}, controller.Errorf(controller.ErrInvalid, "build %d failed: %v", b.ID, berr)
	}
	if _, err := c.store.FinishBuild(fctx, b.ID, controller.BuildSucceeded, res.Image, res.Digest); err != nil {
		return controller.Release{}, err
	}
	fmt.Fprintf(out, "-----> Built %s in %v\n", res.Image, time.Since(start).Round(100*time.Millisecond))
	c.noteBuild(fctx, req.App, b.ID, "build %d succeeded in %v (%s)", b.ID, time.Since(start).Round(100*time.Millisecond), res.Image)
	// A Procfile's release: process (migrations...) runs before the
	// release exists; if it fails, nothing is rolled out.
	if cmd := res.ProcessTypes["release"]; cmd != "" && c.sched != nil {
		fmt.Fprintf(out, "-----> Running the release command: %s\n", cmd)
		cfg, err := c.store.Config(ctx, req.App)
		if err != nil {
			return controller.Release{}, err
		}
		code, err := c.sched.RunRelease(ctx, req.App, 0, res.Image, cfg, cmd, prefixWriter{out})
		if err != nil {
			return controller.Release{}, err
		}
		if code != 0 {
			return controller.Release{}, controller.Errorf(controller.ErrInvalid, "the release command exited with code %d: nothing was released", code)
		}
	}
	rel, err := c.store.CreateRelease(fctx, who, req.App, controller.NewRelease{Image: res.Image, Digest: res.Digest, ProcessTypes: res.ProcessTypes, Description: "Deploy " + short}, b.ID)
	if err != nil {
		return controller.Release{}, err
	}
	fmt.Fprintf(out, "-----> Releasing v%d, waiting for its instances to be healthy\n", rel.Version)
	if c.sched == nil {
		return rel, nil // nothing runs apps here; the release is recorded
	}
	c.sched.Notify()
	rollout := time.Now()
	for {
		r, err := c.store.Release(fctx, req.App, rel.Version)
		if err != nil {
			return rel, err
		}
		switch r.Status {
		case controller.ReleaseSucceeded:
			fmt.Fprintf(out, "-----> v%d is live (rollout %v)\n", rel.Version, time.Since(rollout).Round(100*time.Millisecond))
			c.pruneImages(fctx, req.App)
			if c.opt.WebURL != nil {
				fmt.Fprintf(out, "       %s\n", c.opt.WebURL(req.App))
			}
			r.Config = nil
			return r, nil
		case controller.ReleaseFailed:
			return r, controller.Errorf(controller.ErrInvalid, "release v%d failed, the previous release keeps serving: %s", rel.Version, r.Reason)
		}
		select {
		case <-ctx.Done():
			return rel, controller.Errorf(controller.ErrInvalid, "stopped waiting for v%d: %v (its rollout goes on)", rel.Version, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createBuildLog creates the file that keeps a build's output for the
// dashboard: <DataDir>/build-logs/<app>/<build>.log.
func (c *Controller) createBuildLog(app string, build int64) (*os.File, error) {
	dir := filepath.Join(c.opt.DataDir, BuildLogDir, app)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.log", build)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

// cappedWriter passes on the first limit bytes of a build's output, then
// one line saying the rest is dropped, then nothing: a build that prints
// without end fills neither the disk nor the pusher's terminal. Writes
// past the cap succeed, so the build goes on.
type cappedWriter struct {
	w     io.Writer
	left  int64
	limit int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if c.left < 0 {
		return len(p), nil
	}
	n := len(p)
	if int64(n) <= c.left {
		c.left -= int64(n)
		_, err := c.w.Write(p)
		return n, err
	}
	_, err := c.w.Write(p[:c.left])
	c.left = -1
	if err == nil {
		_, err = fmt.Fprintf(c.w, "\n-----> Build output truncated: it passed this server's limit of %s; the rest is dropped (the build goes on)\n", units.BytesSize(float64(c.limit)))
	}
	return n, err
}

// prefixWriter indents the release command's output under its header.
type prefixWriter struct{ w io.Writer }

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, "       "+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// pruneImages deletes the app's images that none of its last KeepReleases
// releases uses: those are the ones paas rollback can still go back to.
func (c *Controller) pruneImages(ctx context.Context, app string) {
	p, ok := c.opt.Builder.(Pruner)
	if !ok {
		return
	}
	rs, err := c.store.Releases(ctx, app)
	if err != nil {
		return
	}
	n := c.opt.KeepReleases
	if n <= 0 {
		n = 5
	}
	var keep []string
	for i, r := range rs {
		if i < n || r.Status == controller.ReleaseDeploying || r.Status == controller.ReleasePending {
			keep = append(keep, r.Image)
		}
	}
	if deleted, err := p.Prune(ctx, app, keep); err != nil {
		c.opt.Logger.Warn("cannot prune old images", "app", app, "err", err)
	} else if len(deleted) > 0 {
		c.opt.Logger.Info("pruned images no release can roll back to", "app", app, "images", deleted)
	}
}

// RunRequest is a one-off process attached to a person (paas run over SSH).
type RunRequest struct {
	App, User, Command string
	Stdio              runtime.Stdio
	Resize             <-chan [2]uint32 // terminal sizes: width, height
}

// RunAttached runs an attached one-off process for a user who may work on the app,
// and returns its exit code.
func (c *Controller) RunAttached(ctx context.Context, req RunRequest) (int, error) {
	if err := c.CanPush(ctx, req.User, req.App); err != nil {
		return 0, err
	}
	if c.sched == nil {
		return 0, controller.Errorf(controller.ErrInvalid, "this server runs no apps (no container runtime)")
	}
	return c.sched.RunAttached(ctx, req.App, req.Command, req.Stdio, req.Resize)
}

// note records a deploy step in the app's event stream (paas logs shows it
// as paas[build]).
func (c *Controller) note(app, format string, args ...any) {
	if c.sched != nil {
		c.sched.Note(app, "build", fmt.Sprintf(format, args...))
	}
}

// noteBuild notes the end of a build in its app's events, unless the app
// was destroyed while it ran: the note would go to the events of whatever
// app bears the name now.
func (c *Controller) noteBuild(ctx context.Context, app string, build int64, format string, args ...any) {
	if _, err := c.store.Build(ctx, app, build); err != nil {
		return
	}
	c.note(app, format, args...)
}
