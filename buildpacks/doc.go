// Package buildpacks embeds paas's built-in Cloud Native Buildpacks as data.
// They follow the CNB buildpack API (bin/detect, bin/build, layers with
// launch, build and cache flags, launch.toml processes), so the builder
// treats them like any buildpack a user adds and has no special case for
// any of them.
//
// FS holds order.toml (the detection order: groups tried in turn, the first
// whose buildpacks pass builds the app) and one directory per buildpack:
//
//   - go (paas/go): detects go.mod; installs the toolchain go.mod's
//     toolchain or go line names from the Go module proxy in $GOPROXY (the
//     builder's BuildEnv) into a cached build layer, keeps the module and
//     build caches in cache layers, and puts only the binaries in a launch
//     layer; web runs the module's own main package (or its only binary).
//   - procfile (paas/procfile): detects a Procfile, validates it ("name:
//     command" lines, names matching ^[a-z][a-z0-9_-]*$; a bad line fails
//     the build and is quoted) and declares its processes.
//   - static (paas/static): detects index.html or public/index.html, copies
//     the site into a launch layer and declares a web process serving it on
//     $PORT with busybox httpd, python3's http.server or a small perl server,
//     whichever the run image has.
//
// The order tries go, then static, each with procfile after it (a
// Procfile declares or overrides processes), then procfile alone. Node.js
// and Python buildpacks are still to come (see the Buildpacks issue). Files under a buildpack's bin/ are made executable when the
// builder installs them; embed does not keep file modes.
package buildpacks
