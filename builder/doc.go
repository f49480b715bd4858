// Package builder turns a source tree into a layered OCI image on
// containerd: a Dockerfile front end (BuildKit's parser) and a Cloud
// Native Buildpacks lifecycle sharing one content-addressed, cached image
// core. RUN steps and buildpacks run in containers, never on the host.
//
// This root package will hold the builder's contract (Request, Result,
// errors); the implementation goes under builder/internal. Not built yet:
// see the Builder issue.
package builder
