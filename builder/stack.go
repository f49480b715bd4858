package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"paas/builder/internal/core"
	"paas/builder/internal/stack"
)

// Stack image names, usable in FROM.
const (
	RunStack   = "paas/stack-run"
	BuildStack = "paas/stack-build"
)

// stackPrefix starts every stack's image name (stack.Recipe.Image); no
// app's images may (see checkApp).
const stackPrefix = "paas/stack-"

// StackOptions configure BuildStacks.
type StackOptions struct {
	// Mirror is the Debian archive debootstrap downloads from; if empty,
	// the first one in the host's apt sources (see HostMirror).
	Mirror string
	// Suite is the Debian release; if empty, the host's apt sources' one.
	Suite string
	// AptDir is where the host's apt sources are; if empty, /etc/apt.
	AptDir string
	// CacheDir keeps the root filesystems by recipe hash. Required; keep
	// it outside any source tree (e.g. /var/cache/paas/stacks).
	CacheDir string
	// Only names the stacks to build ("run", "build"); if empty, both.
	Only []string
	// Output receives debootstrap's progress; nil discards it.
	Output io.Writer
}

// Stack is a stack image.
type Stack struct {
	Name   string // "run" or "build"
	Image  string // e.g. "paas/stack-run"
	Tagged string // the same image tagged with its recipe hash
	Recipe string // the recipe's hash
	Cached bool   // BuildStacks found it made already
}

// HostMirror returns the Debian archive and suite the host's apt sources
// under aptDir (normally /etc/apt) use.
func HostMirror(aptDir string) (mirror, suite string, err error) {
	return stack.HostMirror(aptDir)
}

// BuildStacks makes the run and build stacks with debootstrap, or finds
// them made already: a recipe that has not changed is not built again.
func (b *Builder) BuildStacks(ctx context.Context, opts StackOptions) ([]Stack, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("no stack cache directory")
	}
	if opts.AptDir == "" {
		opts.AptDir = "/etc/apt"
	}
	if opts.Mirror == "" || opts.Suite == "" {
		mirror, suite, err := stack.HostMirror(opts.AptDir)
		if err != nil && opts.Mirror == "" {
			return nil, err
		}
		if opts.Mirror == "" {
			opts.Mirror = mirror
		}
		if opts.Suite == "" {
			opts.Suite = suite
		}
		if opts.Suite == "" {
			opts.Suite = "bookworm"
		}
	}
	ctx = namespaces.WithNamespace(ctx, b.opts.Namespace)
	ctx, done, err := b.store.Lease(ctx)
	if err != nil {
		return nil, err
	}
	defer done() //nolint:errcheck // image records hold what matters
	var out []Stack
	for _, r := range stack.Recipes(opts.Suite) {
		if len(opts.Only) > 0 && !contains(opts.Only, r.Name) {
			continue
		}
		res, err := stack.Build(ctx, b.store, r, stack.Options{Mirror: opts.Mirror, CacheDir: opts.CacheDir, Output: opts.Output})
		if err != nil {
			return out, err
		}
		out = append(out, Stack{Name: r.Name, Image: res.Image, Tagged: res.Tagged, Recipe: r.Hash(), Cached: res.Cached})
	}
	return out, nil
}

// Stacks lists the stack images: name → recipe hash.
func (b *Builder) Stacks(ctx context.Context) (map[string]string, error) {
	return stack.List(namespaces.WithNamespace(ctx, b.opts.Namespace), b.store)
}

// Import imports the images of an OCI (or docker save) archive and unpacks
// them. If name is not empty, the archive's single image is also called
// name. It returns the names of the images it made.
func (b *Builder) Import(ctx context.Context, r io.Reader, name string) ([]string, error) {
	ctx = namespaces.WithNamespace(ctx, b.opts.Namespace)
	ctx, done, err := b.store.Lease(ctx)
	if err != nil {
		return nil, err
	}
	defer done() //nolint:errcheck // image records hold what matters
	imgs, err := b.client.Import(ctx, r, containerd.WithDigestRef(func(d digest.Digest) string { return "import@" + d.String() }))
	if err != nil {
		return nil, fmt.Errorf("%w: import: %v", ErrInvalid, err)
	}
	if name != "" {
		targets := map[digest.Digest]bool{}
		for _, i := range imgs {
			targets[i.Target.Digest] = true
		}
		if len(targets) != 1 {
			return nil, fmt.Errorf("%w: the archive holds %d images; --name needs exactly one", ErrInvalid, len(targets))
		}
		rec := imgs[0]
		rec.Name = name
		if _, err := b.client.ImageService().Create(ctx, rec); err != nil {
			if _, err := b.client.ImageService().Update(ctx, rec, "target"); err != nil {
				return nil, err
			}
		}
		imgs = append(imgs, rec)
	}
	var names []string
	for _, i := range imgs {
		if err := containerd.NewImage(b.client, i).Unpack(ctx, b.store.Snapshotter()); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", i.Name, err)
		}
		names = append(names, i.Name)
	}
	sort.Strings(names)
	return names, nil
}

// Pull fetches an image from a registry with containerd's client-side
// resolver and unpacks it.
func (b *Builder) Pull(ctx context.Context, ref string) error {
	ctx = namespaces.WithNamespace(ctx, b.opts.Namespace)
	ctx, done, err := b.store.Lease(ctx)
	if err != nil {
		return err
	}
	defer done() //nolint:errcheck // the image record holds what matters
	_, err = b.client.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithPullSnapshotter(b.store.Snapshotter()))
	return err
}

// base resolves FROM and COPY --from names: a local image, else (with
// Options.Pull) a registry pull.
// appBase resolves a FROM or COPY --from image of app's Dockerfile build,
// after checking that app may use it (see allowBase).
func (b *Builder) appBase(app string) func(context.Context, string) (core.State, error) {
	return func(ctx context.Context, name string) (core.State, error) {
		if err := b.allowBase(app, name); err != nil {
			return core.State{}, err
		}
		return b.base(ctx, name)
	}
}

// allowBase says whether app's build may use the image name: paas's own
// repositories ("paas/…") hold every app's builds, so of them only the
// stacks (and the images the operator set for buildpack builds) and app's
// own are allowed; images of any other repository (a registry's, or one
// the operator imported) are.
func (b *Builder) allowBase(app, name string) error {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return fmt.Errorf("%w: image %q: %v", ErrInvalid, name, err)
	}
	own, ok := strings.CutPrefix(reference.Path(ref), "paas/")
	if !ok || reference.Domain(ref) != "docker.io" || own == app {
		return nil
	}
	for _, allowed := range []string{RunStack, BuildStack, b.opts.BuildImage, b.opts.RunImage} {
		if a, err := reference.ParseNormalizedNamed(allowed); err == nil && a.Name() == ref.Name() {
			return nil
		}
	}
	return fmt.Errorf("%w: image %s belongs to another app: a build may use the stacks, its own app's images (paas/%s) and registry images", ErrInvalid, name, app)
}

func (b *Builder) base(ctx context.Context, name string) (core.State, error) {
	img, err := b.store.Load(ctx, name)
	if core.IsNotFound(err) {
		// "name" and "name:latest" are the same image to a Dockerfile.
		alt, ok := strings.CutSuffix(name, ":latest")
		if !ok && !strings.Contains(path.Base(name), ":") && !strings.Contains(name, "@") {
			alt, ok = name+":latest", true
		}
		if ok {
			if img, aerr := b.store.Load(ctx, alt); aerr == nil {
				return img.State, nil
			}
		}
	}
	if err == nil || !core.IsNotFound(err) || !b.opts.Pull {
		return img.State, err
	}
	ref, perr := reference.ParseDockerRef(name)
	if perr != nil {
		return core.State{}, err
	}
	if img, err := b.store.Load(ctx, ref.String()); err == nil {
		return img.State, nil
	}
	if perr := b.Pull(ctx, ref.String()); perr != nil {
		return core.State{}, fmt.Errorf("%w: pull %s: %v", core.ErrNotFound, ref, perr)
	}
	img, err = b.store.Load(ctx, ref.String())
	return img.State, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
