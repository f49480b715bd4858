// Package core is the builder's image core, shared by its front ends: it
// turns root filesystems and snapshot diffs into content-addressed layers in
// containerd's content store, writes OCI image configs and manifests,
// registers images, runs build steps in containers, and keeps a step cache.
//
// Every layer is committed as an overlayfs snapshot under its chain ID as
// soon as it is made, so a built image is already unpacked and the snapshots
// double as the build cache. Callers hold a lease (see Store.Lease) around
// any sequence of calls so that nothing in flight is garbage-collected;
// what an image record or a cache entry references survives the lease.
//
// All methods take the containerd namespace from ctx.
package core

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	goruntime "runtime"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"paas/runtime"
)

// Labels containerd's garbage collector and differ understand.
const (
	labelUncompressed = "containerd.io/uncompressed"
	labelGCContent    = "containerd.io/gc.ref.content"
	labelGCSnapshot   = "containerd.io/gc.ref.snapshot"
)

// LabelBuilder marks image records the builder made (images and cache
// entries), with the value "paas".
const LabelBuilder = "paas.builder"

// Store is the image core on one containerd. It is safe for concurrent use.
type Store struct {
	client      *containerd.Client
	snapshotter string
	log         *slog.Logger
	launcher    *runtime.Launcher
}

// New returns a Store on client using the named snapshotter ("overlayfs" if
// empty). The client stays the caller's. Its steps run in containers of
// runtime.NewLauncher(client, launch), launch.Snapshotter set to the
// store's; if launch is nil, in runtime.DefaultUserNS.
func New(client *containerd.Client, snapshotter string, log *slog.Logger, launch *runtime.LaunchOptions) *Store {
	if snapshotter == "" {
		snapshotter = "overlayfs"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lo := runtime.LaunchOptions{UserNS: &runtime.DefaultUserNS}
	if launch != nil {
		lo = *launch
	}
	lo.Snapshotter = snapshotter
	return &Store{client: client, snapshotter: snapshotter, log: log, launcher: runtime.NewLauncher(client, lo)}
}

// Close releases what the store holds beside the client.
func (s *Store) Close() error { return s.launcher.Close() }

// Client is the containerd client the store uses.
func (s *Store) Client() *containerd.Client { return s.client }

// Snapshotter is the name of the snapshotter layers are unpacked into.
func (s *Store) Snapshotter() string { return s.snapshotter }

func (s *Store) snapshots() snapshots.Snapshotter { return s.client.SnapshotService(s.snapshotter) }

// Lease starts a lease and returns a context carrying it and a function that
// ends it. Ending the lease synchronously collects whatever was made under
// it and is not referenced by an image record; it runs even when ctx is
// already cancelled.
func (s *Store) Lease(ctx context.Context) (context.Context, func() error, error) {
	lm := s.client.LeasesService()
	l, err := lm.Create(ctx, leases.WithRandomID(), leases.WithExpiration(24*time.Hour),
		leases.WithLabel(LabelBuilder, "paas"))
	if err != nil {
		return nil, nil, fmt.Errorf("create lease: %w", err)
	}
	done := func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := lm.Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete lease %s: %w", l.ID, err)
		}
		return nil
	}
	return leases.WithLease(ctx, l.ID), done, nil
}

// State is an image being built: its layers and its config.
type State struct {
	Layers []ocispec.Descriptor // compressed layer blobs, bottom first
	Config ocispec.Image        // RootFS.DiffIDs matches Layers
}

// ChainID identifies the snapshot holding the state's root filesystem; ""
// for an image with no layers.
func (st State) ChainID() digest.Digest {
	if len(st.Config.RootFS.DiffIDs) == 0 {
		return ""
	}
	return identity.ChainID(st.Config.RootFS.DiffIDs)
}

// Clone returns a deep copy of st, so that a step can change the copy.
func (st State) Clone() State {
	var out State
	out.Layers = append([]ocispec.Descriptor(nil), st.Layers...)
	b, _ := json.Marshal(st.Config)
	_ = json.Unmarshal(b, &out.Config)
	return out
}

// With returns st with one more layer on top.
func (st State) With(layer ocispec.Descriptor, diffID digest.Digest, createdBy string) State {
	out := st.Clone()
	out.Layers = append(out.Layers, layer)
	out.Config.RootFS.Type = "layers"
	out.Config.RootFS.DiffIDs = append(out.Config.RootFS.DiffIDs, diffID)
	out.Config.History = append(out.Config.History, ocispec.History{CreatedBy: createdBy})
	return out
}

// Empty is the state of FROM scratch.
func Empty() State {
	return State{Config: ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: goruntime.GOARCH},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}}
}

// Image is an image record with what it points to.
type Image struct {
	Name     string
	Manifest ocispec.Descriptor
	State
}

// Load reads the image called name and makes sure its layers are unpacked.
// It fails with an error matching errdefs.ErrNotFound if there is none.
func (s *Store) Load(ctx context.Context, name string) (Image, error) {
	rec, err := s.client.ImageService().Get(ctx, name)
	if err != nil {
		return Image{}, err
	}
	img := containerd.NewImage(s.client, rec)
	cs := s.client.ContentStore()
	manifest, err := images.Manifest(ctx, cs, rec.Target, img.Platform())
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", name, err)
	}
	var cfg ocispec.Image
	b, err := content.ReadBlob(ctx, cs, manifest.Config)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: read config: %w", name, err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Image{}, fmt.Errorf("image %s: decode config: %w", name, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(manifest.Layers) {
		return Image{}, fmt.Errorf("image %s: %d layers but %d diff IDs", name, len(manifest.Layers), len(cfg.RootFS.DiffIDs))
	}
	out := Image{Name: name, Manifest: rec.Target, State: State{Layers: manifest.Layers, Config: cfg}}
	if len(manifest.Layers) > 0 {
		if _, err := s.snapshots().Stat(ctx, out.ChainID().String()); errdefs.IsNotFound(err) {
			if err := img.Unpack(ctx, s.snapshotter); err != nil {
				return Image{}, fmt.Errorf("unpack image %s: %w", name, err)
			}
		} else if err != nil {
			return Image{}, err
		}
	}
	return out, nil
}

// ImportLayer writes an uncompressed layer tar as a one-layer image called
// name with the given config, and unpacks it. An existing image of that name
// is replaced.
func (s *Store) ImportLayer(ctx context.Context, name string, layerTar io.Reader, cfg ocispec.ImageConfig) (Image, error) {
	tmp, err := os.CreateTemp("", "paas-layer-*.tar.gz")
	if err != nil {
		return Image{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	diffID := digest.SHA256.Digester()
	blob := digest.SHA256.Digester()
	cw := &countWriter{w: io.MultiWriter(tmp, blob.Hash())}
	gz := gzip.NewWriter(cw)
	if _, err := io.Copy(io.MultiWriter(gz, diffID.Hash()), layerTar); err != nil {
		return Image{}, fmt.Errorf("import layer: %w", err)
	}
	if err := gz.Close(); err != nil {
		return Image{}, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Image{}, err
	}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: blob.Digest(), Size: cw.n}
	err = content.WriteBlob(ctx, s.client.ContentStore(), "paas-import-"+layer.Digest.String(), tmp, layer,
		content.WithLabels(map[string]string{labelUncompressed: diffID.Digest().String()}))
	if err != nil {
		return Image{}, fmt.Errorf("write layer: %w", err)
	}
	st := Empty()
	st.Config.Config = cfg
	st = st.With(layer, diffID.Digest(), "paas import")
	if err := s.EnsureUnpacked(ctx, st); err != nil {
		return Image{}, err
	}
	return s.Commit(ctx, name, st, nil)
}

// EnsureUnpacked makes sure the snapshots of st's layers exist, applying
// the layers that are missing.
func (s *Store) EnsureUnpacked(ctx context.Context, st State) error {
	var chain []digest.Digest
	for i, l := range st.Layers {
		layer := rootfs.Layer{Blob: l, Diff: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageLayer, Digest: st.Config.RootFS.DiffIDs[i]}}
		if _, err := rootfs.ApplyLayer(ctx, layer, chain, s.snapshots(), s.client.DiffService()); err != nil {
			return fmt.Errorf("unpack layer %s: %w", l.Digest, err)
		}
		chain = append(chain, st.Config.RootFS.DiffIDs[i])
	}
	return nil
}

// encode returns st's config and manifest as stored: the same state always
// gives the same bytes.
func encode(st State) (cfgJSON, mJSON []byte, cfgDesc, mDesc ocispec.Descriptor, err error) {
	cfgJSON, err = json.Marshal(st.Config)
	if err != nil {
		return
	}
	cfgDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgJSON), Size: int64(len(cfgJSON))}
	layers := st.Layers
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers}
	m.SchemaVersion = 2
	mJSON, err = json.Marshal(m)
	if err != nil {
		return
	}
	mDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mJSON), Size: int64(len(mJSON))}
	return
}

// Digest is the manifest digest Commit will give st.
func Digest(st State) (digest.Digest, error) {
	_, _, _, mDesc, err := encode(st)
	return mDesc.Digest, err
}

// Commit writes st's config and manifest and points the image record name at
// them (creating or replacing it). labels are added to the record.
func (s *Store) Commit(ctx context.Context, name string, st State, labels map[string]string) (Image, error) {
	cs := s.client.ContentStore()
	cfgJSON, mJSON, cfgDesc, mDesc, err := encode(st)
	if err != nil {
		return Image{}, err
	}
	cfgLabels := map[string]string{}
	if chain := st.ChainID(); chain != "" {
		cfgLabels[labelGCSnapshot+"."+s.snapshotter] = chain.String()
	}
	if err := writeBlob(ctx, cs, cfgDesc, cfgJSON, cfgLabels); err != nil {
		return Image{}, fmt.Errorf("write image config: %w", err)
	}
	mLabels := map[string]string{labelGCContent + ".config": cfgDesc.Digest.String()}
	for i, l := range st.Layers {
		mLabels[fmt.Sprintf("%s.l.%d", labelGCContent, i)] = l.Digest.String()
	}
	if err := writeBlob(ctx, cs, mDesc, mJSON, mLabels); err != nil {
		return Image{}, fmt.Errorf("write manifest: %w", err)
	}
	all := map[string]string{LabelBuilder: "paas"}
	for k, v := range labels {
		all[k] = v
	}
	if err := s.putImage(ctx, images.Image{Name: name, Target: mDesc, Labels: all}); err != nil {
		return Image{}, err
	}
	return Image{Name: name, Manifest: mDesc, State: st}, nil
}

func (s *Store) putImage(ctx context.Context, rec images.Image) error {
	is := s.client.ImageService()
	if _, err := is.Create(ctx, rec); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("create image %s: %w", rec.Name, err)
		}
		if _, err := is.Update(ctx, rec, "target", "labels"); err != nil {
			return fmt.Errorf("update image %s: %w", rec.Name, err)
		}
	}
	return nil
}

func writeBlob(ctx context.Context, cs content.Store, desc ocispec.Descriptor, b []byte, labels map[string]string) error {
	err := content.WriteBlob(ctx, cs, "paas-"+desc.Digest.String(), bytes.NewReader(b), desc, content.WithLabels(labels))
	if err != nil {
		return err
	}
	if len(labels) == 0 {
		return nil
	}
	// WriteBlob leaves the labels of a blob that already existed alone.
	info := content.Info{Digest: desc.Digest, Labels: labels}
	var fields []string
	for k := range labels {
		fields = append(fields, "labels."+k)
	}
	_, err = cs.Update(ctx, info, fields...)
	return err
}

// AddLayer prepares a snapshot on top of parent, hands its mounted root to
// fill, and commits what fill changed as a new layer. createdBy goes into the
// image history.
func (s *Store) AddLayer(ctx context.Context, parent State, createdBy string, fill func(root string) error) (State, error) {
	key := "paas-build-" + randomID()
	mounts, err := s.snapshots().Prepare(ctx, key, parent.ChainID().String())
	if err != nil {
		return State{}, fmt.Errorf("prepare snapshot: %w", err)
	}
	defer s.removeSnapshot(ctx, key)
	if err := mount.WithTempMount(ctx, mounts, fill); err != nil {
		return State{}, err
	}
	return s.commitSnapshot(ctx, parent, key, createdBy)
}

// AddFiles is AddLayer for a layer that only adds files under paths parent
// does not have: fill gets an empty root, so making the layer costs what
// the new files cost, not a walk of parent's whole root filesystem; the
// layer is then applied on parent.
func (s *Store) AddFiles(ctx context.Context, parent State, createdBy string, fill func(root string) error) (State, error) {
	alone, err := s.AddLayer(ctx, Empty(), createdBy, fill)
	if err != nil {
		return State{}, err
	}
	st := parent.With(alone.Layers[0], alone.Config.RootFS.DiffIDs[0], createdBy)
	if err := s.EnsureUnpacked(ctx, st); err != nil {
		return State{}, err
	}
	return st, nil
}

// commitSnapshot diffs the active snapshot key against its parent, stores
// the diff as a layer and commits the snapshot under the new chain ID. The
// active snapshot is gone afterwards (committed or, if an identical layer
// exists already, removed).
func (s *Store) commitSnapshot(ctx context.Context, parent State, key, createdBy string) (State, error) {
	sn := s.snapshots()
	layer, err := rootfs.CreateDiff(ctx, key, sn, s.client.DiffService(),
		diff.WithMediaType(ocispec.MediaTypeImageLayerGzip),
		diff.WithReference("paas-diff-"+key))
	if err != nil {
		return State{}, fmt.Errorf("diff snapshot: %w", err)
	}
	info, err := s.client.ContentStore().Info(ctx, layer.Digest)
	if err != nil {
		return State{}, fmt.Errorf("layer %s: %w", layer.Digest, err)
	}
	diffID, err := digest.Parse(info.Labels[labelUncompressed])
	if err != nil {
		return State{}, fmt.Errorf("layer %s has no uncompressed digest: %w", layer.Digest, err)
	}
	st := parent.With(layer, diffID, createdBy)
	if err := sn.Commit(ctx, st.ChainID().String(), key); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return State{}, fmt.Errorf("commit snapshot: %w", err)
		}
	}
	return st, nil
}

// removeSnapshot removes an active snapshot if it still exists, even when
// ctx is cancelled.
func (s *Store) removeSnapshot(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := s.snapshots().Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("remove build snapshot", "snapshot", key, "err", err)
	}
}

// View mounts st's root filesystem read-only for the duration of f.
func (s *Store) View(ctx context.Context, st State, f func(root string) error) error {
	if st.ChainID() == "" {
		dir, err := os.MkdirTemp("", "paas-scratch-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		return f(dir)
	}
	key := "paas-view-" + randomID()
	mounts, err := s.snapshots().View(ctx, key, st.ChainID().String())
	if err != nil {
		return fmt.Errorf("view snapshot: %w", err)
	}
	defer s.removeSnapshot(ctx, key)
	return mount.WithReadonlyTempMount(ctx, mounts, f)
}

// cacheEntry is what a step-cache record holds: the layer the step made.
type cacheEntry struct {
	Layer  ocispec.Descriptor `json:"layer"`
	DiffID digest.Digest      `json:"diffID"`
}

const mediaTypeCacheEntry = "application/vnd.paas.build-cache.v1+json"

// cacheName is the image record of a step-cache entry.
func cacheName(key digest.Digest) string { return "paas-build-cache/" + key.Encoded() }

// CacheHas reports whether the step cache has an entry for key whose layer
// is still in the content store.
func (s *Store) CacheHas(ctx context.Context, key digest.Digest) bool {
	rec, err := s.client.ImageService().Get(ctx, cacheName(key))
	if err != nil {
		return false
	}
	b, err := content.ReadBlob(ctx, s.client.ContentStore(), rec.Target)
	if err != nil {
		return false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil {
		return false
	}
	_, err = s.client.ContentStore().Info(ctx, e.Layer.Digest)
	return err == nil
}

// CacheGet looks up the layer a step with this key made before and returns
// parent with that layer on top. ok is false on a miss.
func (s *Store) CacheGet(ctx context.Context, key digest.Digest, parent State, createdBy string) (st State, ok bool, err error) {
	rec, err := s.client.ImageService().Get(ctx, cacheName(key))
	if errdefs.IsNotFound(err) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	b, err := content.ReadBlob(ctx, s.client.ContentStore(), rec.Target)
	if errdefs.IsNotFound(err) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	var e cacheEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return State{}, false, nil // a damaged entry is a miss; Put replaces it
	}
	st = parent.With(e.Layer, e.DiffID, createdBy)
	if err := s.EnsureUnpacked(ctx, st); err != nil {
		if errdefs.IsNotFound(err) {
			return State{}, false, nil
		}
		return State{}, false, err
	}
	// Mark the entry used, for PruneCache.
	rec.Labels = map[string]string{LabelBuilder: "paas", labelCacheUsed: time.Now().UTC().Format(time.RFC3339)}
	if _, err := s.client.ImageService().Update(ctx, rec, "labels."+labelCacheUsed); err != nil {
		s.log.Warn("mark cache entry used", "entry", rec.Name, "err", err)
	}
	return st, true, nil
}

// labelCacheUsed holds when a cache entry was last made or used (RFC 3339).
const labelCacheUsed = "paas.cache.used"

// PruneCache deletes the step-cache entries not made or used since before;
// their layers and snapshots go with them unless an image uses them. It
// returns how many entries it deleted.
func (s *Store) PruneCache(ctx context.Context, before time.Time) (int, error) {
	is := s.client.ImageService()
	recs, err := is.List(ctx, `name~="^paas-build-cache/"`)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, rec := range recs {
		used, err := time.Parse(time.RFC3339, rec.Labels[labelCacheUsed])
		if err != nil {
			used = rec.UpdatedAt
		}
		if !used.Before(before) {
			continue
		}
		var opts []images.DeleteOpt
		if i == len(recs)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, rec.Name, opts...); err != nil && !errdefs.IsNotFound(err) {
			return n, err
		}
		n++
	}
	return n, nil
}

// CachePut records that the step with this key made st's top layer.
func (s *Store) CachePut(ctx context.Context, key digest.Digest, st State) error {
	top := len(st.Layers) - 1
	e := cacheEntry{Layer: st.Layers[top], DiffID: st.Config.RootFS.DiffIDs[top]}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: mediaTypeCacheEntry, Digest: digest.FromBytes(b), Size: int64(len(b))}
	labels := map[string]string{
		labelGCContent + ".l":                 e.Layer.Digest.String(),
		labelGCSnapshot + "." + s.snapshotter: st.ChainID().String(),
	}
	if err := writeBlob(ctx, s.client.ContentStore(), desc, b, labels); err != nil {
		return fmt.Errorf("write cache entry: %w", err)
	}
	return s.putImage(ctx, images.Image{Name: cacheName(key), Target: desc, Labels: map[string]string{
		LabelBuilder: "paas", labelCacheUsed: time.Now().UTC().Format(time.RFC3339)}})
}

// ErrNotFound is containerd's not-found error, for callers that must not
// import errdefs themselves.
var ErrNotFound = errdefs.ErrNotFound

// IsNotFound reports whether err means something does not exist.
func IsNotFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
