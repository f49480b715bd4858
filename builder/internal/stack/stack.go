// Package stack makes the base images ("stacks") apps are built on and run
// in, from Debian packages with debootstrap, without a registry: a run
// stack (minbase, CA certificates, time zones, python3, a non-root user "app" with
// uid 1000) and a build stack (the run stack's packages plus compilers, git,
// curl and python3).
//
// A stack is defined by its Recipe; the root filesystem debootstrap makes is
// kept as a tar in a cache directory named by the recipe's hash, so building
// an unchanged recipe again only re-imports it (or does nothing, if the
// image is there). The Debian mirror comes from the host's apt sources
// (HostMirror) unless the operator names one.
package stack

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"paas/builder/internal/core"
)

// recipeVersion changes whenever the way a recipe becomes a root filesystem
// changes, so that old caches are not reused.
const recipeVersion = 1

// Recipe is what a stack is made of. The mirror is not part of it: the
// same packages from another mirror make the same stack.
type Recipe struct {
	Name     string   `json:"name"`    // "run" or "build"
	Suite    string   `json:"suite"`   // Debian release, e.g. "bookworm"
	Variant  string   `json:"variant"` // debootstrap variant
	Packages []string `json:"packages"`
}

// Image is the image name of the stack, e.g. "paas/stack-run"; the same
// image is also tagged with the recipe's hash.
func (r Recipe) Image() string { return "paas/stack-" + r.Name }

// Hash identifies the recipe: hex SHA-256 of its canonical form.
func (r Recipe) Hash() string {
	c := r
	c.Packages = append([]string(nil), r.Packages...)
	sort.Strings(c.Packages)
	b, _ := json.Marshal(struct {
		V int `json:"v"`
		Recipe
	}{recipeVersion, c})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// RunPackages are installed in the run stack (on top of minbase). python3
// is there for the Python buildpack, whose virtualenvs (made in the build
// stack) link to the stack's interpreter and standard library.
var runPackages = []string{"ca-certificates", "tzdata", "netbase", "python3"}

// buildPackages are added to the run stack's packages in the build stack.
var buildPackages = []string{"build-essential", "git", "curl", "python3", "python3-venv", "python3-dev",
	"pkg-config", "unzip", "xz-utils", "libssl-dev", "zlib1g-dev", "libffi-dev"}

// Recipes are the run and build stacks of suite.
func Recipes(suite string) []Recipe {
	return []Recipe{
		{Name: "run", Suite: suite, Variant: "minbase", Packages: append([]string(nil), runPackages...)},
		{Name: "build", Suite: suite, Variant: "minbase", Packages: union(runPackages, buildPackages)},
	}
}

// union is a followed by the packages of b not in a.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, p := range b {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// HostMirror returns the first Debian archive the host's apt sources name
// (one-line .list files and deb822 .sources files under aptDir, normally
// /etc/apt), leaving out security and updates archives, and the suite it is
// used with.
func HostMirror(aptDir string) (mirror, suite string, err error) {
	files := []string{filepath.Join(aptDir, "sources.list")}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", pat))
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uris, suites []string
		if strings.HasSuffix(f, ".sources") {
			uris, suites = parseDeb822(string(b))
		} else {
			uris, suites = parseOneLine(string(b))
		}
		for i := range uris {
			if strings.Contains(uris[i], "security") || strings.Contains(suites[i], "-") {
				continue
			}
			return strings.TrimSuffix(uris[i], "/"), suites[i], nil
		}
	}
	return "", "", fmt.Errorf("no Debian archive in the apt sources under %s: give a mirror", aptDir)
}

// parseOneLine reads "deb [options] URI suite components" lines.
func parseOneLine(s string) (uris, suites []string) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 2 {
			uris, suites = append(uris, f[0]), append(suites, f[1])
		}
	}
	return uris, suites
}

// parseDeb822 reads the stanzas of a .sources file.
func parseDeb822(s string) (uris, suites []string) {
	for _, stanza := range strings.Split(s, "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if !strings.Contains(" "+fields["types"]+" ", " deb ") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		for _, u := range strings.Fields(fields["uris"]) {
			for _, su := range strings.Fields(fields["suites"]) {
				uris, suites = append(uris, u), append(suites, su)
			}
		}
	}
	return uris, suites
}

// Options for Build.
type Options struct {
	Mirror   string    // Debian mirror URL; required
	CacheDir string    // where root filesystem tars are kept; required
	Output   io.Writer // debootstrap's output; nil discards
}

// Result of building one stack.
type Result struct {
	Image  string // e.g. "paas/stack-run"
	Tagged string // e.g. "paas/stack-run:<hash prefix>"
	Cached bool   // nothing was made: the image was there
}

// Build makes the stack of r, using its cached root filesystem if there is
// one, and registers it as r.Image() and r.Image():<hash>. ctx must carry a
// namespace and a lease (see core.Store.Lease).
func Build(ctx context.Context, s *core.Store, r Recipe, opts Options) (Result, error) {
	hash := r.Hash()
	res := Result{Image: r.Image(), Tagged: r.Image() + ":" + hash[:12]}
	if img, err := s.Load(ctx, res.Tagged); err == nil {
		if _, err := s.Commit(ctx, res.Image, img.State, stackLabels(r, hash)); err != nil {
			return Result{}, err
		}
		res.Cached = true
		return res, nil
	} else if !core.IsNotFound(err) {
		return Result{}, err
	}
	tarPath := filepath.Join(opts.CacheDir, fmt.Sprintf("stack-%s-%s.tar", r.Name, hash[:32]))
	if _, err := os.Stat(tarPath); errors.Is(err, fs.ErrNotExist) {
		if opts.Mirror == "" {
			return Result{}, errors.New("no Debian mirror")
		}
		if err := bootstrap(ctx, r, opts, tarPath); err != nil {
			return Result{}, fmt.Errorf("stack %s: %w", r.Name, err)
		}
	} else if err != nil {
		return Result{}, err
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	img, err := s.ImportLayer(ctx, res.Tagged, f, ocispec.ImageConfig{
		Env: []string{"PATH=" + core.DefaultPath, "LANG=C.UTF-8"},
		Cmd: []string{"/bin/bash"},
	})
	if err != nil {
		return Result{}, fmt.Errorf("import stack %s: %w", r.Name, err)
	}
	if _, err := s.Commit(ctx, res.Tagged, img.State, stackLabels(r, hash)); err != nil {
		return Result{}, err
	}
	if _, err := s.Commit(ctx, res.Image, img.State, stackLabels(r, hash)); err != nil {
		return Result{}, err
	}
	return res, nil
}

func stackLabels(r Recipe, hash string) map[string]string {
	return map[string]string{"paas.stack": r.Name, "paas.stack.recipe": hash}
}

// bootstrap runs debootstrap for r into a temporary directory, adds the app
// user, and writes the tree as a tar to tarPath.
func bootstrap(ctx context.Context, r Recipe, opts Options, tarPath string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap is not installed (apt-get install debootstrap)")
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(opts.CacheDir, ".bootstrap-")
	if err != nil {
		return err
	}
	defer func() {
		// debootstrap mounts /proc and /sys in the tree and, when killed,
		// leaves them: never delete through a mount.
		if unmountUnder(work) {
			os.RemoveAll(work)
		}
	}()
	root := filepath.Join(work, "rootfs")
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	args := []string{"--variant=" + r.Variant}
	if len(r.Packages) > 0 {
		args = append(args, "--include="+strings.Join(r.Packages, ","))
	}
	args = append(args, r.Suite, root, opts.Mirror)
	fmt.Fprintf(out, "debootstrap %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Stdout, cmd.Stderr = out, out
	// On cancel, stop debootstrap's children (dpkg, wget) too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap: %w", err)
	}
	if !unmountUnder(root) {
		return errors.New("mounts remain in the debootstrap tree")
	}
	if err := finish(root); err != nil {
		return err
	}
	tmp := tarPath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := writeTar(f, root); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, tarPath)
}

// unmountUnder unmounts everything mounted below dir, deepest first, and
// reports whether nothing is left mounted there.
func unmountUnder(dir string) bool {
	mounts := func() []string {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return nil
		}
		var out []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				out = append(out, f[4])
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(out)))
		return out
	}
	for _, m := range mounts() {
		if err := syscall.Unmount(m, 0); err != nil {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	return len(mounts()) == 0
}

// finish adds the app user and group (uid and gid 1000, home /home/app),
// the files runc mounts over, and drops apt's downloaded packages and lists.
func finish(root string) error {
	appendLine := func(file, prefix, line string) error {
		p := filepath.Join(root, file)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, prefix) {
				return nil
			}
		}
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(line + "\n")
		return err
	}
	if err := appendLine("etc/passwd", "app:", "app:x:1000:1000:app:/home/app:/bin/bash"); err != nil {
		return err
	}
	if err := appendLine("etc/group", "app:", "app:x:1000:"); err != nil {
		return err
	}
	if err := appendLine("etc/shadow", "app:", "app:*:19000:0:99999:7:::"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	home := filepath.Join(root, "home/app")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	if err := os.Chown(home, 1000, 1000); err != nil {
		return err
	}
	for _, f := range []string{"etc/resolv.conf", "etc/hosts", "etc/hostname"} {
		p := filepath.Join(root, f)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for _, glob := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "var/cache/apt/*.bin"} {
		m, _ := filepath.Glob(filepath.Join(root, glob))
		for _, p := range m {
			_ = os.Remove(p)
		}
	}
	return nil
}

// writeTar writes the tree at root as a tar: directories, regular files
// (hard links as links), symlinks; owners and modes kept; device nodes,
// sockets and pipes left out (containers get their own /dev).
func writeTar(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	err := filepath.Walk(root, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		st, _ := fi.Sys().(*syscall.Stat_t)
		var link string
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.IsDir(), fi.Mode().IsRegular():
		default:
			return nil
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		h.Format = tar.FormatPAX
		if st != nil {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				if first, ok := seen[key]; ok {
					h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
				} else {
					seen[key] = rel
				}
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// List returns the stack images in ctx's namespace: name → recipe hash.
func List(ctx context.Context, s *core.Store) (map[string]string, error) {
	imgs, err := s.Client().ImageService().List(ctx, `labels."paas.stack"`)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, i := range imgs {
		out[i.Name] = i.Labels["paas.stack.recipe"]
	}
	return out, nil
}
