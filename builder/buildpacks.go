package builder

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"paas/builder/internal/cnb"
	"paas/builder/internal/core"
	"paas/buildpacks"
)

// buildpacks runs the buildpack lifecycle on a source without a
// Dockerfile. ctx carries the namespace and the build's lease.
func (b *Builder) buildpacks(ctx context.Context, req Request, dir string, limits core.Limits) (cnb.Result, error) {
	unlock, err := b.lockApp(ctx, req.App)
	if err != nil {
		return cnb.Result{}, err
	}
	defer unlock()
	var order []cnb.Group
	if len(req.Buildpacks) > 0 {
		var g cnb.Group
		for _, d := range req.Buildpacks {
			d, cleanup, err := buildpackDir(d)
			if err != nil {
				return cnb.Result{}, fmt.Errorf("%w: buildpack %s: %v", ErrInvalid, d, err)
			}
			defer cleanup()
			// Read in the buildpack's directory: a symlink in it that
			// leads out of it reaches nothing on the host.
			root, err := os.OpenRoot(d)
			if err != nil {
				return cnb.Result{}, fmt.Errorf("%w: buildpack %s: %v", ErrInvalid, d, err)
			}
			defer root.Close()
			bp, err := cnb.Load(root.FS())
			if err != nil {
				return cnb.Result{}, kind(fmt.Errorf("buildpack %s: %w", d, err))
			}
			g = append(g, cnb.Member{Buildpack: bp})
		}
		order = []cnb.Group{g}
	} else {
		fsys := b.opts.Buildpacks
		if fsys == nil {
			fsys = buildpacks.FS()
		}
		if order, err = cnb.LoadOrder(fsys); err != nil {
			return cnb.Result{}, fmt.Errorf("built-in buildpacks: %w", err)
		}
	}
	buildName, runName := b.opts.BuildImage, b.opts.RunImage
	if buildName == "" {
		buildName = BuildStack
	}
	if runName == "" {
		runName = RunStack
	}
	buildImg, err := b.base(ctx, buildName)
	if err != nil {
		return cnb.Result{}, stackError("build", buildName, err)
	}
	runImg, err := b.base(ctx, runName)
	if err != nil {
		return cnb.Result{}, stackError("run", runName, err)
	}
	var ca []byte
	if b.opts.CABundle != "" {
		if ca, err = os.ReadFile(b.opts.CABundle); err != nil {
			return cnb.Result{}, fmt.Errorf("CA bundle: %w", err)
		}
	}
	res, err := cnb.Build(ctx, b.store, cnb.Request{
		App:        req.App,
		AppDir:     dir,
		Env:        req.BuildArgs,
		Order:      order,
		BuildImage: buildImg,
		RunImage:   runImg,
		Output:     req.Output,
		Limits:     limits,
		BuildEnv:   b.opts.BuildEnv,
		CABundle:   ca,
		Network:    b.opts.Network,
		ResolvConf: b.opts.ResolvConf,
	})
	return res, kind(err)
}

// buildpackDir returns the directory of the buildpack at p: p itself, or,
// for a tar archive (gzipped or not), the directory it is unpacked into —
// its root, or its only top-level directory when buildpack.toml is there.
// cleanup removes what it unpacked.
func buildpackDir(p string) (dir string, cleanup func(), err error) {
	cleanup = func() {}
	fi, err := os.Stat(p)
	if err != nil {
		return p, cleanup, err
	}
	if fi.IsDir() {
		return p, cleanup, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return p, cleanup, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return p, cleanup, err
		}
		defer zr.Close()
		r = zr
	}
	tmp, err := os.MkdirTemp("", "paas-buildpack-")
	if err != nil {
		return p, cleanup, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	if err := untar(r, tmp); err != nil {
		cleanup()
		return p, func() {}, fmt.Errorf("not a directory or a tar archive of one: %v", err)
	}
	dir = tmp
	if _, err := os.Lstat(filepath.Join(tmp, "buildpack.toml")); err != nil {
		if ents, _ := os.ReadDir(tmp); len(ents) == 1 && ents[0].IsDir() {
			dir = filepath.Join(tmp, ents[0].Name())
		}
	}
	return dir, cleanup, nil
}

// RemoveBuildCache deletes the app's buildpack cache (its cache = true
// layers and the metadata of its launch layers), so that its next build
// starts from scratch; for an app being destroyed, or a cache gone bad.
// Removing a cache that is not there succeeds.
func (b *Builder) RemoveBuildCache(ctx context.Context, app string) error {
	if !appRE.MatchString(app) {
		return fmt.Errorf("%w: app name %q", ErrInvalid, app)
	}
	unlock, err := b.lockApp(ctx, app)
	if err != nil {
		return err
	}
	defer unlock()
	return b.store.RemoveVolume(namespaces.WithNamespace(ctx, b.opts.Namespace), cnb.CacheName(app))
}

// lockApp waits until no other buildpack build of app runs (they share
// its cache) and returns the function that lets the next one in.
func (b *Builder) lockApp(ctx context.Context, app string) (func(), error) {
	l, _ := b.appLocks.LoadOrStore(app, make(chan struct{}, 1))
	ch := l.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func stackError(which, name string, err error) error {
	if core.IsNotFound(err) {
		return fmt.Errorf("%w: the %s image %s for buildpack builds is not there (make it with `paas stack build`, or add a Dockerfile)", ErrInvalid, which, name)
	}
	return fmt.Errorf("%s image %s: %w", which, name, err)
}

// kind makes the buildpack front end's errors match the builder's kinds
// as well as their own.
func kind(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrNoFrontEnd):
		return err
	case errors.Is(err, cnb.ErrInvalid):
		return &kindError{kind: ErrInvalid, err: err}
	case errors.Is(err, cnb.ErrStepFailed):
		return &kindError{kind: ErrStepFailed, err: err}
	}
	return err
}

type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
