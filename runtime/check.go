package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"golang.org/x/sys/unix"
)

// Feature is one thing of the kernel's that the launcher's isolation
// needs, as CheckKernel found it.
type Feature struct {
	Name string // "seccomp filters", "user namespaces", "id-mapped overlayfs"
	OK   bool
	Info string // what was found, or what is missing
}

// CheckKernel tries what the launcher needs to contain containers in the
// user namespace m: seccomp filters, user namespaces, and an overlayfs
// on id-mapped layers that stays writable (Linux 5.19 or newer). It does
// the real thing, in a scratch directory made under dir and removed
// after: dir should be on the filesystem that holds containerd's
// snapshots. It needs root.
func CheckKernel(dir string, m IDMap) []Feature {
	var out []Feature
	if b, err := os.ReadFile("/proc/self/status"); err == nil && strings.Contains(string(b), "\nSeccomp:") {
		out = append(out, Feature{Name: "seccomp filters", OK: true, Info: "the kernel filters system calls"})
	} else {
		out = append(out, Feature{Name: "seccomp filters", Info: "the kernel has no seccomp (CONFIG_SECCOMP_FILTER)"})
	}

	userns := Feature{Name: "user namespaces"}
	b, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	switch {
	case err != nil:
		userns.Info = "the kernel has no user namespaces (CONFIG_USER_NS)"
	case n == 0:
		userns.Info = "user.max_user_namespaces is 0"
	default:
		f, err := mount.GetUsernsFD(m.mountOption(), m.mountOption())
		if err != nil {
			userns.Info = fmt.Sprintf("cannot make a user namespace: %v", err)
		} else {
			f.Close()
			userns.OK, userns.Info = true, "uid and gid 0… map to "+m.String()
		}
	}
	out = append(out, userns)

	idmap := Feature{Name: "id-mapped overlayfs"}
	if !userns.OK {
		idmap.Info = "needs user namespaces"
	} else if err := checkIDMappedOverlay(dir, m); err != nil {
		idmap.Info = err.Error() + " (needs Linux 5.19 or newer)"
	} else {
		idmap.OK, idmap.Info = true, "overlayfs on id-mapped layers is writable"
	}
	return append(out, idmap)
}

// checkIDMappedOverlay mounts, in a scratch directory under dir, an
// overlayfs on an id-mapped mount of its layers, as the launcher does,
// and checks that it did not fall back to read-only.
func checkIDMappedOverlay(dir string, m IDMap) (err error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".userns-check-")
	if err != nil {
		return err
	}
	mapped, merged := filepath.Join(tmp, "mapped"), filepath.Join(tmp, "merged")
	defer func() {
		for _, p := range []string{merged, mapped} {
			if uerr := mount.UnmountAll(p, unix.MNT_DETACH); uerr != nil {
				err = errors.Join(err, uerr)
				return // never remove through a mount
			}
		}
		err = errors.Join(err, os.RemoveAll(tmp))
	}()
	for _, d := range []string{"layers/lower", "layers/upper", "layers/work", "mapped", "merged"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return err
		}
	}
	f, err := mount.GetUsernsFD(m.mountOption(), m.mountOption())
	if err != nil {
		return err
	}
	defer f.Close()
	if err := mount.IDMapMount(filepath.Join(tmp, "layers"), mapped, int(f.Fd())); err != nil {
		return fmt.Errorf("id-mapped mount: %w", err)
	}
	opts := []string{"lowerdir=lower", "upperdir=upper", "workdir=work"}
	if err := mountOverlayAs(mapped, opts, merged, int(m.Host)); err != nil {
		return fmt.Errorf("overlayfs on id-mapped layers: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(merged, &st); err != nil {
		return err
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return errors.New("overlayfs on id-mapped layers is mounted read-only")
	}
	return nil
}
