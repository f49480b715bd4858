package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/runtime-spec/specs-go"

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
	// The network namespace (CNI, tens of milliseconds) is made while the
	// root is: an error return below first waits for it and undoes it.
	type attachment struct {
		att network.Attachment
		err error
	}
	var attached chan attachment
	if c.Network != nil {
		attached = make(chan attachment, 1)
		go func() {
			att, err := c.Network.Attach(ctx, c.ID, c.NetworkLabels)
			attached <- attachment{att, err}
		}()
		defer func() {
			if attached == nil { // taken, and undone by its own defer
				return
			}
			if a := <-attached; a.err == nil {
				_ = c.Network.Detach(cleanup, c.ID, a.att.NetNSPath)
			}
		}()
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
		if _, err := l.client.SnapshotService(l.snapshotter).Prepare(ctx, snapshot, identity.ChainID(diffIDs).String()); err != nil {
			return nil, fmt.Errorf("prepare snapshot %s: %w", snapshot, err)
		}
		defer func() {
			if err != nil {
				_ = l.client.SnapshotService(l.snapshotter).Remove(cleanup, snapshot)
			}
		}()
		labels[labelOwnSnapshot] = snapshot
		labels[labelGCSnapshot+l.snapshotter] = snapshot
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

	if attached != nil {
		a := <-attached
		attached = nil
		if a.err != nil {
			return nil, a.err
		}
		defer func() {
			if err != nil {
				_ = c.Network.Detach(cleanup, c.ID, a.att.NetNSPath)
			}
		}()
		out.IP, out.NetNS = a.att.IP, a.att.NetNSPath
		labels[LabelNetNS] = a.att.NetNSPath
		labels[LabelIP] = a.att.IP.String()
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
			// Memory and swap together: the limit is not a hint to swap.
			if err := oci.WithMemoryLimit(uint64(l.Memory))(ctx, c, ctr, s); err != nil {
				return err
			}
			if err := oci.WithMemorySwap(l.Memory)(ctx, c, ctr, s); err != nil {
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
