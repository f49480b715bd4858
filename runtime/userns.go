package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultUserNS is the host range the containers' uids and gids 0…65535
// map to when the operator sets none: above the ranges useradd hands out
// in /etc/subuid (100000…600100000) and below 2³¹.
var DefaultUserNS = IDMap{Host: 2000000000, Size: 65536}

// IDMap maps the container's ids 0…Size-1 (uids and gids alike) to the
// host's Host…Host+Size-1.
type IDMap struct {
	Host uint32
	Size uint32
}

// ParseIDMap reads "HOST:SIZE", e.g. "2000000000:65536". The range must
// not contain the host's root and must hold at least 65536 ids (images
// use uid 65534 for nobody).
func ParseIDMap(s string) (IDMap, error) {
	h, n, ok := strings.Cut(s, ":")
	host, err1 := strconv.ParseUint(h, 10, 32)
	size, err2 := strconv.ParseUint(n, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return IDMap{}, fmt.Errorf("user namespace range %q: want HOST:SIZE, e.g. %d:%d", s, DefaultUserNS.Host, DefaultUserNS.Size)
	}
	m := IDMap{Host: uint32(host), Size: uint32(size)}
	switch {
	case m.Host == 0:
		return IDMap{}, fmt.Errorf("user namespace range %q: the host range must not start at 0 (root)", s)
	case m.Size < 65536:
		return IDMap{}, fmt.Errorf("user namespace range %q: at least 65536 ids are needed", s)
	case uint64(m.Host)+uint64(m.Size) > 1<<32-1:
		return IDMap{}, fmt.Errorf("user namespace range %q: beyond the largest uid", s)
	}
	return m, nil
}

// String is the range as ParseIDMap reads it.
func (m IDMap) String() string { return fmt.Sprintf("%d:%d", m.Host, m.Size) }

// mountOption is the map in containerd's mount option syntax.
func (m IDMap) mountOption() string { return fmt.Sprintf("0:%d:%d", m.Host, m.Size) }

// mountRoot mounts the snapshot at <dir>/<id>/rootfs, and each of extra's
// sources at <dir>/<id>/<n>, through the user namespace's id mapping if
// there is one. It returns the root and extra rewritten to the mapped
// sources.
func (l *Launcher) mountRoot(ctx context.Context, id, snapshot string, extra []specs.Mount) (string, []specs.Mount, error) {
	if strings.ContainsAny(id, "/\x00") || id == "" || id == "." || id == ".." {
		return "", nil, fmt.Errorf("launch: invalid container id %q", id)
	}
	ms, err := l.client.SnapshotService(l.snapshotter).Mounts(ctx, snapshot)
	if err != nil {
		return "", nil, fmt.Errorf("snapshot %s mounts: %w", snapshot, err)
	}
	base := filepath.Join(l.dir, id)
	root := filepath.Join(base, "rootfs")
	// The container's root, an unprivileged uid on the host, reaches its
	// rootfs through l.dir and base: let it pass, and only pass.
	for _, d := range []string{l.dir, base} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return "", nil, err
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return "", nil, err
		}
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		return "", nil, err
	}
	ok := false
	defer func() {
		if !ok {
			l.unmount(id)
		}
	}()
	var fd int = -1
	if l.userNS != nil {
		f, err := l.userns()
		if err != nil {
			return "", nil, err
		}
		fd = int(f.Fd())
	}
	if err := mountRootfs(ms, root, base, fd, hostRootOf(l.userNS)); err != nil {
		return "", nil, fmt.Errorf("mount root of %s: %w", id, err)
	}
	out := make([]specs.Mount, 0, len(extra))
	for i, m := range extra {
		if m.Type != "bind" || fd < 0 {
			out = append(out, m)
			continue
		}
		target := filepath.Join(base, strconv.Itoa(i))
		if err := os.Mkdir(target, 0o700); err != nil {
			return "", nil, err
		}
		if err := mount.IDMapMount(m.Source, target, fd); err != nil {
			return "", nil, fmt.Errorf("id-map %s: %w", m.Destination, err)
		}
		m.Source = target
		out = append(out, m)
	}
	ok = true
	return root, out, nil
}

// mountRootfs mounts a snapshot's mounts at root. With usernsFD >= 0 the
// layers are seen through an id-mapped mount of the directory that holds
// them all, made at base/layers and detached once the overlay holds them.
func mountRootfs(ms []mount.Mount, root, base string, usernsFD int, hostRoot uint32) error {
	if usernsFD < 0 {
		return mount.All(ms, root)
	}
	if len(ms) != 1 {
		return fmt.Errorf("%d mounts for a root; want one", len(ms))
	}
	m := ms[0]
	switch m.Type {
	case "bind":
		if err := mount.IDMapMount(m.Source, root, usernsFD); err != nil {
			return err
		}
		if hasOption(m.Options, "ro") {
			return unix.MountSetattr(unix.AT_FDCWD, root, 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
		}
		return nil
	case "overlay":
	default:
		return fmt.Errorf("cannot id-map a %s mount", m.Type)
	}
	var dirs []string // every layer, upper and work directory
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			dirs = append(dirs, strings.Split(v, ":")...)
		case "upperdir", "workdir":
			dirs = append(dirs, v)
		}
	}
	if len(dirs) == 0 {
		return errors.New("overlay mount without layers")
	}
	common := commonParent(dirs)
	if common == "/" || common == "" {
		return fmt.Errorf("layers %v share no directory", dirs)
	}
	layers := filepath.Join(base, "layers")
	if err := os.Mkdir(layers, 0o700); err != nil {
		return err
	}
	defer os.Remove(layers)
	if err := mount.IDMapMount(common, layers, usernsFD); err != nil {
		return err
	}
	defer unix.Unmount(layers, unix.MNT_DETACH) // the overlay keeps its layers
	rel := func(d string) string {
		r, _ := filepath.Rel(common, d)
		return r
	}
	opts := make([]string, 0, len(m.Options))
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			ls := strings.Split(v, ":")
			for i := range ls {
				ls[i] = rel(ls[i])
			}
			o = "lowerdir=" + strings.Join(ls, ":")
		case "upperdir", "workdir":
			o = k + "=" + rel(v)
		}
		opts = append(opts, o)
	}
	return mountOverlayAs(layers, opts, root, int(hostRoot))
}

// mountOverlayAs mounts an overlayfs with opts at target as a mounter
// whose filesystem uid and gid are fsid: overlayfs does its own work in
// the upper layer (work directory, whiteouts, copy-up) with the mounter's
// credentials, which must map through the id-mapped layers — the host's
// root does not, the container's root does. The capabilities that a
// change of fsuid clears are raised again. Layer paths in opts are
// relative to dir, which keeps the options within mount(2)'s one page for
// images of hundreds of layers. It runs on a thread of its own, with its
// own working directory, that dies with it, so no other goroutine ever
// runs with these credentials or in dir.
func mountOverlayAs(dir string, opts []string, target string, fsid int) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare working directory: %w", err)
			}
			if err := unix.Chdir(dir); err != nil {
				return err
			}
			if err := unix.Setfsgid(fsid); err != nil {
				return fmt.Errorf("setfsgid: %w", err)
			}
			if err := unix.Setfsuid(fsid); err != nil {
				return fmt.Errorf("setfsuid: %w", err)
			}
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var caps [2]unix.CapUserData
			if err := unix.Capget(&hdr, &caps[0]); err != nil {
				return fmt.Errorf("capget: %w", err)
			}
			caps[0].Effective, caps[1].Effective = caps[0].Permitted, caps[1].Permitted
			if err := unix.Capset(&hdr, &caps[0]); err != nil {
				return fmt.Errorf("capset: %w", err)
			}
			data := strings.Join(opts, ",")
			if len(data) >= os.Getpagesize() {
				return fmt.Errorf("overlay options of %d bytes: too many layers", len(data))
			}
			if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
				return fmt.Errorf("mount overlay: %w", err)
			}
			return nil
		}()
	}()
	return <-errc
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// commonParent is the deepest directory that contains every one of
// dirs, none of which contains another.
func commonParent(dirs []string) string {
	c := filepath.Dir(filepath.Clean(dirs[0]))
	for _, d := range dirs[1:] {
		d = filepath.Clean(d)
		for c != "/" && !strings.HasPrefix(d, c+"/") {
			c = filepath.Dir(c)
		}
	}
	return c
}

func hostRootOf(m *IDMap) uint32 {
	if m == nil {
		return 0
	}
	return m.Host
}

// unmount undoes mountRoot: the root and the mapped sources, then the
// directory.
func (l *Launcher) unmount(id string) error {
	base := filepath.Join(l.dir, id)
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(base, e.Name())
		if err := mount.UnmountAll(p, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			continue
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(base); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// userns returns a handle on a user namespace with the launcher's
// mapping, made on first use.
func (l *Launcher) userns() (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usernsFD != nil {
		return l.usernsFD, nil
	}
	m := l.userNS.mountOption()
	f, err := mount.GetUsernsFD(m, m)
	if err != nil {
		return nil, fmt.Errorf("user namespace %s: %w", l.userNS, err)
	}
	l.usernsFD = f
	return f, nil
}
