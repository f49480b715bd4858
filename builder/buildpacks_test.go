package builder_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/runtime-spec/specs-go"

	"paas/builder"
	"paas/builder/internal/buildtest"
	"paas/internal/testenv"
)

// newBuildpackEnv is newEnv with a builder whose build and run images are
// made from the busybox image (each marked with /etc/stack), so that
// buildpack builds need no debootstrap.
func newBuildpackEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	for _, which := range []string{"build", "run"} {
		dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + which + " > /etc/stack\n"})
		if _, err := e.b.Build(context.Background(), builder.Request{App: "stack", Tag: which, Dir: dir}); err != nil {
			t.Fatalf("make the %s image: %v", which, err)
		}
	}
	ns, _ := namespaces.Namespace(e.ctx)
	b, err := builder.New(builder.Options{Address: testenv.Containerd(t), Namespace: ns,
		BuildImage: "paas/stack:build", RunImage: "paas/stack:run",
		Limits: builder.Limits{StepTimeout: 2 * time.Minute, Memory: 256 << 20, Pids: 200}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	e.b = b
	return e
}

// serve runs a process of an image as the runtime would (image config,
// /bin/sh -c command, $PORT), on the host's network so the test can reach
// it, and returns the body of GET path once it answers.
func (e *env) serve(t *testing.T, image, command, urlPath string) string {
	t.Helper()
	ctx := e.ctx
	img, err := e.c.GetImage(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	id := fmt.Sprintf("serve-%d", time.Now().UnixNano())
	ctr, err := e.c.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(oci.WithImageConfig(img),
			oci.WithEnv([]string{fmt.Sprintf("PORT=%d", port)}),
			oci.WithProcessArgs("/bin/sh", "-c", command),
			oci.WithHostNamespace(specs.NetworkNamespace)))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	logPath := filepath.Join(t.TempDir(), "log")
	task, err := ctr.NewTask(ctx, cio.LogFile(logPath))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, urlPath)
	var body string
	buildtest.WaitFor(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	return body
}

func (e *env) buildWith(t *testing.T, req builder.Request) (builder.Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	req.App, req.Output = "shop", &out
	res, err := e.b.Build(context.Background(), req)
	t.Logf("build output:\n%s", out.String())
	return res, out.String(), err
}

func TestBuildpackStaticSite(t *testing.T) {
	e := newBuildpackEnv(t)
	dir := writeTree(t, map[string]string{"index.html": "<h1>static</h1>\n", "css/site.css": "body{}\n"})
	first, _, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got, want := first.ProcessTypes["web"], "/layers/paas_static/site/bin/static-serve"; got != want {
		t.Errorf("web process = %q, want %q", got, want)
	}
	if first.Config.User != "1000:1000" || first.Config.WorkingDir != "/workspace" {
		t.Errorf("config user %q, working dir %q; want 1000:1000 and /workspace", first.Config.User, first.Config.WorkingDir)
	}
	// The run image's two layers, the site's launch layer, the app.
	if got, want := len(first.Layers), 4; got != want {
		t.Errorf("image has %d layers, want %d", got, want)
	}
	if got := e.serve(t, first.Image, first.ProcessTypes["web"], "/"); got != "<h1>static</h1>\n" {
		t.Errorf("GET / = %q", got)
	}
	if got := e.serve(t, first.Image, first.ProcessTypes["web"], "/css/site.css"); got != "body{}\n" {
		t.Errorf("GET /css/site.css = %q", got)
	}
	if got := e.runCommand(t, first.Image, "cat /etc/stack; id -u; pwd"); got != "run\n1000\n/workspace\n" {
		t.Errorf("in the image, stack, user and directory are %q, want the run image, 1000 and /workspace", got)
	}

	// No change: every layer is reused, so the image is the same.
	second, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first.Layers, second.Layers); diff != "" {
		t.Errorf("unchanged rebuild changed layers (-first +second):\n%s", diff)
	}
	if first.Digest != second.Digest {
		t.Errorf("unchanged rebuild digest %s, want %s", second.Digest, first.Digest)
	}
	if got := strings.Count(out, "Reusing layer"); got != 2 {
		t.Errorf("unchanged rebuild reused %d layers, want 2", got)
	}
	buildtest.AssertClean(t, e.ctx, e.c, cacheVolume)
}

// runCommand runs command in the image with /bin/sh -c and returns its
// output.
func (e *env) runCommand(t *testing.T, image, command string) string {
	t.Helper()
	img, err := e.c.GetImage(e.ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("cmd-%d", time.Now().UnixNano())
	ctr, err := e.c.NewContainer(e.ctx, id, containerd.WithImage(img), containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/bin/sh", "-c", command)))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(e.ctx), containerd.WithSnapshotCleanup)
	logPath := filepath.Join(t.TempDir(), "log")
	task, err := ctr.NewTask(e.ctx, cio.LogFile(logPath))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(e.ctx), containerd.WithProcessKill)
	wait, err := task.Wait(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wait:
	case <-time.After(time.Minute):
		t.Fatal("command did not exit within a minute")
	}
	out, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestBuildpackProcfile(t *testing.T) {
	e := newBuildpackEnv(t)
	dir := writeTree(t, map[string]string{
		"Procfile":       "# processes\nweb: httpd -f -p $PORT -h /workspace/www\n\nworker:   sh -c 'echo \"working\"; sleep 1000'\n",
		"www/index.html": "from the Procfile app\n",
	})
	res, _, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	want := map[string]string{"web": "httpd -f -p $PORT -h /workspace/www", "worker": `sh -c 'echo "working"; sleep 1000'`}
	if diff := cmp.Diff(want, res.ProcessTypes); diff != "" {
		t.Errorf("process types (-want +got):\n%s", diff)
	}
	if got := e.serve(t, res.Image, res.ProcessTypes["web"], "/"); got != "from the Procfile app\n" {
		t.Errorf("GET / = %q", got)
	}
	buildtest.AssertClean(t, e.ctx, e.c, cacheVolume)
}

func TestBuildpackDetect(t *testing.T) {
	e := newBuildpackEnv(t)
	tests := []struct {
		name  string
		files map[string]string
		group string            // the image's paas.buildpacks label
		procs map[string]string // some of the process types
		kind  error
		msg   []string // in the error
	}{
		{name: "static", files: map[string]string{"index.html": "x"}, group: "paas/static@0.1.0"},
		{name: "static with Procfile", files: map[string]string{"public/index.html": "x", "Procfile": "web: serve-it\n"},
			group: "paas/static@0.1.0 paas/procfile@0.1.0", procs: map[string]string{"web": "serve-it"}},
		{name: "Procfile only", files: map[string]string{"Procfile": "worker: work\n"}, group: "paas/procfile@0.1.0",
			procs: map[string]string{"worker": "work"}},
		{name: "nothing detected", files: map[string]string{"README": "hi"}, kind: builder.ErrNoFrontEnd,
			msg: []string{"no buildpack detected the app", "tried: paas/go + paas/procfile; paas/node + paas/procfile; paas/python + paas/procfile; paas/static + paas/procfile; paas/procfile", "custom buildpack", "Procfile", "Dockerfile"}},
		{name: "bad Procfile", files: map[string]string{"index.html": "x", "Procfile": "web: ok\nWeb: bad\n"}, kind: builder.ErrInvalid,
			msg: []string{"paas/procfile", "Procfile line 2: bad process name \"Web\"", "Web: bad"}},
		{name: "Procfile without colon", files: map[string]string{"Procfile": "web: ok\n\nrun the server\n"}, kind: builder.ErrInvalid,
			msg: []string{"Procfile line 3: want \"name: command\"", "run the server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, err := e.buildWith(t, builder.Request{Dir: writeTree(t, tt.files)})
			if tt.kind != nil {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("Build = %v, want an error matching %v", err, tt.kind)
				}
				for _, m := range tt.msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("Build error %q does not say %q", err, m)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got := res.Config.Labels["paas.buildpacks"]; got != tt.group {
				t.Errorf("built by %q, want %q", got, tt.group)
			}
			for k, v := range tt.procs {
				if res.ProcessTypes[k] != v {
					t.Errorf("process %s = %q, want %q", k, res.ProcessTypes[k], v)
				}
			}
		})
	}
	buildtest.AssertClean(t, e.ctx, e.c, cacheVolume)
}

func TestCustomBuildpacks(t *testing.T) {
	e := newBuildpackEnv(t)
	bp := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", "buildpacks", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dir := writeTree(t, map[string]string{"counter.txt": "x"})
	req := builder.Request{Dir: dir, Buildpacks: []string{bp("tools"), bp("counter")}, BuildArgs: map[string]string{"GREETING": "hi there"}}
	first, out, err := e.buildWith(t, req)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for _, want := range []string{"hello from tools (set by a build layer)", "user=1000", "greeting=hi there", "count=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("first build output does not say %q", want)
		}
	}
	if diff := cmp.Diff(map[string]string{"web": "/bin/sh -c 'ls /layers /layers/test_counter; cat /layers/test_counter/out/n; rt; say-hello 2>/dev/null || echo no tools'", "worker": "sleep 1000"}, first.ProcessTypes); diff != "" {
		t.Errorf("process types (-want +got):\n%s", diff)
	}
	// The build layer is not in the image; the launch layers are.
	const listing = "/layers:\ntest_counter\n\n/layers/test_counter:\nout\nruntime\nstatic\n"
	if got, want := e.runImage(t, first.Image), listing+"1\nruntime-1\nno tools\n"; got != want {
		t.Errorf("running the image printed %q, want %q", got, want)
	}

	// The cache layer comes back; the unchanged launch layer keeps its
	// digest, the changed one does not.
	second, out, err := e.buildWith(t, req)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if !strings.Contains(out, "count=2") {
		t.Errorf("second build did not find the cache layer: output does not say count=2")
	}
	if !strings.Contains(out, "reusing runtime 1") {
		t.Errorf("second build did not get the runtime layer's metadata back: output does not say so")
	}
	if got, want := e.runImage(t, second.Image), listing+"2\nruntime-1\nno tools\n"; got != want {
		t.Errorf("running the second image printed %q, want %q", got, want)
	}
	// run image (2), out, runtime, static, app
	if len(first.Layers) != 6 || len(second.Layers) != 6 {
		t.Fatalf("images have %d and %d layers, want 6", len(first.Layers), len(second.Layers))
	}
	for i, same := range []bool{true, true, false, true, true, true} {
		if (first.Layers[i] == second.Layers[i]) != same {
			t.Errorf("layer %d: %s then %s; want the same: %v", i, first.Layers[i], second.Layers[i], same)
		}
	}

	// Without the cache, the count starts again.
	if err := e.b.RemoveBuildCache(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	if _, out, err = e.buildWith(t, req); err != nil || !strings.Contains(out, "count=1") || strings.Contains(out, "reusing runtime") {
		t.Errorf("build after RemoveBuildCache = %v, want count=1 and the runtime layer made again", err)
	}

	// A buildpack cannot make the lifecycle read the host's files.
	_, _, err = e.buildWith(t, builder.Request{Dir: dir, Buildpacks: []string{bp("escape")}})
	if !errors.Is(err, builder.ErrInvalid) || !strings.Contains(err.Error(), "launch.toml goes through a symbolic link") {
		t.Errorf("Build with a symlinked launch.toml = %v, want ErrInvalid", err)
	}

	// A buildpack given as a gzipped tar archive of its directory.
	tgz := filepath.Join(t.TempDir(), "counter.tgz")
	if out, err := exec.Command("tar", "-czf", tgz, "-C", filepath.Join("testdata", "buildpacks"), "counter").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	fromTar, out, err := e.buildWith(t, builder.Request{Dir: dir, Buildpacks: []string{bp("tools"), tgz}})
	if err != nil || !strings.Contains(out, "count=") || fromTar.ProcessTypes["worker"] != "sleep 1000" {
		t.Errorf("Build with a buildpack archive = %v, processes %v; want the counter buildpack to run", err, fromTar.ProcessTypes)
	}
	if got := e.runImage(t, fromTar.Image); !strings.HasPrefix(got, listing) {
		t.Errorf("running the image of the archived buildpack printed %q, want its launch layer listed", got)
	}
	if _, _, err = e.buildWith(t, builder.Request{Dir: dir, Buildpacks: []string{bp("tools"), filepath.Join(bp("tools"), "buildpack.toml")}}); !errors.Is(err, builder.ErrInvalid) {
		t.Errorf("Build with a file that is not a buildpack archive = %v, want ErrInvalid", err)
	}

	// A group whose required buildpack does not pass detection.
	_, _, err = e.buildWith(t, builder.Request{Dir: dir, Buildpacks: []string{bp("tools"), bp("nodetect")}})
	if !errors.Is(err, builder.ErrNoFrontEnd) || !strings.Contains(err.Error(), "test/tools + test/nodetect") {
		t.Errorf("Build with a failing detect = %v, want ErrNoFrontEnd naming the group", err)
	}
	buildtest.AssertClean(t, e.ctx, e.c, cacheVolume)
}

// TestBuildpacksOnStacks builds apps on the Debian stacks of `paas stack
// build` (the default build and run images), so the built-in buildpacks are
// known to work with dash, mawk and coreutils: a static site, served
// without busybox or python3; a Procfile app; Node.js apps installed with
// npm, yarn and pnpm; a Go module, with the
// toolchain go.mod names downloaded from the Go module proxy the host's go
// command uses, rebuilt after a code-only change. It runs with
// PAAS_TEST_STACKS=all (see TestRunStack; stacks cached by recipe in
// $PAAS_STACK_CACHE); the Go part needs the proxy reachable from a
// container.
func TestBuildpacksOnStacks(t *testing.T) {
	if os.Getenv("PAAS_TEST_STACKS") != "all" {
		t.Skip("set PAAS_TEST_STACKS=all to build the stacks with debootstrap")
	}
	cache := os.Getenv("PAAS_STACK_CACHE")
	if cache == "" {
		cache = "/var/cache/paas-test/stacks"
	}
	e := newEnv(t)
	var log bytes.Buffer
	if _, err := e.b.BuildStacks(context.Background(), builder.StackOptions{CacheDir: cache, Output: &log}); err != nil {
		t.Fatalf("BuildStacks: %v\n%s", err, log.String())
	}
	t.Run("static", func(t *testing.T) {
		site, _, err := e.buildWith(t, builder.Request{Dir: writeTree(t, map[string]string{
			"public/index.html": "<p>on debian</p>\n", "public/app.js": "1;\n", "README.md": "not served\n"})})
		if err != nil {
			t.Fatalf("Build static site: %v", err)
		}
		if got := e.serve(t, site.Image, site.ProcessTypes["web"], "/"); got != "<p>on debian</p>\n" {
			t.Errorf("GET / = %q", got)
		}
		if got := e.serve(t, site.Image, site.ProcessTypes["web"], "/app.js"); got != "1;\n" {
			t.Errorf("GET /app.js = %q", got)
		}
		if got := e.runCommand(t, site.Image, "id -un; pwd"); got != "app\n/workspace\n" {
			t.Errorf("the image runs as and in %q, want app in /workspace", got)
		}
	})
	t.Run("procfile", func(t *testing.T) {
		app, _, err := e.buildWith(t, builder.Request{Dir: writeTree(t, map[string]string{
			"Procfile": "web: exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => $ENV{PORT}, Listen => 5, ReuseAddr => 1) or die; while ($c = $s->accept) { <$c>; print $c \"HTTP/1.0 200 OK\\r\\n\\r\\nprocfile on debian\\n\"; close $c }'\n"})})
		if err != nil {
			t.Fatalf("Build Procfile app: %v", err)
		}
		if got := e.serve(t, app.Image, app.ProcessTypes["web"], "/"); got != "procfile on debian\n" {
			t.Errorf("GET / = %q", got)
		}
	})
	t.Run("apt", func(t *testing.T) { testAptInRunStep(t, e) })
	t.Run("go", func(t *testing.T) { testGoBuildpack(t, e) })
	t.Run("node", func(t *testing.T) { testNodeBuildpack(t, e) })
	t.Run("node-yarn", func(t *testing.T) { testNodePackageManager(t, e, "yarn") })
	t.Run("node-pnpm", func(t *testing.T) { testNodePackageManager(t, e, "pnpm") })
	t.Run("python", func(t *testing.T) { testPythonBuildpack(t, e) })
	buildtest.AssertClean(t, e.ctx, e.c, cacheVolume)
}

func TestBuildpackCancel(t *testing.T) {
	e := newBuildpackEnv(t)
	sleeper, err := filepath.Abs(filepath.Join("testdata", "buildpacks", "sleeper"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out buildtest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := e.b.Build(ctx, builder.Request{App: "shop", Dir: t.TempDir(), Buildpacks: []string{sleeper}, Output: &out})
		done <- err
	}()
	buildtest.WaitFor(t, func() bool { return strings.Contains(out.String(), "started") })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Build after cancel = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Build took %s to return after cancel, want < 5s", d)
		}
	case <-time.After(time.Minute):
		t.Fatal("Build still running a minute after cancel")
	}
	if imgs, err := e.c.ImageService().List(e.ctx, `name~="^paas/shop:"`); err != nil || len(imgs) > 0 {
		t.Errorf("images of the app after a cancelled build: %v (%v)", imgs, err)
	}
	buildtest.AssertClean(t, e.ctx, e.c, cacheVolume)
}

// hostCABundle is the host's CA bundle (which trusts whatever proxy the
// host's own downloads go through), or "" if it has none.
func hostCABundle(t *testing.T) string {
	const p = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(p); err != nil {
		t.Logf("no CA bundle at %s: build steps trust the build image's", p)
		return ""
	}
	return p
}

// cacheVolume is the app's buildpack cache, which stays between builds.
const cacheVolume = "snapshot paas-cnb-cache/shop"

// testAptInRunStep: apt-get works in a contained RUN step — in a user
// namespace, without CAP_SETFCAP or CAP_MKNOD, with no_new_privs — and
// still drops to _apt for its downloads.
func testAptInRunStep(t *testing.T, e *env) {
	e = stackBuilder(t, e, nil)
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM paas/stack-run\n" +
		"RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends hello >/dev/null && hello && ls -ln /usr/bin/hello | cut -d' ' -f3,4\n"})
	_, out, err := e.buildWith(t, builder.Request{Dir: dir})
	if err != nil {
		t.Fatalf("Build with apt-get: %v", err)
	}
	if !strings.Contains(out, "Hello, world!\n0 0\n") {
		t.Errorf("apt-get install hello printed:\n%s\nwant Hello, world! and root's /usr/bin/hello", out)
	}
	if strings.Contains(out, "unsandboxed") {
		t.Errorf("apt-get could not drop to _apt:\n%s", out)
	}
}
