// Package cnb is the builder's buildpack front end: a lifecycle that
// follows the Cloud Native Buildpacks buildpack API, run on the image core.
//
// A build goes through these steps, each command in a container of the
// build image as its non-root user (never on the host):
//
//  1. input: one layer on the build image holds the buildpacks
//     (/cnb/buildpacks/N), the app (/workspace) and the platform directory
//     (/platform/env/KEY per config var); the app's cache volume, holding
//     what its last build kept, is mounted at /layers;
//  2. detect: one container runs every buildpack's bin/detect; the first
//     group of the order whose required buildpacks all pass (and at least
//     one passes) is chosen. A detect that exits neither 0 nor 100 fails
//     the build with its output (this is how a bad Procfile is reported);
//  3. build: one container per buildpack of the group runs bin/build
//     LAYERS PLATFORM PLAN; layers an earlier buildpack marked build = true
//     are on the later ones' PATH (and LD_LIBRARY_PATH, env/, env.build/).
//     Detect and build run in one snapshot that is never committed;
//  4. export: each launch = true layer becomes an image layer on the run
//     image at /layers/<buildpack>/<layer>, then /workspace; a layer whose
//     content is unchanged is not made again but taken from the step cache,
//     so it keeps its digest. Each layer is diffed alone (against an empty
//     root), so exporting costs what the layer holds, not what the image
//     holds. Processes come from launch.toml files, later buildpacks
//     overriding earlier ones by type;
//  5. cache: the volume keeps the cache = true layers and the metadata
//     (<layer>.toml) of the launch layers; the rest goes. A launch layer
//     whose <layer>.toml a buildpack keeps without making the layer again
//     is taken from the last image. A failed build drops the volume, so the
//     next build starts clean.
//
// The volume is a containerd snapshot (core.Volume) named after the app,
// outside every image: restoring and keeping the cache copy nothing.
//
// Not yet: build plan resolution (each buildpack gets the plan it wrote
// during detect), bom, slices, exec.d, and process-specific env.
package cnb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/pelletier/go-toml/v2"

	"paas/builder/internal/core"
	"paas/runtime/network"
)

// Error kinds.
var (
	// ErrNoMatch: no group of the order passed detection.
	ErrNoMatch = errors.New("no buildpack detected the app")
	// ErrInvalid: a buildpack or the app cannot be used as given — a bad
	// buildpack.toml or launch.toml, a detect that reported an error
	// (such as a bad Procfile line).
	ErrInvalid = errors.New("invalid buildpack or app")
	// ErrStepFailed: a buildpack's bin/build failed or timed out.
	ErrStepFailed = errors.New("buildpack failed")
)

// Request is one buildpack build.
type Request struct {
	App        string            // names the app's cache record
	AppDir     string            // the source tree on the host
	Env        map[string]string // config vars, as /platform/env files
	Order      []Group           // groups tried in turn
	BuildImage core.State        // where detect and build run
	RunImage   core.State        // what the image is made on
	Output     io.Writer         // progress and buildpack output; nil discards
	Limits     core.Limits       // per container
	// CABundle, if not empty, is a PEM bundle of the CA certificates that
	// bin/build's downloads trust instead of the build image's (the
	// variables of curl, Go, git, Node.js, pip and OpenSSL name it).
	CABundle []byte
	// BuildEnv is set in bin/build's environment (not detect's): the
	// operator's settings for downloads, such as GOPROXY.
	BuildEnv   map[string]string
	Network    *network.Network // nil: loopback only
	ResolvConf string           // host file for /etc/resolv.conf with a network
}

// Result is a built image's state and its processes.
type Result struct {
	State     core.State
	Processes map[string]string // type → command line for /bin/sh -c
	Group     []string          // the buildpacks that built it, id@version
}

// Paths in the build and run containers.
const (
	workspace   = "/workspace"
	layersDir   = "/layers"
	platformDir = "/platform"
	cnbDir      = "/cnb"
	caBundle    = "/cnb/ca-certificates.crt"
)

// CacheName is the snapshot holding an app's buildpack cache volume.
func CacheName(app string) string { return "paas-cnb-cache/" + app }

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
var procTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// cacheMeta is what the cache record keeps besides the layers.
type cacheMeta struct {
	// Launch maps a launch layer's path under /layers
	// ("<escaped buildpack id>/<layer>") to the step-cache key of the
	// image layer last exported for it.
	Launch map[string]digest.Digest `json:"launch"`
}

type lifecycle struct {
	s         *core.Store
	req       Request
	out       io.Writer
	buildUser user
	runUser   user
	bps       []*Buildpack // every buildpack of the order, by index
	index     map[*Buildpack]int
	vol       *core.Volume // the app's cache, mounted at /layers
	prev      cacheMeta
}

// labelMeta is the cache volume's label holding its cacheMeta.
const labelMeta = "paas.cnb.meta"

// Build runs the lifecycle for req and returns the image's state; the
// caller commits it. ctx must carry a lease. Builds of one app must not
// run at the same time: they share its cache.
func Build(ctx context.Context, s *core.Store, req Request) (_ Result, err error) {
	if req.Output == nil {
		req.Output = io.Discard
	}
	if len(req.Order) == 0 {
		return Result{}, fmt.Errorf("%w: no buildpacks", ErrNoMatch)
	}
	lc := &lifecycle{s: s, req: req, out: req.Output, index: map[*Buildpack]int{}}
	for _, g := range req.Order {
		for _, m := range g {
			if _, ok := lc.index[m.Buildpack]; !ok {
				lc.index[m.Buildpack] = len(lc.bps)
				lc.bps = append(lc.bps, m.Buildpack)
			}
		}
	}
	if lc.buildUser, err = lookupUser(ctx, s, req.BuildImage); err != nil {
		return Result{}, fmt.Errorf("build image: %w", err)
	}
	if lc.runUser, err = lookupUser(ctx, s, req.RunImage); err != nil {
		return Result{}, fmt.Errorf("run image: %w", err)
	}

	if lc.vol, err = s.Volume(ctx, CacheName(req.App)); err != nil {
		return Result{}, fmt.Errorf("build cache: %w", err)
	}
	defer func() {
		// What a failed build left in the cache is not to be trusted: the
		// next build starts without one.
		if err != nil {
			_ = s.RemoveVolume(ctx, CacheName(req.App))
		}
	}()
	if err := lc.openCache(ctx); err != nil {
		return Result{}, err
	}
	input, err := lc.input(ctx)
	if err != nil {
		return Result{}, err
	}
	// Detect and build run one after the other in one snapshot: nothing
	// of theirs is an image layer until export picks the launch layers.
	w, err := s.Workdir(ctx, input)
	if err != nil {
		return Result{}, err
	}
	defer w.Remove(ctx)
	start := time.Now()
	group, err := lc.detect(ctx, w)
	if err != nil {
		return Result{}, err
	}
	var names []string
	for _, m := range group {
		names = append(names, m.String())
	}
	lc.printf("-----> Buildpacks detected: %s (%s)\n", strings.Join(names, ", "), since(start))

	procs, err := lc.build(ctx, w, group)
	if err != nil {
		return Result{}, err
	}
	res := Result{Processes: procs, Group: names}
	var meta cacheMeta
	err = w.View(ctx, func(root string) error {
		var err error
		res.State, meta, err = lc.export(ctx, root, group, procs)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if err := lc.closeCache(ctx, group, meta); err != nil {
		return Result{}, err
	}
	return res, nil
}

func (lc *lifecycle) printf(format string, args ...any) { fmt.Fprintf(lc.out, format, args...) }

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// openCache readies the cache volume for this build: a layers directory
// per buildpack, owned by the build user, holding what the last build
// kept.
func (lc *lifecycle) openCache(ctx context.Context) error {
	dir := lc.vol.Dir()
	if m := lc.vol.Label(labelMeta); m != "" {
		_ = json.Unmarshal([]byte(m), &lc.prev) // a damaged label restores no launch layer
		lc.printf("-----> Restoring the build cache\n")
	}
	own := &lc.buildUser.owner
	if err := os.Lchown(dir, own.uid, own.gid); err != nil {
		return err
	}
	for _, bp := range lc.bps {
		p := filepath.Join(dir, bp.escaped())
		if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		if err := mkdirs(dir, bp.escaped(), own); err != nil {
			return err
		}
	}
	// A launch layer can be kept without being made again only if its
	// last image layer is still there; if not, its metadata goes, so that
	// its buildpack makes it anew.
	for id, key := range lc.prev.Launch {
		if lc.s.CacheHas(ctx, key) {
			continue
		}
		delete(lc.prev.Launch, id)
		if p, err := inRoot(dir, id); err == nil && !isDir(p) {
			_ = os.Remove(p + ".toml")
		}
	}
	return nil
}

// closeCache keeps in the cache volume what the next build may use: the
// cache = true layers, and the metadata of the launch layers; everything
// else goes.
func (lc *lifecycle) closeCache(ctx context.Context, group Group, meta cacheMeta) error {
	dir := lc.vol.Dir()
	keep := map[string]bool{}
	for _, m := range group {
		keep[m.escaped()] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if !keep[d.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, d.Name())); err != nil {
				return err
			}
		}
	}
	for _, m := range group {
		host, err := inRoot(dir, m.escaped())
		if err != nil {
			return err
		}
		metas, err := readLayers(host)
		if err != nil {
			return err
		}
		ents, err := os.ReadDir(host)
		if err != nil {
			return err
		}
		for _, d := range ents {
			name := d.Name()
			base := strings.TrimSuffix(name, ".toml")
			lm, known := metas[base]
			var drop bool
			switch {
			case name == "store.toml":
			case strings.HasSuffix(name, ".toml"):
				drop = !known || !(lm.cache() || lm.launch())
			default:
				drop = !known || !lm.cache()
			}
			if drop {
				if err := os.RemoveAll(filepath.Join(host, name)); err != nil {
					return err
				}
			}
		}
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if len(b) > 4000 {
		b = []byte("{}") // too many launch layers for a label: none is kept
	}
	return lc.vol.SetLabel(ctx, labelMeta, string(b))
}

// input makes the layer detect and build run on.
func (lc *lifecycle) input(ctx context.Context) (core.State, error) {
	own := &lc.buildUser.owner
	return lc.s.AddFiles(ctx, lc.req.BuildImage, "buildpacks: app and buildpacks", func(root string) error {
		for _, d := range []string{cnbDir + "/buildpacks", platformDir + "/env"} {
			if err := mkdirs(root, d, nil); err != nil {
				return err
			}
		}
		for _, d := range []string{cnbDir + "/detect", layersDir} {
			if err := mkdirs(root, d, own); err != nil {
				return err
			}
		}
		for i, bp := range lc.bps {
			dir := filepath.Join(root, cnbDir, "buildpacks", strconv.Itoa(i))
			if err := installFS(bp.fsys, dir); err != nil {
				return fmt.Errorf("install buildpack %s: %w", bp.ID, err)
			}
		}
		if len(lc.req.CABundle) > 0 {
			if err := os.WriteFile(filepath.Join(root, caBundle), lc.req.CABundle, 0o644); err != nil {
				return err
			}
		}
		for _, k := range sortedKeys(lc.req.Env) {
			if !envKeyRE.MatchString(k) {
				continue // not a name a buildpack could read as a variable
			}
			if err := os.WriteFile(filepath.Join(root, platformDir, "env", k), []byte(lc.req.Env[k]), 0o644); err != nil {
				return err
			}
		}
		if err := mkdirs(root, workspace, own); err != nil {
			return err
		}
		if err := copyTree(lc.req.AppDir, filepath.Join(root, workspace), own, map[string]bool{".git": true}); err != nil {
			return fmt.Errorf("copy the app: %w", err)
		}
		return nil
	})
}

// baseEnv is the environment every buildpack command starts from.
func (lc *lifecycle) baseEnv() env {
	e := env(slices.Clone(lc.req.BuildImage.Config.Config.Env))
	if _, ok := e.get("PATH"); !ok {
		e = e.set("PATH", core.DefaultPath)
	}
	e = e.set("HOME", lc.buildUser.home)
	e = e.set("CNB_PLATFORM_DIR", platformDir)
	e = e.set("CNB_APP_DIR", workspace)
	return e
}

// detectScript runs bin/detect of the buildpacks numbered in its
// arguments, recording each one's status, output and plan under
// /cnb/detect/N. No user-given string is part of it.
const detectScript = `for n in "$@"; do
	d=/cnb/detect/$n
	mkdir -p "$d" && : >"$d/plan.toml" || exit 1
	bp=/cnb/buildpacks/$n
	(cd /workspace && CNB_BUILDPACK_DIR=$bp CNB_BUILD_PLAN_PATH=$d/plan.toml exec "$bp/bin/detect" /platform "$d/plan.toml") >"$d/output" 2>&1 </dev/null
	echo $? >"$d/status"
done`

// detect runs every buildpack's detect in one container and picks the
// first group that passes.
func (lc *lifecycle) detect(ctx context.Context, w *core.Workdir) (Group, error) {
	args := []string{"/bin/sh", "-c", detectScript, "detect"}
	for i := range lc.bps {
		args = append(args, strconv.Itoa(i))
	}
	var out bytes.Buffer
	err := w.Run(ctx, core.RunSpec{
		Args: args, Env: lc.baseEnv(), Dir: workspace, User: lc.buildUser.spec,
		Output: &out, Limits: lc.req.Limits, Mounts: []specs.Mount{lc.vol.Mount(layersDir)},
	})
	if err != nil {
		return nil, lc.stepError("detect", "", err, out.String())
	}
	type result struct {
		status int
		output string
	}
	results := make([]result, len(lc.bps))
	err = w.View(ctx, func(root string) error {
		for i := range lc.bps {
			d := path.Join(cnbDir, "detect", strconv.Itoa(i))
			b, err := readRegular(root, path.Join(d, "status"))
			if err != nil {
				return fmt.Errorf("detect of %s left no status: %w", lc.bps[i].ID, err)
			}
			results[i].status, err = strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return fmt.Errorf("detect of %s: status %q", lc.bps[i].ID, b)
			}
			o, _ := readRegular(root, path.Join(d, "output"))
			results[i].output = string(o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var tried []string
	for _, g := range lc.req.Order {
		var pass Group
		ok := true
		for _, m := range g {
			r := results[lc.index[m.Buildpack]]
			switch r.status {
			case 0:
				pass = append(pass, m)
			case 100:
				if !m.Optional {
					ok = false
				}
			default:
				return nil, fmt.Errorf("%w: %s: detect failed (status %d): %s", ErrInvalid, m.ID, r.status, strings.TrimSpace(r.output))
			}
		}
		if ok && len(pass) > 0 {
			return pass, nil
		}
		var ids []string
		for _, m := range g {
			ids = append(ids, m.ID)
		}
		tried = append(tried, strings.Join(ids, " + "))
	}
	return nil, fmt.Errorf("%w; tried: %s. Add a Procfile (e.g. \"web: ./server\"), a Dockerfile, or a custom buildpack of your own",
		ErrNoMatch, strings.Join(tried, "; "))
}

// build runs each buildpack's bin/build in turn and collects processes.
func (lc *lifecycle) build(ctx context.Context, w *core.Workdir, group Group) (map[string]string, error) {
	procs := map[string]string{}
	var defaultProc string
	e := lc.baseEnv()
	if len(lc.req.CABundle) > 0 {
		for _, k := range []string{"SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "REQUESTS_CA_BUNDLE"} {
			e = e.set(k, caBundle)
		}
	}
	for _, k := range sortedKeys(lc.req.BuildEnv) {
		if envKeyRE.MatchString(k) {
			e = e.set(k, lc.req.BuildEnv[k])
		}
	}
	for _, m := range group {
		n := strconv.Itoa(lc.index[m.Buildpack])
		layers := path.Join(layersDir, m.escaped())
		plan := path.Join(cnbDir, "detect", n, "plan.toml")
		bpDir := path.Join(cnbDir, "buildpacks", n)
		be := e.set("CNB_BUILDPACK_DIR", bpDir).set("CNB_LAYERS_DIR", layers).set("CNB_BP_PLAN_PATH", plan)
		lc.printf("-----> Running %s\n", m.String())
		start := time.Now()
		tail := &tailBuffer{}
		err := w.Run(ctx, core.RunSpec{
			Args: []string{path.Join(bpDir, "bin", "build"), layers, platformDir, plan},
			Env:  be, Dir: workspace, User: lc.buildUser.spec,
			Output: io.MultiWriter(lc.out, tail), Limits: lc.req.Limits,
			Network: lc.req.Network, ResolvConf: lc.req.ResolvConf,
			Mounts: []specs.Mount{lc.vol.Mount(layersDir)},
		})
		if err != nil {
			return nil, lc.stepError("build", m.ID, err, tail.String())
		}
		lc.printf("       %s done in %s\n", m.ID, since(start))
		err = func() error {
			host, err := inRoot(lc.vol.Dir(), m.escaped())
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrInvalid, m.ID, err)
			}
			metas, err := readLayers(host)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrInvalid, m.ID, err)
			}
			for _, name := range sortedKeys(metas) {
				if metas[name].build() && isDir(filepath.Join(host, name)) {
					e = e.withLayer(filepath.Join(host, name), path.Join(layers, name), "build")
				}
			}
			b, err := readRegular(lc.vol.Dir(), path.Join(m.escaped(), "launch.toml"))
			if errors.Is(err, os.ErrNotExist) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrInvalid, m.ID, err)
			}
			var lt launchTOML
			if err := toml.Unmarshal(b, &lt); err != nil {
				return fmt.Errorf("%w: %s: launch.toml: %v", ErrInvalid, m.ID, err)
			}
			for _, p := range lt.Processes {
				if !procTypeRE.MatchString(p.Type) {
					return fmt.Errorf("%w: %s: launch.toml: bad process type %q", ErrInvalid, m.ID, p.Type)
				}
				cmd, err := commandLine(p.Command, p.Args)
				if err != nil {
					return fmt.Errorf("%w: %s: launch.toml: process %s: %v", ErrInvalid, m.ID, p.Type, err)
				}
				procs[p.Type] = cmd
				if p.Default {
					defaultProc = p.Type
				}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	if _, ok := procs["web"]; !ok && defaultProc != "" {
		procs["web"] = procs[defaultProc]
	}
	return procs, nil
}

// commandLine turns launch.toml's command (a string, run by a shell, or an
// argv) and args into one /bin/sh -c command line.
func commandLine(cmd any, args []string) (string, error) {
	var parts []string
	switch c := cmd.(type) {
	case string:
		parts = []string{c}
	case []any:
		for _, a := range c {
			s, ok := a.(string)
			if !ok {
				return "", errors.New("command must be a string or a list of strings")
			}
			parts = append(parts, shellQuote(s))
		}
	default:
		return "", errors.New("command must be a string or a list of strings")
	}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	line := strings.Join(parts, " ")
	if strings.TrimSpace(line) == "" || strings.ContainsAny(line, "\n\r") {
		return "", errors.New("command must be one non-empty line")
	}
	return line, nil
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readLayers reads the <layer>.toml files of a buildpack's layers
// directory.
func readLayers(dir string) (map[string]layerMeta, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]layerMeta{}
	for _, d := range ents {
		name, ok := strings.CutSuffix(d.Name(), ".toml")
		if !ok || !d.Type().IsRegular() || name == "launch" || name == "build" || name == "store" || name == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if err != nil {
			return nil, err
		}
		var m layerMeta
		if err := toml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %v", d.Name(), err)
		}
		out[name] = m
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// export makes the image: the launch layers and the app on the run image.
// root is the finished build's root filesystem.
func (lc *lifecycle) export(ctx context.Context, root string, group Group, procs map[string]string) (core.State, cacheMeta, error) {
	lc.printf("-----> Exporting\n")
	start := time.Now()
	meta := cacheMeta{Launch: map[string]digest.Digest{}}
	st := lc.req.RunImage.Clone()
	e := env(slices.Clone(st.Config.Config.Env))
	if _, ok := e.get("PATH"); !ok {
		e = e.set("PATH", core.DefaultPath)
	}
	for _, m := range group {
		layers := path.Join(layersDir, m.escaped())
		host, err := inRoot(lc.vol.Dir(), m.escaped())
		if err != nil {
			return core.State{}, meta, fmt.Errorf("%w: %s: %v", ErrInvalid, m.ID, err)
		}
		metas, err := readLayers(host)
		if err != nil {
			return core.State{}, meta, fmt.Errorf("%w: %s: %v", ErrInvalid, m.ID, err)
		}
		for _, name := range sortedKeys(metas) {
			if !metas[name].launch() {
				continue
			}
			id := m.escaped() + "/" + name
			dir := filepath.Join(host, name)
			at := path.Join(layers, name)
			var key digest.Digest
			if isDir(dir) {
				sum, err := hashTree(dir)
				if err != nil {
					return core.State{}, meta, err
				}
				key = layerKey("launch", id, sum)
			} else if prev := lc.prev.Launch[id]; prev != "" {
				key = prev // kept by its buildpack without being made again
			} else {
				continue // metadata only: nothing to export
			}
			next, err := lc.exportDir(ctx, st, key, dir, at, "buildpacks: layer "+id)
			if err != nil {
				return core.State{}, meta, err
			}
			st = next
			meta.Launch[id] = key
			if isDir(dir) {
				e = e.withLayer(dir, at, "launch")
				continue
			}
			// A kept layer's env comes from its copy in the image.
			err = lc.s.View(ctx, st, func(img string) error {
				e = e.withLayer(filepath.Join(img, filepath.FromSlash(at)), at, "launch")
				return nil
			})
			if err != nil {
				return core.State{}, meta, err
			}
		}
	}
	ws, err := inRoot(root, workspace)
	if err == nil && !isDir(ws) {
		err = errors.New("not a directory")
	}
	if err != nil {
		return core.State{}, meta, fmt.Errorf("%w: %s: %v", ErrInvalid, workspace, err)
	}
	sum, err := hashTree(ws)
	if err != nil {
		return core.State{}, meta, err
	}
	st, err = lc.exportDir(ctx, st, layerKey("app", lc.req.App, sum), ws, workspace, "buildpacks: app")
	if err != nil {
		return core.State{}, meta, err
	}

	cfg := &st.Config.Config
	cfg.Env = e
	cfg.WorkingDir = workspace
	cfg.User = lc.runUser.spec
	cfg.Entrypoint = nil
	if web, ok := procs["web"]; ok {
		cfg.Cmd = []string{"/bin/sh", "-c", web}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	var ids []string
	for _, m := range group {
		ids = append(ids, m.String())
	}
	cfg.Labels["paas.buildpacks"] = strings.Join(ids, " ")
	st.Config.Created = nil
	lc.printf("       exported in %s\n", since(start))
	return st, meta, nil
}

// layerKey is the step-cache key of an exported layer with this content.
func layerKey(kind, id, contentSum string) digest.Digest {
	h := sha256.New()
	fmt.Fprintf(h, "paas-cnb-export-v1\n%s\n%s\n%s\n", kind, id, contentSum)
	return digest.NewDigest(digest.SHA256, h)
}

// exportDir puts the host directory dir at the path at on top of st as a
// layer, or takes the layer made for the same key before.
func (lc *lifecycle) exportDir(ctx context.Context, st core.State, key digest.Digest, dir, at, createdBy string) (core.State, error) {
	if next, ok, err := lc.s.CacheGet(ctx, key, st, createdBy); err != nil {
		return core.State{}, err
	} else if ok {
		lc.printf("       Reusing layer %s\n", at)
		return next, nil
	}
	if !isDir(dir) {
		return core.State{}, fmt.Errorf("%w: %s was kept for reuse, but the layer of the last build is gone; delete its .toml to make it again", ErrStepFailed, at)
	}
	next, err := lc.s.AddFiles(ctx, st, createdBy, func(root string) error {
		if err := mkdirs(root, path.Dir(at), nil); err != nil {
			return err
		}
		target := filepath.Join(root, filepath.FromSlash(at))
		if err := copyTree(dir, target, nil, nil); err != nil {
			return err
		}
		return settle(root, target)
	})
	if err != nil {
		return core.State{}, fmt.Errorf("export %s: %w", at, err)
	}
	if err := lc.s.CachePut(ctx, key, next); err != nil {
		return core.State{}, err
	}
	lc.printf("       Adding layer %s\n", at)
	return next, nil
}

// stepError describes a failed detect or build container.
func (lc *lifecycle) stepError(phase, id string, err error, output string) error {
	who := phase
	if id != "" {
		who = id + ": " + phase
	}
	var ee *core.ExitError
	var le *core.LimitError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("%w: %s: %w", ErrStepFailed, who, err)
	case errors.As(err, &ee):
		msg := fmt.Sprintf("%s failed (exit status %d)", who, ee.Status)
		if last := lastLine(output); last != "" {
			msg += ": " + last
		}
		return fmt.Errorf("%w: %s", ErrStepFailed, msg)
	case errors.Is(err, core.ErrTimeout):
		return fmt.Errorf("%w: %s: %w", ErrStepFailed, who, err)
	}
	return fmt.Errorf("%s: %w", who, err)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
