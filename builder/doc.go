// Package builder turns a source tree into a layered OCI image on
// containerd, without a registry and without a Docker engine.
//
// This root package is the builder's contract: New makes a Builder from
// Options (containerd address and namespace, the network RUN steps use,
// limits, a logger), and Build turns a Request (app, source directory or
// tar stream, build args, an output writer) into a Result (image name,
// manifest digest, OCI image config, layer digests, process types). Errors
// match ErrInvalid (bad input, with the Dockerfile line), ErrStepFailed (a
// RUN step failed) or ErrNoFrontEnd.
//
// The implementation lives under builder/internal: core is the image core
// (layers as content-addressed blobs made by diffing overlayfs snapshots,
// configs, manifests, image records, leases, a step cache, and RUN steps in
// containers with CNI networking, cgroup limits and a wall-clock timeout);
// dockerfile is the Dockerfile front end on BuildKit's parser. Every layer
// is committed as a snapshot under its chain ID as it is made, so a built
// image is already unpacked, and a step whose parent, instruction and input
// files are unchanged is served from the cache.
//
// Package builder/testimage makes a tiny busybox base image for tests.
package builder
