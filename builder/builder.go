package builder

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"paas/builder/internal/cnb"
	"paas/builder/internal/core"
	"paas/builder/internal/dockerfile"
	"paas/builder/internal/extract"
	"paas/runtime"
	"paas/runtime/network"
)

// Error kinds. Build's errors match one of them with errors.Is when the
// cause is the user's input or the user's code; anything else is an
// internal failure (containerd, disk), or ctx's error when cancelled.
var (
	// ErrInvalid: the request or the source cannot be built as given — a
	// bad app name, a malformed Dockerfile, an unsupported instruction, a
	// missing COPY source, an unknown base image. The message names the
	// Dockerfile line.
	ErrInvalid = dockerfile.ErrInvalid
	// ErrStepFailed: a RUN step exited non-zero or ran out of time.
	ErrStepFailed = dockerfile.ErrStepFailed
	// ErrNoFrontEnd: the source has no Dockerfile and no buildpack
	// detected it; the message lists the buildpack groups tried.
	ErrNoFrontEnd = cnb.ErrNoMatch
	// ErrLimit: one of the build's limits stopped it. The message says
	// which: "build ran out of memory (limit 1GiB) in Dockerfile:3: RUN
	// ...", "build reached its process limit (limit 512 processes) in
	// ...", or "build timed out after 15m0s". A step that reached a
	// limit also matches ErrStepFailed.
	ErrLimit = errors.New("build limit reached")
)

// limitError is a build stopped by one of its limits.
type limitError struct {
	msg string
	err error
}

func (e *limitError) Error() string   { return e.msg }
func (e *limitError) Unwrap() []error { return []error{ErrLimit, e.err} }

// asLimitError tells the pusher which limit stopped a failed build, if
// one did: the whole build's timeout (ctx ended by its deadline while the
// caller's did not), or a step's memory or pids limit.
func asLimitError(err error, parent, ctx context.Context, l Limits) error {
	if l.Timeout > 0 && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &limitError{msg: fmt.Sprintf("build timed out after %s", l.Timeout), err: err}
	}
	var le *core.LimitError
	if !errors.As(err, &le) {
		return err
	}
	msg := "build " + le.Error()
	var de *dockerfile.Error
	if errors.As(err, &de) {
		msg += fmt.Sprintf(" in %s:%d: %s", de.File, de.Line, de.Step)
	} else {
		msg += " in a buildpack"
	}
	return &limitError{msg: msg, err: err}
}

// Options configure a Builder. Zero values are documented per field.
type Options struct {
	// Address is containerd's gRPC socket. Required.
	Address string
	// Namespace is the containerd namespace images and build containers
	// live in; if empty, "paas".
	Namespace string
	// Snapshotter unpacks layers; if empty, "overlayfs".
	Snapshotter string
	// Network gives RUN steps network access (use a bridge and subnet of
	// the builder's own). If nil, RUN steps have loopback only.
	Network *network.Network
	// UserNS is the host range that uids and gids 0… of RUN steps and
	// buildpacks map to (see runtime.Launcher); if zero,
	// runtime.DefaultUserNS.
	UserNS runtime.IDMap
	// HostUserNS runs build steps in the host's user namespace, their root
	// the host's root: only for kernels without id-mapped mounts, by the
	// operator's explicit choice.
	HostUserNS bool
	// RootfsDir is where build steps' root filesystems are mounted; if
	// empty, /run/paas/rootfs.
	RootfsDir string
	// ResolvConf is the host file mounted at /etc/resolv.conf in RUN steps
	// that have a network; if empty, /etc/resolv.conf.
	ResolvConf string
	// Pull lets FROM and COPY --from pull an image that is not in
	// containerd from its registry. If false, they use local images only.
	Pull bool
	// BuildImage is the image buildpacks detect and build in; if empty,
	// BuildStack. Its config's User, else its user "app", runs them.
	BuildImage string
	// RunImage is the image buildpack builds are made on; if empty,
	// RunStack. Its config's User, else its user "app", runs the app.
	RunImage string
	// BuildEnv is the environment buildpacks' bin/build gets from the
	// operator (main takes it from the host's configuration), e.g. GOPROXY
	// for the Go buildpack. If nil, none.
	BuildEnv map[string]string
	// CABundle is a host file of PEM CA certificates that buildpacks'
	// downloads trust instead of the build image's — the host's bundle,
	// where a proxy on the way re-signs TLS; read at each build. If
	// empty, the build image's own.
	CABundle string
	// Buildpacks holds the built-in buildpacks (order.toml and one
	// directory per buildpack); if nil, those of package buildpacks.
	Buildpacks fs.FS
	// Limits are the defaults for every build; a Request's non-zero limits
	// override them.
	Limits Limits
	// Logger receives the builder's own events (not build output); if nil,
	// nothing is logged.
	Logger *slog.Logger
}

// Limits bound a build. Zero means no limit.
type Limits struct {
	Memory      int64         // bytes, per RUN step container
	CPUs        float64       // cores, per RUN step container
	Pids        int64         // processes, per RUN step container
	StepTimeout time.Duration // wall clock, per RUN step
	Timeout     time.Duration // wall clock, whole build
}

func (l Limits) or(d Limits) Limits {
	if l.Memory == 0 {
		l.Memory = d.Memory
	}
	if l.CPUs == 0 {
		l.CPUs = d.CPUs
	}
	if l.Pids == 0 {
		l.Pids = d.Pids
	}
	if l.StepTimeout == 0 {
		l.StepTimeout = d.StepTimeout
	}
	if l.Timeout == 0 {
		l.Timeout = d.Timeout
	}
	return l
}

// Request is one build.
type Request struct {
	// App names the image ("paas/<app>:<tag>"). Required; same rules as
	// app names: ^[a-z][a-z0-9-]{0,29}$.
	App string
	// Tag completes the image name, e.g. the build or release id; if empty,
	// the first 12 hex digits of the manifest digest.
	Tag string
	// Dir is the source tree on disk. Either Dir or Tar is required.
	Dir string
	// Tar is the source tree as a tar stream, used when Dir is empty.
	Tar io.Reader
	// Dockerfile is its path in the source; if empty, "Dockerfile".
	Dockerfile string
	// Target is the stage to build; if empty, the last.
	Target string
	// BuildArgs give values to the Dockerfile's ARGs (Heroku passes the
	// app's config vars this way); in a buildpack build they are the files
	// of the platform directory's env/.
	BuildArgs map[string]string
	// Buildpacks, if not empty, replace the built-in detection order for a
	// source without a Dockerfile: these buildpacks on the host — each a
	// directory with buildpack.toml, bin/detect and bin/build, or a tar
	// archive (gzipped or not) of one — form one group, run in this order,
	// all of which must pass detection.
	Buildpacks []string
	// Output receives docker build-like progress and the steps' output;
	// if nil it is discarded. Writes come from one goroutine at a time.
	Output io.Writer
	// Limits override Options.Limits where non-zero.
	Limits Limits
}

// Result is a built image.
type Result struct {
	Image  string        // image name in containerd, "paas/<app>:<tag>"
	Digest digest.Digest // manifest digest
	// Config is the OCI image config (Cmd, Entrypoint, Env, WorkingDir,
	// User, ExposedPorts, Labels, StopSignal).
	Config ocispec.ImageConfig
	// Layers are the layer blobs' digests, bottom first.
	Layers []digest.Digest
	// ProcessTypes maps a process type to its command line: "web" runs the
	// image's ENTRYPOINT and CMD (empty string: run them as they are); a
	// Procfile in the source adds or overrides types.
	ProcessTypes map[string]string
}

// Builder builds images on one containerd. It is safe for concurrent use.
type Builder struct {
	opts   Options
	client *containerd.Client
	store  *core.Store
	log    *slog.Logger
	// appLocks serializes buildpack builds of one app (app → chan
	// struct{} of capacity 1): they share the app's cache.
	appLocks sync.Map
}

// New connects to containerd. Close releases the connection.
func New(opts Options) (*Builder, error) {
	if opts.Address == "" {
		return nil, errors.New("builder: no containerd address")
	}
	if opts.Namespace == "" {
		opts.Namespace = "paas"
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = "/etc/resolv.conf"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := containerd.New(opts.Address, containerd.WithDefaultNamespace(opts.Namespace))
	if err != nil {
		return nil, fmt.Errorf("builder: connect to containerd: %w", err)
	}
	launch := runtime.LaunchOptions{Dir: opts.RootfsDir}
	if !opts.HostUserNS {
		m := opts.UserNS
		if m == (runtime.IDMap{}) {
			m = runtime.DefaultUserNS
		}
		launch.UserNS = &m
	}
	return &Builder{opts: opts, client: c, store: core.New(c, opts.Snapshotter, opts.Logger, &launch), log: opts.Logger}, nil
}

// Close closes the containerd connection.
func (b *Builder) Close() error { return errors.Join(b.store.Close(), b.client.Close()) }

var appRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)

// checkApp checks an app name for Build and Prune: its images are named
// paas/<app>:<tag>, which must never be a stack's (paas/stack-run:<hash>):
// a prune of the app would delete the stack.
func checkApp(app string) error {
	if !appRE.MatchString(app) {
		return fmt.Errorf("%w: app name %q: lower-case letters, digits and '-', starting with a letter, at most 30", ErrInvalid, app)
	}
	if strings.HasPrefix(ImageName(app, ""), stackPrefix) {
		return fmt.Errorf("%w: app name %q is reserved: %s* are the stacks' images", ErrInvalid, app, stackPrefix)
	}
	return nil
}

// ImageName is the image name of an app's build with the given tag.
func ImageName(app, tag string) string { return "paas/" + app + ":" + tag }

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Build builds req's source into an image. Cancelling ctx stops a running
// step within seconds; a failed or cancelled build leaves no image, no
// container and no lease behind (finished steps stay in the cache).
func (b *Builder) Build(ctx context.Context, req Request) (res Result, err error) {
	if err := checkApp(req.App); err != nil {
		return Result{}, err
	}
	if req.Tag != "" && !tagRE.MatchString(req.Tag) {
		return Result{}, fmt.Errorf("%w: tag %q", ErrInvalid, req.Tag)
	}
	if req.Output == nil {
		req.Output = io.Discard
	}
	limits := req.Limits.or(b.opts.Limits)
	parent := ctx
	if limits.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limits.Timeout)
		defer cancel()
	}
	ctx = namespaces.WithNamespace(ctx, b.opts.Namespace)
	start := time.Now()
	log := b.log.With("app", req.App)

	dir := req.Dir
	if dir == "" {
		if req.Tar == nil {
			return Result{}, fmt.Errorf("%w: no source", ErrInvalid)
		}
		tmp, err := os.MkdirTemp("", "paas-build-src-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(tmp)
		if err := untar(req.Tar, tmp); err != nil {
			return Result{}, fmt.Errorf("%w: source: %v", ErrInvalid, err)
		}
		dir = tmp
	}
	dfName := req.Dockerfile
	if dfName == "" {
		dfName = "Dockerfile"
	}
	// The source is the user's: its files are read in it (os.Root), so a
	// symlink that leads out of it reaches nothing on the host.
	src, err := os.OpenRoot(dir)
	if err != nil {
		return Result{}, fmt.Errorf("%w: source: %v", ErrInvalid, err)
	}
	defer src.Close()
	_, err = src.Lstat(path.Clean("/" + dfName)[1:])
	useBuildpacks := errors.Is(err, fs.ErrNotExist)
	var procs map[string]string
	if !useBuildpacks {
		if procs, err = readProcfile(src); err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}

	lctx, done, err := b.store.Lease(ctx)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if derr := done(); derr != nil {
			log.Warn("end build lease", "err", derr)
		}
	}()
	stepLimits := core.Limits{Memory: limits.Memory, CPUs: limits.CPUs, Pids: limits.Pids, Timeout: limits.StepTimeout}
	var st core.State
	if useBuildpacks {
		var cres cnb.Result
		cres, err = b.buildpacks(lctx, req, dir, stepLimits)
		st, procs = cres.State, cres.Processes
	} else {
		st, err = dockerfile.Build(lctx, b.store, dockerfile.Request{
			ContextDir: dir,
			Dockerfile: dfName,
			Target:     req.Target,
			BuildArgs:  req.BuildArgs,
			Output:     req.Output,
			Limits:     stepLimits,
			Network:    b.opts.Network,
			ResolvConf: b.opts.ResolvConf,
			Base:       b.appBase(req.App),
		})
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		err = asLimitError(err, parent, ctx, limits)
		log.Info("build failed", "err", err, "duration", time.Since(start))
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, asLimitError(err, parent, ctx, limits)
	}
	tag := req.Tag
	if tag == "" {
		d, err := core.Digest(st)
		if err != nil {
			return Result{}, err
		}
		tag = d.Encoded()[:12]
	}
	name := ImageName(req.App, tag)
	img, err := b.store.Commit(lctx, name, st, map[string]string{"paas.app": req.App})
	if err != nil {
		return Result{}, err
	}
	res = Result{Image: name, Digest: img.Manifest.Digest, Config: st.Config.Config, ProcessTypes: map[string]string{}}
	if !useBuildpacks {
		res.ProcessTypes["web"] = ""
	}
	for _, l := range st.Layers {
		res.Layers = append(res.Layers, l.Digest)
	}
	for k, v := range procs {
		res.ProcessTypes[k] = v
	}
	fmt.Fprintf(req.Output, "Successfully built %s\nSuccessfully tagged %s\n", img.Manifest.Digest, name)
	log.Info("built", "image", name, "digest", img.Manifest.Digest, "duration", time.Since(start))
	return res, nil
}

// Remove deletes an image the builder made; the layers no other image or
// cache entry uses are collected. Removing an image that is gone succeeds.
func (b *Builder) Remove(ctx context.Context, image string) error {
	ctx = namespaces.WithNamespace(ctx, b.opts.Namespace)
	err := b.client.ImageService().Delete(ctx, image)
	if err != nil && !core.IsNotFound(err) {
		return err
	}
	return nil
}

// Prune deletes the app's images (paas/<app>:*) except those named in keep
// — the images of the releases that can still be rolled back to — and
// returns the names it deleted. Layers still used by a kept image or by the
// step cache stay.
func (b *Builder) Prune(ctx context.Context, app string, keep []string) ([]string, error) {
	if err := checkApp(app); err != nil {
		return nil, err
	}
	ctx = namespaces.WithNamespace(ctx, b.opts.Namespace)
	is := b.client.ImageService()
	recs, err := is.List(ctx, fmt.Sprintf(`name~="^paas/%s:"`, app))
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	var deleted []string
	for _, rec := range recs {
		if kept[rec.Name] {
			continue
		}
		if err := is.Delete(ctx, rec.Name); err != nil && !core.IsNotFound(err) {
			return deleted, err
		}
		deleted = append(deleted, rec.Name)
	}
	return deleted, nil
}

// PruneCache deletes build-cache entries not made or used within maxAge
// and returns how many it deleted.
func (b *Builder) PruneCache(ctx context.Context, maxAge time.Duration) (int, error) {
	ctx = namespaces.WithNamespace(ctx, b.opts.Namespace)
	return b.store.PruneCache(ctx, time.Now().Add(-maxAge))
}

var procRE = regexp.MustCompile(`^([A-Za-z0-9_-]+):\s*(.+)$`)

// readProcfile reads the source's Procfile, if any: "type: command"
// lines. A Procfile may be a symlink to another file of the source; one
// that leads out of it is an error, not an absent Procfile: an app whose
// process types silently vanished would be harder to understand than a
// build that says why it stopped.
func readProcfile(src *os.Root) (map[string]string, error) {
	b, err := src.ReadFile("Procfile")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		if fi, lerr := src.Lstat("Procfile"); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, errors.New("the Procfile is a symbolic link that leads out of the source: make it a file, or a link to a file of the repository")
		}
		return nil, fmt.Errorf("read the Procfile: %w", err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := procRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d of the Procfile: want \"type: command\"", i+1)
		}
		out[m[1]] = m[2]
	}
	return out, nil
}

// untar unpacks a source tree or a buildpack archive into dir with the
// one extractor (no symlink followed, nothing outside dir touched), files
// 0644, or 0755 when executable, directories 0755, owned by the builder.
func untar(r io.Reader, dir string) error {
	return extract.Tar(r, dir, extract.Options{Mode: sourceMode})
}

func sourceMode(h *tar.Header) fs.FileMode {
	if h.Typeflag == tar.TypeDir || h.Mode&0o111 != 0 {
		return 0o755
	}
	return 0o644
}
