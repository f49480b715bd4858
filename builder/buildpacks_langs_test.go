package builder_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/google/go-cmp/cmp"

	"paas/builder"
	"paas/internal/testenv"
	"paas/runtime/network"
)

// The build network of the language tests: a bridge and subnet of the
// test's own; buildpacks reach the package registries through it. The
// Python test's package index is "on the internet" (testenv.Outside): a
// build step reaches nothing of the host.
const langSubnet = "10.78.251.0/24"

// stackBuilder is e with a builder on the stacks already in e whose
// buildpack builds have a network and buildEnv (the operator's download
// settings).
func stackBuilder(t *testing.T, e *env, buildEnv map[string]string) *env {
	t.Helper()
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("no CNI plugins: run tests/run.sh")
	}
	bridge := fmt.Sprintf("ptst%d", os.Getpid()%100000)
	netw, err := network.New(network.Config{Name: "paas-build-lang-test", Bridge: bridge, Subnet: langSubnet, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netw.DeleteBridge(); err != nil {
			t.Errorf("delete bridge %s: %v", bridge, err)
		}
	})
	ns, _ := namespaces.Namespace(e.ctx)
	b, err := builder.New(builder.Options{Address: testenv.Containerd(t), Namespace: ns, Network: netw,
		BuildEnv: buildEnv, CABundle: hostCABundle(t),
		Limits: builder.Limits{StepTimeout: 10 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &env{ctx: e.ctx, c: e.c, b: b}
}

// copyTestApp copies testdata/apps/name into a fresh directory.
func copyTestApp(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	copyFiles(t, filepath.Join("testdata", "apps", name), dir)
	return dir
}

func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ents {
		b, err := os.ReadFile(filepath.Join(from, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, d.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func replaceIn(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertLayers checks which layers of two images of one app are the same:
// same[i] says whether layer i (counted from the top: 0 is the app) is.
func assertLayers(t *testing.T, first, second builder.Result, names []string, same []bool) {
	t.Helper()
	n := len(first.Layers)
	if len(second.Layers) != n || n < len(same) {
		t.Fatalf("images have %d and %d layers, want the same number, at least %d", n, len(second.Layers), len(same))
	}
	for i, want := range same {
		j := n - 1 - i
		if got := first.Layers[j] == second.Layers[j]; got != want {
			t.Errorf("%s layer: %s then %s; want the same: %v", names[i], first.Layers[j], second.Layers[j], want)
		}
	}
	if diff := cmp.Diff(first.Layers[:n-len(same)], second.Layers[:n-len(same)]); diff != "" {
		t.Errorf("run image layers changed (-first +second):\n%s", diff)
	}
}

func wantOutput(t *testing.T, which, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s output does not say %q", which, w)
		}
	}
}

// npmRegistry is the npm registry the host's npm is configured with
// (npm_config_registry, else npm config get registry); the test is skipped
// without one.
func npmRegistry(t *testing.T) string {
	t.Helper()
	registry := os.Getenv("npm_config_registry")
	if registry == "" {
		out, err := exec.Command("npm", "config", "get", "registry").Output()
		if err != nil {
			t.Skipf("no npm registry: the host has no npm (%v) and npm_config_registry is not set", err)
		}
		registry = strings.TrimSpace(string(out))
	}
	if !strings.HasPrefix(registry, "http") {
		t.Skipf("the host's npm has no registry (%q)", registry)
	}
	return registry
}

// assertNoDevDependency checks that the devDependency semver is nowhere
// in the node_modules of the image (pruned after the build).
func assertNoDevDependency(t *testing.T, e *env, image string) {
	t.Helper()
	if got := e.runCommand(t, image, "ls -AR node_modules/ | grep semver; echo end"); got != "end\n" {
		t.Errorf("the devDependency semver is in the image's node_modules: %q", got)
	}
}

// testNodeBuildpack builds a Node.js app with a dependency, a
// devDependency its build script runs and a lockfile on the stacks in e,
// node and npm from the npm registry the host's npm is configured with;
// the devDependency is pruned from the image. Then it rebuilds the app
// after a code-only change (only the app layer changes; the build script
// runs the devDependency again from the reused dependencies, which the
// cache keeps unpruned), after a lockfile
// change (the node_modules layer is made again, the runtime layer is not)
// and with NPM_CONFIG_PRODUCTION=false (devDependencies kept).
func testNodeBuildpack(t *testing.T, e *env) {
	registry := npmRegistry(t)
	e = stackBuilder(t, e, map[string]string{"npm_config_registry": registry})
	dir := copyTestApp(t, "node")

	start := time.Now()
	first, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("cold build: %s", time.Since(start))
	wantOutput(t, "first build", out, "-----> Node.js app detected", "-----> Installing node 22.", "-----> Installing npm ",
		"-----> Installing dependencies (npm ci --include=dev)", "2 packages installed",
		"-----> Running the build script (npm run build)", "-----> Pruning devDependencies (npm prune --omit=dev)", "1 packages left")
	if got := first.Config.Labels["paas.buildpacks"]; got != "paas/node@0.1.0" {
		t.Errorf("built by %q, want paas/node@0.1.0", got)
	}
	if got, want := first.ProcessTypes["web"], "npm start"; got != want {
		t.Errorf("web = %q, want %q", got, want)
	}
	body := e.serve(t, first.Image, first.ProcessTypes["web"], "/")
	if !strings.HasPrefix(body, "hello from node v1 on v22.") || !strings.HasSuffix(body, ", built 7.7.0, 7 is a number: true\n") {
		t.Errorf("GET / = %q", body)
	}
	if got := e.runCommand(t, first.Image, "command -v node; echo $NODE_ENV; ls /layers/paas_node"); got != "/layers/paas_node/node/bin/node\nproduction\nnode\nnode_modules\n" {
		t.Errorf("in the image, node, NODE_ENV and the layers are %q", got)
	}
	assertNoDevDependency(t, e, first.Image)

	replaceIn(t, filepath.Join(dir, "server.js"), `"v1"`, `"v2"`)
	start = time.Now()
	second, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	t.Logf("code-only rebuild: %s", time.Since(start))
	wantOutput(t, "code-only rebuild", out, "-----> Using node 22.", " (cached)", "-----> Reusing node_modules (package-lock.json unchanged)")
	if strings.Contains(out, "Installing") {
		t.Errorf("code-only rebuild installed something")
	}
	if body := e.serve(t, second.Image, second.ProcessTypes["web"], "/"); !strings.HasPrefix(body, "hello from node v2 ") {
		t.Errorf("GET / after the change = %q", body)
	}
	names := []string{"app", "node_modules", "node runtime"}
	assertLayers(t, first, second, names, []bool{false, true, true})

	copyFiles(t, filepath.Join("testdata", "apps", "node-lock2"), dir)
	third, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("third Build: %v", err)
	}
	wantOutput(t, "lockfile change", out, " (cached)", "-----> Installing dependencies (npm ci --include=dev)")
	assertLayers(t, second, third, names, []bool{false, false, true})
	if body := e.serve(t, third.Image, third.ProcessTypes["web"], "/"); !strings.HasSuffix(body, "7 is a number: true\n") {
		t.Errorf("GET / after the lockfile change = %q", body)
	}
	if got := e.runCommand(t, third.Image, "node -p 'require(\"is-number/package.json\").version'"); got != "6.0.0\n" {
		t.Errorf("is-number in the image after the lockfile change: %q, want 6.0.0", got)
	}

	// Another engines.node range that the node already there satisfies as
	// the highest release: nothing is downloaded, the runtime layer stays.
	// The app's config var NPM_CONFIG_PRODUCTION=false keeps the
	// devDependencies in the image.
	replaceIn(t, filepath.Join(dir, "package.json"), `"node": "22.x"`, `"node": ">=22 <23"`)
	fourth, out, err := e.buildWith(t, builder.Request{Dir: dir, BuildArgs: map[string]string{"NPM_CONFIG_PRODUCTION": "false"}})
	if err != nil {
		t.Fatalf("fourth Build: %v", err)
	}
	wantOutput(t, "engines change", out, "engines.node (package.json): >=22 <23", "-----> Using node 22.", "-----> Reusing node_modules",
		"devDependencies kept (NPM_CONFIG_PRODUCTION=false)")
	assertLayers(t, third, fourth, names, []bool{false, false, true})
	if got := e.runCommand(t, fourth.Image, "node -p 'require(\"semver/package.json\").version'"); got != "7.6.3\n" {
		t.Errorf("semver in the image with NPM_CONFIG_PRODUCTION=false: %q, want 7.6.3", got)
	}
}

// testNodePackageManager builds the app of testdata/apps/node-PM (pm is
// yarn or pnpm) with a dependency and a devDependency, installed with pm
// through corepack from the npm registry the host's npm is configured
// with; the devDependency is pruned from the image. Then it rebuilds the
// app after a code-only change: the dependencies and their layer are
// reused. The yarn app has no packageManager (corepack's default Yarn 1);
// the pnpm app names its pnpm. The yarn.lock names the registry as
// REGISTRY, the test's registry in its place.
func testNodePackageManager(t *testing.T, e *env, pm string) {
	registry := npmRegistry(t)
	e = stackBuilder(t, e, map[string]string{"npm_config_registry": registry})
	dir := copyTestApp(t, "node-"+pm)
	lock := map[string]string{"yarn": "yarn.lock", "pnpm": "pnpm-lock.yaml"}[pm]
	if pm == "yarn" {
		replaceIn(t, filepath.Join(dir, lock), "REGISTRY/", strings.TrimSuffix(registry, "/")+"/")
	}

	start := time.Now()
	first, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("first build: %s", time.Since(start))
	install := map[string]string{"yarn": "yarn install --frozen-lockfile", "pnpm": "pnpm install --frozen-lockfile"}[pm]
	version := map[string]string{"yarn": "1.", "pnpm": "10.34.9"}[pm]
	using := "-----> Using " + pm + " " + version
	wantOutput(t, "first build", out, using, "-----> Installing dependencies ("+install,
		"-----> Pruning devDependencies ("+pm+" ")
	if body := e.serve(t, first.Image, first.ProcessTypes["web"], "/"); body != "hello from "+pm+" v1, 7 is a number: true\n" {
		t.Errorf("GET / = %q", body)
	}
	assertNoDevDependency(t, e, first.Image)
	// A Procfile may run the package manager: it is in the image, offline.
	if got := e.runCommand(t, first.Image, pm+" --version"); !strings.HasPrefix(got, version) {
		t.Errorf("%s --version in the image: %q", pm, got)
	}

	replaceIn(t, filepath.Join(dir, "server.js"), `"v1"`, `"v2"`)
	start = time.Now()
	second, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	t.Logf("code-only rebuild: %s", time.Since(start))
	wantOutput(t, "code-only rebuild", out, "-----> Using corepack ", using, "-----> Reusing node_modules ("+lock+" unchanged)",
		"-----> Reusing the image's node_modules")
	if strings.Contains(out, "Installing") {
		t.Errorf("code-only rebuild installed something")
	}
	if body := e.serve(t, second.Image, second.ProcessTypes["web"], "/"); body != "hello from "+pm+" v2, 7 is a number: true\n" {
		t.Errorf("GET / after the change = %q", body)
	}
	assertLayers(t, first, second, []string{"app", "node_modules", "node runtime", "corepack"}, []bool{false, true, true, true})
}

// testGoBuildpack builds a Go module with a dependency (a module of its
// own, by a replace directive: the test needs nothing from the network
// but the toolchain) on the stacks already in e, then rebuilds it after a
// code-only change: the toolchain comes from the cache, and only the
// binary and app layers change.
func testGoBuildpack(t *testing.T, e *env) {
	proxyOut, err := exec.Command("go", "env", "GOPROXY").Output()
	proxy := strings.TrimSpace(string(proxyOut))
	if err != nil || !strings.HasPrefix(proxy, "http") {
		t.Skipf("the host's go has no module proxy (GOPROXY=%q, %v)", proxy, err)
	}
	e = stackBuilder(t, e, map[string]string{"GOPROXY": proxy})

	mainGo := `package main

import (
	"fmt"
	"net/http"
	"os"

	"example.com/greet"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, greet.Hello("go"), "%s") })
	panic(http.ListenAndServe(":"+os.Getenv("PORT"), nil))
}
`
	dir := writeTree(t, map[string]string{
		"go.mod":         "module example.com/hello\n\ngo 1.22.5\n\nrequire example.com/greet v0.0.0\n\nreplace example.com/greet => ./greet\n",
		"main.go":        fmt.Sprintf(mainGo, "v1"),
		"greet/go.mod":   "module example.com/greet\n\ngo 1.22\n",
		"greet/greet.go": "// Package greet greets.\npackage greet\n\n// Hello greets who.\nfunc Hello(who string) string { return \"hello from \" + who + \",\" }\n",
	})
	start := time.Now()
	first, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("cold build: %s", time.Since(start))
	if !strings.Contains(out, "Installing Go 1.22.5") || first.Config.Labels["paas.buildpacks"] != "paas/go@0.1.0" {
		t.Errorf("first build did not install Go 1.22.5 with paas/go")
	}
	if got := e.serve(t, first.Image, first.ProcessTypes["web"], "/"); got != "hello from go, v1\n" {
		t.Errorf("GET / = %q", got)
	}
	if got := e.runCommand(t, first.Image, "ls /layers/paas_go"); got != "app\n" {
		t.Errorf("the image's Go layers are %q, want only app (no toolchain, no caches)", got)
	}

	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(fmt.Sprintf(mainGo, "v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	second, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	t.Logf("code-only rebuild: %s", time.Since(start))
	if !strings.Contains(out, "Using Go 1.22.5 (cached)") {
		t.Errorf("second build did not reuse the cached toolchain")
	}
	if got := e.serve(t, second.Image, second.ProcessTypes["web"], "/"); got != "hello from go, v2\n" {
		t.Errorf("GET / after the change = %q", got)
	}
	assertLayers(t, first, second, []string{"app", "binary"}, []bool{false, false})
}

// testPythonBuildpack builds a Python app whose requirements come from a
// package index the test serves (a PEP 503 "simple" index holding one
// hand-made wheel) outside the machine's networks, with a Procfile
// declaring web and worker; runs both; then rebuilds after a code-only
// change, reusing the virtualenv.
func testPythonBuildpack(t *testing.T, e *env) {
	wheel, wheelName := tinyWheel(t)
	sum := sha256.Sum256(wheel)
	mux := http.NewServeMux()
	mux.HandleFunc("/simple/tinyhello/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<!DOCTYPE html><html><body><a href=\"/files/%s#sha256=%s\">%s</a></body></html>\n", wheelName, hex.EncodeToString(sum[:]), wheelName)
	})
	mux.HandleFunc("/files/"+wheelName, func(w http.ResponseWriter, r *http.Request) { w.Write(wheel) })
	var requests atomic.Int32
	addr := testenv.Outside(t, fmt.Sprintf("ptstq%d", os.Getpid()%100000), 3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		mux.ServeHTTP(w, r)
	}))
	index := fmt.Sprintf("http://%s/simple/", addr)
	e = stackBuilder(t, e, map[string]string{"PIP_INDEX_URL": index})

	appPy := `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import tinyhello


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s from web %s\n" % (tinyhello.greet(), "v1")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
`
	dir := writeTree(t, map[string]string{
		"requirements.txt": "tinyhello==0.1.0\n",
		"Procfile":         "web: python app.py\nworker: python worker.py\n",
		"app.py":           appPy,
		"worker.py":        "import sys, tinyhello\nprint(tinyhello.greet(), 'from the worker on', sys.executable)\n",
	})
	first, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	wantOutput(t, "first build", out, "-----> Python app detected", "-----> Using Python 3.", "-----> Installing requirements (requirements.txt)", "tinyhello==0.1.0")
	if got := first.Config.Labels["paas.buildpacks"]; got != "paas/python@0.1.0 paas/procfile@0.1.0" {
		t.Errorf("built by %q", got)
	}
	if diff := cmp.Diff(map[string]string{"web": "python app.py", "worker": "python worker.py"}, first.ProcessTypes); diff != "" {
		t.Errorf("process types (-want +got):\n%s", diff)
	}
	if requests.Load() == 0 {
		t.Errorf("the build did not use the package index it was given")
	}
	if got := e.serve(t, first.Image, first.ProcessTypes["web"], "/"); got != "hello from tinyhello from web v1\n" {
		t.Errorf("GET / = %q", got)
	}
	if got := e.runCommand(t, first.Image, first.ProcessTypes["worker"]); got != "hello from tinyhello from the worker on /layers/paas_python/venv/bin/python\n" {
		t.Errorf("the worker printed %q", got)
	}

	replaceIn(t, filepath.Join(dir, "app.py"), `"v1"`, `"v2"`)
	second, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	wantOutput(t, "code-only rebuild", out, "-----> Reusing the virtualenv (requirements.txt unchanged)")
	if got := e.serve(t, second.Image, second.ProcessTypes["web"], "/"); got != "hello from tinyhello from web v2\n" {
		t.Errorf("GET / after the change = %q", got)
	}
	assertLayers(t, first, second, []string{"app", "virtualenv"}, []bool{false, true})
}

// tinyWheel makes the wheel of a package tinyhello 0.1.0 whose greet()
// says hello, and returns it and its file name.
func tinyWheel(t *testing.T) ([]byte, string) {
	t.Helper()
	files := []struct{ name, data string }{
		{"tinyhello/__init__.py", "def greet():\n    return \"hello from tinyhello\"\n"},
		{"tinyhello-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinyhello\nVersion: 0.1.0\nSummary: a test package\n"},
		{"tinyhello-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: paas-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.data))
		sum := sha256.Sum256([]byte(f.data))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.data))
	}
	record.WriteString("tinyhello-0.1.0.dist-info/RECORD,,\n")
	w, err := zw.Create("tinyhello-0.1.0.dist-info/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), "tinyhello-0.1.0-py3-none-any.whl"
}
