// Package builder turns a source tree into a layered OCI image on
// containerd, without a registry and without a Docker engine.
//
// This root package is the builder's contract: New makes a Builder from
// Options (containerd address and namespace, the network build steps use,
// the build and run images of buildpack builds, limits, a logger), and
// Build turns a Request (app, source directory or tar stream, build args,
// custom buildpacks, an output writer) into a Result (image name, manifest
// digest, OCI image config, layer digests, process types). Errors match
// ErrInvalid (bad input, with the Dockerfile or Procfile line),
// ErrStepFailed (a RUN step or a buildpack failed), ErrLimit (the build
// ran out of memory, reached its process limit or timed out: a step is
// killed as soon as its cgroup counts an OOM kill or a refused fork) or
// ErrNoFrontEnd (no Dockerfile, and no buildpack detected the app).
//
// A source with a Dockerfile is built by the Dockerfile front end; any
// other by the buildpack front end, with the built-in buildpacks of package
// buildpacks (or the Request's own). Both share one image core.
//
// The implementation lives under builder/internal: core is the image core
// (layers as content-addressed blobs made by diffing overlayfs snapshots,
// configs, manifests, image records, leases, a step cache, and RUN steps in
// containers with CNI networking, cgroup limits and a wall-clock timeout);
// dockerfile is the Dockerfile front end on BuildKit's parser; cnb is the
// Cloud Native Buildpacks lifecycle (detect, build, export, a per-app
// cache), each step in a container of the build image as its non-root
// user. Every layer is committed as a snapshot under its chain ID as it is
// made, so a built image is already unpacked, and a step whose parent,
// instruction and input files are unchanged is served from the cache; an
// exported buildpack layer whose content is unchanged keeps its digest.
//
// Package builder/testimage makes a tiny busybox base image for tests.
package builder
