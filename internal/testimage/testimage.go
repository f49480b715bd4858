// Package testimage makes small images for tests without a registry: a
// rootfs holding Debian's static busybox (package busybox-static) and its
// applets, imported into containerd and unpacked. Tests of the runtime and
// the builder run real containers from it (sh, httpd, nc...).
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Busybox is where Debian's busybox-static puts the binary.
const Busybox = "/bin/busybox"

// BusyboxLayer returns an uncompressed layer tar of a minimal rootfs:
// busybox and a link for each applet, /etc/passwd with root and "app"
// (uid 1000), and the directories runc mounts over.
func BusyboxLayer() ([]byte, error) {
	bin, err := os.ReadFile(Busybox)
	if err != nil {
		return nil, fmt.Errorf("testimage: %w (install busybox-static)", err)
	}
	list, err := exec.Command(Busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("testimage: busybox --list-full: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "run", "var", "var/www", "root", "home", "home/app"} {
		if err := dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return nil, err
	}
	if err := file("bin/busybox", 0o755, bin); err != nil {
		return nil, err
	}
	for _, l := range strings.Fields(string(list)) {
		if l == "bin/busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: l, Linkname: "/bin/busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"etc/passwd":      "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
		"etc/group":       "root:x:0:\napp:x:1000:\n",
		"etc/hosts":       "127.0.0.1 localhost\n",
		"etc/resolv.conf": "",
	}
	for name, body := range files {
		if err := file(name, 0o644, []byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ImportBusybox imports the busybox rootfs as image name into the
// client's default namespace and unpacks it for the overlayfs
// snapshotter. It is idempotent.
func ImportBusybox(ctx context.Context, client *containerd.Client, name string) (containerd.Image, error) {
	layer, err := BusyboxLayer()
	if err != nil {
		return nil, err
	}
	ctx, done, err := client.WithLease(ctx, leases.WithExpiration(time.Hour))
	if err != nil {
		return nil, err
	}
	defer done(context.WithoutCancel(ctx))
	cs := client.ContentStore()
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: ocispec.ImageConfig{
			Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd: []string{"sh"},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgJSON), Size: int64(len(cfgJSON))}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	}
	mJSON, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mJSON), Size: int64(len(mJSON))}
	blobs := []struct {
		desc   ocispec.Descriptor
		data   []byte
		labels map[string]string
	}{
		{layerDesc, layer, map[string]string{"containerd.io/uncompressed": layerDesc.Digest.String()}},
		{cfgDesc, cfgJSON, nil},
		{mDesc, mJSON, map[string]string{
			"containerd.io/gc.ref.content.config": cfgDesc.Digest.String(),
			"containerd.io/gc.ref.content.l.0":    layerDesc.Digest.String(),
		}},
	}
	for _, b := range blobs {
		if err := content.WriteBlob(ctx, cs, b.desc.Digest.String(), bytes.NewReader(b.data), b.desc, content.WithLabels(b.labels)); err != nil {
			return nil, fmt.Errorf("testimage: write %s: %w", b.desc.MediaType, err)
		}
	}
	rec := images.Image{Name: name, Target: mDesc}
	if _, err := client.ImageService().Create(ctx, rec); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return nil, err
		}
		if _, err := client.ImageService().Update(ctx, rec); err != nil {
			return nil, err
		}
	}
	img, err := client.GetImage(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := img.Unpack(ctx, "overlayfs"); err != nil {
		return nil, fmt.Errorf("testimage: unpack: %w", err)
	}
	return img, nil
}
