// Package testimage makes a tiny base image for tests without a registry
// and without debootstrap: Debian's busybox-static binary, its applet
// links, an /etc/passwd with root, nobody and app (uid 1000), and the mount
// points runc expects. It can run RUN steps, shells and busybox httpd.
//
// Tests of the builder and of the runtime use it; it is not for production.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"paas/builder/internal/core"
)

// BusyboxPath is where Debian's busybox-static package puts the binary.
const BusyboxPath = "/bin/busybox"

// ImportBusybox imports a busybox image called name into the containerd
// namespace of ctx (see namespaces.WithNamespace), unpacked into the
// overlayfs snapshotter, and returns its manifest digest. An image of that
// name is replaced. Its config runs /bin/sh with a PATH set.
//
// The caller removes the image (ImageService().Delete) when done.
func ImportBusybox(ctx context.Context, c *containerd.Client, name string) (digest.Digest, error) {
	var buf bytes.Buffer
	if err := BusyboxTar(&buf, BusyboxPath); err != nil {
		return "", err
	}
	st := core.New(c, "", nil, nil)
	ctx, done, err := st.Lease(ctx)
	if err != nil {
		return "", err
	}
	defer done() //nolint:errcheck // the image record holds what matters
	img, err := st.ImportLayer(ctx, name, &buf, ocispec.ImageConfig{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"/bin/sh"},
	})
	if err != nil {
		return "", fmt.Errorf("import busybox image: %w", err)
	}
	return img.Manifest.Digest, nil
}

// BusyboxTar writes the busybox root filesystem as an uncompressed tar to w,
// taking the static busybox binary from busybox (e.g. BusyboxPath).
// Timestamps are fixed, so the same binary always gives the same tar.
func BusyboxTar(w io.Writer, busybox string) error {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("busybox: %w (install the busybox-static package)", err)
	}
	if err := checkStatic(busybox); err != nil {
		return err
	}
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	var applets []string
	for _, l := range strings.Fields(string(out)) {
		if strings.Contains(l, "/") && l != "bin/busybox" && !strings.HasSuffix(l, "/") {
			applets = append(applets, l)
		}
	}
	sort.Strings(applets)

	mtime := time.Unix(0, 0)
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	dir := func(name string, mode int64) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin",
		"etc", "proc", "sys", "dev", "run", "var", "var/www", "root", "home"} {
		if err := dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/app/", Mode: 0o755, Uid: 1000, Gid: 1000, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if err := file("bin/busybox", 0o755, bin); err != nil {
		return err
	}
	for _, a := range applets {
		if err := dir(path.Dir(a), 0o755); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: "/bin/busybox", Mode: 0o777, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	etc := map[string]string{
		"etc/passwd":      "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":       "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n",
		"etc/hosts":       "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
		"etc/resolv.conf": "",
		"etc/hostname":    "",
	}
	names := make([]string, 0, len(etc))
	for n := range etc {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := file(n, 0o644, []byte(etc[n])); err != nil {
			return err
		}
	}
	return tw.Close()
}

// checkStatic refuses a dynamically linked busybox, which would not run in
// a root filesystem without its libraries.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("busybox %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New("busybox " + p + " is dynamically linked (install busybox-static)")
		}
	}
	return nil
}
