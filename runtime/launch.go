package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"paas/runtime/network"
)

// DroppedCapabilities are taken from containerd's default set for every
// container paas starts: raw sockets (ARP and ICMP spoofing on the shared
// bridge), device nodes, file capabilities, and writes to the audit log.
var DroppedCapabilities = []string{"CAP_NET_RAW", "CAP_MKNOD", "CAP_SETFCAP", "CAP_AUDIT_WRITE"}

// Capabilities is what a container keeps: containerd's defaults minus
// DroppedCapabilities. As a CapEff mask that is 0x405fb.
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
}

// CapEff is Capabilities as the CapEff mask of /proc/PID/status.
func CapEff() uint64 {
	var m uint64
	for _, c := range Capabilities {
		m |= 1 << capNumbers[c]
	}
	return m
}

var capNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
	"CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10, "CAP_SYS_CHROOT": 18,
}

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

// Limits bound one container's resources. Zero means no limit.
type Limits struct {
	Memory int64 // bytes
	CPU    int   // millicores: 500 is half a core
	Pids   int64 // processes and threads
}

// Container is what Launcher.Create makes.
type Container struct {
	ID     string
	Labels map[string]string
	// Image, when set, gives the process its defaults (entrypoint and
	// command, environment, working directory, user) before the fields
	// below. With Snapshot empty, the launcher also prepares the
	// container's writable layer on the image, and Remove deletes it.
	Image containerd.Image
	// Snapshot is the key of an active snapshot the caller prepared and
	// owns (a build step's): the container's root.
	Snapshot string
	Args     []string // replaces the image's entrypoint and command if set
	Env      []string // KEY=value, added to the image's
	Cwd      string   // if empty, the image's, or "/"
	User     string   // user[:group] or uid[:gid], looked up in the root; if empty, the image's, or root
	Hostname string
	// Network, if set, gives the container a network namespace on it;
	// otherwise the container has only a loopback of its own.
	Network       *network.Network
	NetworkLabels map[string]string // passed to CNI
	// ResolvConf is a host file mounted read-only at /etc/resolv.conf
	// when the container has a network.
	ResolvConf string
	// Mounts are bind mounts of host directories (a build's cache
	// volume). In a user namespace they are seen through the container's
	// id mapping, so the uids on the host are the ones the container sees.
	Mounts []specs.Mount
	Limits Limits
	TTY    bool
}

// Label keys the launcher sets on the containers it creates, beside
// LabelNetNS (the network namespace Remove detaches) and LabelIP.
const (
	labelOwnSnapshot = "paas.snapshot"
	// labelGCSnapshot makes containerd's collector keep a container's
	// snapshot that is not its SnapshotKey (see Create).
	labelGCSnapshot = "containerd.io/gc.ref.snapshot."
)

// Launcher creates the containers of paas — instances, one-offs and build
// steps — and is the one place that decides their isolation: containerd's
// default seccomp profile, Capabilities, no_new_privs, containerd's masked
// and read-only /proc paths, a user namespace, a network namespace on a
// CNI bridge and the limits. It is safe for concurrent use.
//
// In a user namespace the container's root filesystem is an overlayfs
// that the launcher mounts itself (runc 1.1 cannot), from id-mapped
// mounts of the snapshot's layers: the container sees the image's owners
// shifted into its range, while what it writes lands on disk with the
// image's own uids. Images need no chowned copy, and a build step's layer
// carries the uids a build without a user namespace would give it.
type Launcher struct {
	client      *containerd.Client
	snapshotter string
	userNS      *IDMap
	dir         string

	mu       sync.Mutex
	usernsFD *os.File // a user namespace with userNS's mapping, for id-mapped mounts
}

// LaunchOptions configure a Launcher. Zero values are documented per field.
type LaunchOptions struct {
	// Snapshotter holds the containers' snapshots; if empty, overlayfs.
	Snapshotter string
	// UserNS is the host range of the containers' user namespace; nil
	// runs containers in the host's user namespace (their root is the
	// host's root), for kernels without id-mapped mounts.
	UserNS *IDMap
	// Dir is where root filesystems are mounted; if empty,
	// /run/paas/rootfs.
	Dir string
}

// NewLauncher returns a launcher on client.
func NewLauncher(client *containerd.Client, o LaunchOptions) *Launcher {
	if o.Snapshotter == "" {
		o.Snapshotter = "overlayfs"
	}
	if o.Dir == "" {
		o.Dir = "/run/paas/rootfs"
	}
	return &Launcher{client: client, snapshotter: o.Snapshotter, userNS: o.UserNS, dir: o.Dir}
}

// UserNS is the user namespace range containers run in, or nil.
func (l *Launcher) UserNS() *IDMap { return l.userNS }

// Close releases the launcher's handle on its user namespace.
func (l *Launcher) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usernsFD == nil {
		return nil
	}
	err := l.usernsFD.Close()
	l.usernsFD = nil
	return err
}

// Launched is a created container, with the address it got.
type Launched struct {
	containerd.Container
	IP    net.IP // nil without a network
	NetNS string // the network namespace's path, or ""
}

// Create creates c's container (not its task). On error nothing is left
// behind. Remove undoes it.
func (l *Launcher) Create(ctx context.Context, c Container) (_ *Launched, err error) {
	cleanup := context.WithoutCancel(ctx)
	out := &Launched{}
	labels := make(map[string]string, len(c.Labels)+3)
	for k, v := range c.Labels {
		labels[k] = v
	}
	// One lease for the whole creation (NewContainer takes it too): it
	// keeps a fresh snapshot from the collector until the container
	// refers to it.
	ctx, done, err := l.client.WithLease(ctx, leases.WithExpiration(time.Minute))
	if err != nil {
		return nil, err
	}
	defer done(cleanup)
	snapshot := c.Snapshot
	if snapshot == "" {
		if c.Image == nil {
			return nil, errors.New("launch: neither a snapshot nor an image")
		}
		diffIDs, err := c.Image.RootFS(ctx)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", c.Image.Name(), err)
		}
		snapshot = c.ID
		gcLabel := map[string]string{labelGCSnapshot + l.snapshotter: snapshot}
		if _, err := l.client.SnapshotService(l.snapshotter).Prepare(ctx, snapshot, identity.ChainID(diffIDs).String()); err != nil {
			return nil, fmt.Errorf("prepare snapshot %s: %w", snapshot, err)
		}
		defer func() {
			if err != nil {
				_ = l.client.SnapshotService(l.snapshotter).Remove(cleanup, snapshot)
			}
		}()
		labels[labelOwnSnapshot] = snapshot
		for k, v := range gcLabel {
			labels[k] = v
		}
	}

	root, mounts, err := l.mountRoot(ctx, c.ID, snapshot, c.Mounts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.unmount(c.ID)
		}
	}()

	if c.Network != nil {
		att, err := c.Network.Attach(ctx, c.ID, c.NetworkLabels)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = c.Network.Detach(cleanup, c.ID, att.NetNSPath)
			}
		}()
		out.IP, out.NetNS = att.IP, att.NetNSPath
		labels[LabelNetNS] = att.NetNSPath
		labels[LabelIP] = att.IP.String()
	}

	opts := []oci.SpecOpts{oci.WithRootFSPath(root)} // first: user lookups read the root
	if c.Image != nil {
		opts = append(opts, oci.WithImageConfig(c.Image))
	} else {
		opts = append(opts, oci.WithDefaultPathEnv)
	}
	opts = append(opts, oci.WithDefaultUnixDevices)
	if len(c.Args) > 0 {
		opts = append(opts, oci.WithProcessArgs(c.Args...))
	}
	if len(c.Env) > 0 {
		opts = append(opts, oci.WithEnv(c.Env))
	}
	if c.Cwd != "" {
		opts = append(opts, oci.WithProcessCwd(c.Cwd))
	}
	if c.User != "" {
		opts = append(opts, oci.WithUser(c.User), oci.WithAdditionalGIDs(c.User))
	}
	if c.Hostname != "" {
		opts = append(opts, oci.WithHostname(c.Hostname))
	}
	if c.TTY {
		opts = append(opts, oci.WithTTY, oci.WithEnv([]string{"TERM=xterm"}))
	}
	if out.NetNS != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: out.NetNS}))
		if c.ResolvConf != "" {
			opts = append(opts, oci.WithMounts([]specs.Mount{{
				Destination: "/etc/resolv.conf", Type: "bind", Source: c.ResolvConf,
				Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
			}}))
		}
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	opts = append(opts, withLimits(c.Limits))
	opts = append(opts, l.isolation()...)

	ctr, err := l.client.NewContainer(ctx, c.ID,
		containerd.WithContainerLabels(labels),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", c.ID, err)
	}
	out.Container = ctr
	return out, nil
}

// isolation is the spec options every container gets, applied last so
// that nothing before can widen them.
func (l *Launcher) isolation() []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithCapabilities(Capabilities),
		withNoInheritableCaps,
		oci.WithNoNewPrivileges,
		// containerd's masked and read-only /proc and /sys paths.
		oci.WithMaskedPaths(defaultMaskedPaths),
		oci.WithReadonlyPaths(defaultReadonlyPaths),
		// After the capabilities: the profile allows what they allow.
		seccomp.WithDefaultProfile(),
		withNativeSeccomp,
	}
	if m := l.userNS; m != nil {
		ids := []specs.LinuxIDMapping{{ContainerID: 0, HostID: m.Host, Size: m.Size}}
		opts = append(opts, oci.WithUserNamespace(ids, ids), withSysfsInUserNS)
	}
	return opts
}

// The default masked and read-only paths of containerd's spec (oci
// package), repeated so that no image config or option before can
// change them.
var (
	defaultMaskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap", "/proc/interrupts",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// withNativeSeccomp keeps only the machine's own architecture in the
// seccomp profile: system calls through the 32-bit x86 and x32 entry
// points (compat code, a frequent home of kernel bugs) are refused, and
// the filter runc compiles at each start is a third of the size, which
// is most of what seccomp costs a start (about 40 ms here). Images are
// built for the native architecture (stacks, buildpacks).
func withNativeSeccomp(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Linux == nil || s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Architectures) == 0 {
		return nil
	}
	native, ok := nativeArch[goruntime.GOARCH]
	if !ok {
		return nil
	}
	s.Linux.Seccomp.Architectures = []specs.Arch{native}
	return nil
}

// nativeArch is seccomp's name of each GOARCH whose default profile names
// more than one architecture.
var nativeArch = map[string]specs.Arch{
	"amd64": specs.ArchX86_64,
	"arm64": specs.ArchAARCH64,
}

func withNoInheritableCaps(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil && s.Process.Capabilities != nil {
		s.Process.Capabilities.Inheritable = nil
		s.Process.Capabilities.Ambient = nil
	}
	return nil
}

// withSysfsInUserNS: a user namespace may not mount a sysfs for a network
// namespace it does not own (the CNI namespace belongs to the host's user
// namespace), so /sys is a read-only bind of the host's, as runc does for
// rootless containers.
func withSysfsInUserNS(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	for i, m := range s.Mounts {
		if m.Destination == "/sys" && m.Type == "sysfs" {
			s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys",
				Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
	return nil
}

// withLimits sets memory, CPU and pids limits, each only when non-zero.
func withLimits(l Limits) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if l.Memory > 0 {
			if err := oci.WithMemoryLimit(uint64(l.Memory))(ctx, c, ctr, s); err != nil {
				return err
			}
		}
		if l.CPU > 0 {
			const period = 100000 // µs
			if err := oci.WithCPUCFS(int64(l.CPU)*period/1000, period)(ctx, c, ctr, s); err != nil {
				return err
			}
		}
		if l.Pids > 0 {
			if err := oci.WithPidsLimit(l.Pids)(ctx, c, ctr, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// Remove deletes a container that Create made, after its task is gone:
// the container record, its root filesystem's mounts, its network
// namespace, and the snapshot Create prepared for it (not a caller's). A
// container already gone is no error.
func (l *Launcher) Remove(ctx context.Context, id string, nw *network.Network) error {
	var errs []error
	ctr, err := l.client.LoadContainer(ctx, id)
	var labels map[string]string
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return err
	default:
		if labels, err = ctr.Labels(ctx); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		// WithSnapshotCleanup: containers of older versions of paas own
		// their SnapshotKey.
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete container %s: %w", id, err)
		}
	}
	if err := l.unmount(id); err != nil {
		errs = append(errs, err)
	}
	if nw != nil && labels[LabelNetNS] != "" {
		if err := nw.Detach(ctx, id, labels[LabelNetNS]); err != nil {
			errs = append(errs, err)
		}
	}
	if key := labels[labelOwnSnapshot]; key != "" {
		if err := l.client.SnapshotService(l.snapshotter).Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove snapshot %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

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

// commonParent is the longest directory that contains every one of dirs.
func commonParent(dirs []string) string {
	c := filepath.Clean(dirs[0])
	for _, d := range dirs[1:] {
		d = filepath.Clean(d)
		for c != "/" && d != c && !strings.HasPrefix(d, c+"/") {
			c = filepath.Dir(c)
		}
	}
	if c == filepath.Clean(dirs[0]) && len(dirs) == 1 {
		c = filepath.Dir(c)
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
