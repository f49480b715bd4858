package builder_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"paas/builder"
	"paas/builder/internal/buildtest"
	"paas/internal/testenv"
	"paas/runtime/network"
)

// env is a builder on the test containerd, in a namespace of the test's own
// holding the busybox image.
type env struct {
	ctx context.Context // carries the namespace
	c   *containerd.Client
	b   *builder.Builder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := buildtest.Client(t)
	ctx := buildtest.Namespace(t, c)
	buildtest.Busybox(t, ctx, c, "busybox")
	ns, _ := namespaces.Namespace(ctx)
	b, err := builder.New(builder.Options{Address: testenv.Containerd(t), Namespace: ns,
		Limits: builder.Limits{StepTimeout: 2 * time.Minute, Memory: 256 << 20, Pids: 200}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &env{ctx: ctx, c: c, b: b}
}

// writeTree writes files (path → content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (e *env) build(t *testing.T, dir string, out *bytes.Buffer) (builder.Result, error) {
	t.Helper()
	if out == nil {
		out = &bytes.Buffer{}
	}
	res, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Output: out})
	t.Logf("build output:\n%s", out.String())
	return res, err
}

// runImage runs an image as the runtime would — its entrypoint, command,
// environment, user and working directory — and returns what it prints.
func (e *env) runImage(t *testing.T, name string) string {
	t.Helper()
	ctx := e.ctx
	img, err := e.c.GetImage(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("run-%d", time.Now().UnixNano())
	ctr, err := e.c.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(oci.WithImageConfig(img)))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	logPath := filepath.Join(t.TempDir(), "log") // a file loses no output, unlike FIFOs
	task, err := ctr.NewTask(ctx, cio.LogFile(logPath))
	if err != nil {
		t.Fatal(err)
	}
	wait, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var st containerd.ExitStatus
	select {
	case st = <-wait:
	case <-time.After(time.Minute):
		t.Fatal("image did not exit within a minute")
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := st.Result(); code != 0 {
		t.Errorf("image %s exited with status %d: %s", name, code, out)
	}
	return string(out)
}

const multiStage = `# a two-stage build
ARG BASE=busybox
FROM ${BASE} AS build
WORKDIR /src
COPY main.sh lib/ ./
RUN mkdir -p /out && cat main.sh helper.sh > /out/app && chmod 0755 /out/app

FROM busybox AS unused
RUN exit 1

FROM ${BASE}
ENV GREETING="hello world" PORT=8080
WORKDIR /app
COPY --from=build --chown=app:app /out/app ./bin/
COPY *.txt ./
USER app
EXPOSE 8080 9090/udp
LABEL org.example.name=demo
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["/app/bin/app; echo \"$GREETING on $PORT as $(id -un) in $(pwd)\"; stat -c '%U %a' /app/bin/app; ls /app"]
`

func TestMultiStage(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{
		"Dockerfile":    multiStage,
		"main.sh":       "echo main\n",
		"lib/helper.sh": "echo helper\n",
		"a.txt":         "a",
		"secret.txt":    "no",
		".dockerignore": "secret.txt\n",
		"Procfile":      "worker: /app/bin/app --work\n",
	})
	res, err := e.build(t, dir, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if !strings.HasPrefix(res.Image, "paas/shop:") || res.Digest == "" {
		t.Errorf("Build = image %q digest %q", res.Image, res.Digest)
	}
	want := ocispec.ImageConfig{
		User:         "app",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "9090/udp": {}},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello world", "PORT=8080"},
		Entrypoint:   []string{"/bin/sh", "-c"},
		Cmd:          []string{`/app/bin/app; echo "$GREETING on $PORT as $(id -un) in $(pwd)"; stat -c '%U %a' /app/bin/app; ls /app`},
		WorkingDir:   "/app",
		Labels:       map[string]string{"org.example.name": "demo"},
	}
	if diff := cmp.Diff(want, res.Config); diff != "" {
		t.Errorf("Build config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"web": "", "worker": "/app/bin/app --work"}, res.ProcessTypes); diff != "" {
		t.Errorf("Build process types (-want +got):\n%s", diff)
	}
	// busybox, WORKDIR /app, the copied binary, the copied text files.
	if got, want := len(res.Layers), 4; got != want {
		t.Errorf("Build layers = %d, want %d", got, want)
	}
	got := e.runImage(t, res.Image)
	wantOut := "main\nhelper\nhello world on 8080 as app in /app\napp 755\na.txt\nbin\n"
	if got != wantOut {
		t.Errorf("running the image printed %q, want %q", got, wantOut)
	}
	buildtest.AssertClean(t, e.ctx, e.c)
}

const cacheDockerfile = `FROM busybox
RUN echo one > /one
COPY a.txt /a.txt
RUN cat /a.txt > /copy-of-a
COPY b.txt /b.txt
`

func TestCache(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{"Dockerfile": cacheDockerfile, "a.txt": "a1", "b.txt": "b"})
	first, err := e.build(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	second, err := e.build(t, dir, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(out.String(), "---> Using cache"), 4; got != want {
		t.Errorf("unchanged rebuild: %d steps from the cache, want %d", got, want)
	}
	if diff := cmp.Diff(first.Layers, second.Layers); diff != "" {
		t.Errorf("unchanged rebuild changed layers (-first +second):\n%s", diff)
	}
	if first.Digest != second.Digest || first.Image != second.Image {
		t.Errorf("unchanged rebuild = %s %s, want %s %s", second.Image, second.Digest, first.Image, first.Digest)
	}

	// Touching a file without changing it is no change.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := e.build(t, dir, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(out.String(), "---> Using cache"), 4; got != want {
		t.Errorf("rebuild after touch: %d steps from the cache, want %d", got, want)
	}

	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a2"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	third, err := e.build(t, dir, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(out.String(), "---> Using cache"), 1; got != want {
		t.Errorf("rebuild after changing a.txt: %d steps from the cache, want %d (RUN echo one)", got, want)
	}
	if diff := cmp.Diff(first.Layers[:2], third.Layers[:2]); diff != "" {
		t.Errorf("layers before COPY a.txt changed (-first +third):\n%s", diff)
	}
	for i := 2; i < 4; i++ {
		if first.Layers[i] == third.Layers[i] {
			t.Errorf("layer %d (from COPY a.txt on) = %s in both builds, want a new layer", i, first.Layers[i])
		}
	}
	if first.Digest == third.Digest {
		t.Errorf("changed source gave the same image digest %s", first.Digest)
	}
	buildtest.AssertClean(t, e.ctx, e.c)
}

func TestBadBuilds(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		dockerfile string
		kind       error
		want       string // in the error message
	}{
		{"unknown instruction", "FROM busybox\nRUN true\nFROBNICATE now\n", builder.ErrInvalid, "Dockerfile:3: FROBNICATE now: unknown instruction FROBNICATE"},
		{"malformed", "FROM busybox\nCOPY\n", builder.ErrInvalid, "Dockerfile:2: COPY: "},
		{"bad json", "FROM busybox\nENV\n", builder.ErrInvalid, "Dockerfile:2: ENV"},
		{"no from", "RUN true\n", builder.ErrInvalid, "Dockerfile:1: RUN true: RUN before the first FROM"},
		{"unsupported", "FROM busybox\nHEALTHCHECK CMD true\n", builder.ErrInvalid, "Dockerfile:2: HEALTHCHECK CMD true: HEALTHCHECK is not supported"},
		{"failing run", "FROM busybox\nRUN echo ok > /ok\nRUN echo failing; exit 7\n", builder.ErrStepFailed, "Dockerfile:3: RUN echo failing; exit 7: the command returned a non-zero code: 7"},
		{"missing program", "FROM busybox\nRUN [\"/nonexistent\"]\n", builder.ErrStepFailed, "Dockerfile:2: "},
		{"missing copy source", "FROM busybox\nRUN true\nCOPY nothere.txt /x\n", builder.ErrInvalid, "Dockerfile:3: COPY nothere.txt /x: nothere.txt: no such file or directory"},
		{"ignored copy source", "FROM busybox\nCOPY secret /x\n", builder.ErrInvalid, "Dockerfile:2: COPY secret /x: secret: excluded by .dockerignore"},
		{"no glob match", "FROM busybox\nCOPY *.nope /x/\n", builder.ErrInvalid, "Dockerfile:2: COPY *.nope /x/: *.nope: no files match"},
		{"unknown image", "FROM nosuchimage\n", builder.ErrInvalid, `Dockerfile:1: FROM nosuchimage: image "nosuchimage" not found`},
		{"unknown stage", "FROM busybox\nCOPY --from=nope /a /b\n", builder.ErrInvalid, "Dockerfile:2: COPY --from=nope /a /b: --from=nope names no earlier stage and no image"},
		{"run mount", "FROM busybox\nRUN --mount=type=cache,target=/c true\n", builder.ErrInvalid, "Dockerfile:2: RUN --mount=type=cache,target=/c true: RUN --mount is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"Dockerfile": tt.dockerfile, "secret": "s", ".dockerignore": "secret\n"})
			_, err := e.build(t, dir, nil)
			t.Logf("error: %v", err)
			if err == nil || !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build(%q) = %v, want an error matching %v containing %q", tt.dockerfile, err, tt.kind, tt.want)
			}
			assertNoAppImage(t, e)
			buildtest.AssertClean(t, e.ctx, e.c)
		})
	}
}

func assertNoAppImage(t *testing.T, e *env) {
	t.Helper()
	imgs, err := e.c.ImageService().List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		if strings.HasPrefix(i.Name, "paas/") {
			t.Errorf("image %s left behind", i.Name)
		}
	}
}

func TestCancelMidRun(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started; sleep 600\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out buildtest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := e.b.Build(ctx, builder.Request{App: "shop", Dir: dir, Output: &out})
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
	assertNoAppImage(t, e)
	buildtest.AssertClean(t, e.ctx, e.c)
}

func TestTarSourceAndAdd(t *testing.T) {
	e := newEnv(t)
	// An archive that ADD unpacks.
	var arch bytes.Buffer
	tw := tar.NewWriter(&arch)
	for name, data := range map[string]string{"x/one": "1", "x/two": "2"} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(data))
	}
	_ = tw.Close()

	files := map[string]string{
		"Dockerfile": "FROM busybox:latest\nARG WHO=nobody\nADD files.tar /unpacked/\nADD plain.txt /plain.txt\n" +
			"RUN echo \"$WHO\" > /who\nCMD [\"sh\", \"-c\", \"cat /who; ls /unpacked/x; cat /plain.txt\"]\n",
		"files.tar": arch.String(),
		"plain.txt": "plain\n",
	}
	var src bytes.Buffer
	tw = tar.NewWriter(&src)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(files[n]))
	}
	_ = tw.Close()

	var out bytes.Buffer
	res, err := e.b.Build(context.Background(), builder.Request{App: "shop", Tag: "v7", Tar: &src, Output: &out,
		BuildArgs: map[string]string{"WHO": "alice", "UNUSED": "x"}})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, out.String())
	}
	if res.Image != "paas/shop:v7" {
		t.Errorf("Build image = %q, want paas/shop:v7", res.Image)
	}
	if got, want := e.runImage(t, res.Image), "alice\none\ntwo\nplain\n"; got != want {
		t.Errorf("running the image printed %q, want %q", got, want)
	}
	if err := e.b.Remove(context.Background(), res.Image); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetImage(e.ctx, res.Image); err == nil {
		t.Errorf("image %s still there after Remove", res.Image)
	}
}

func TestBadRequest(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	tests := []struct {
		name string
		req  builder.Request
		want error
	}{
		{"bad app", builder.Request{App: "Shop!", Dir: dir}, builder.ErrInvalid},
		{"bad tag", builder.Request{App: "shop", Tag: "a/b", Dir: dir}, builder.ErrInvalid},
		{"no source", builder.Request{App: "shop"}, builder.ErrInvalid},
		{"no dockerfile and no stack", builder.Request{App: "shop", Dir: t.TempDir()}, builder.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.b.Build(context.Background(), tt.req); !errors.Is(err, tt.want) {
				t.Errorf("Build(%+v) = %v, want %v", tt.req, err, tt.want)
			}
		})
	}
}

// TestRunHasNetwork: a RUN step has a network that reaches the internet
// (testenv.Outside stands in for it) and nothing of the host: a server on
// the host, through the build network's gateway, and 169.254.169.254 are
// refused at once. On the old code both connected.
func TestRunHasNetwork(t *testing.T) {
	testenv.Root(t)
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("no CNI plugins: run tests/run.sh")
	}
	c := buildtest.Client(t)
	ctx := buildtest.Namespace(t, c)
	buildtest.Busybox(t, ctx, c, "busybox")
	ns, _ := namespaces.Namespace(ctx)
	bridge := fmt.Sprintf("pbt%d", os.Getpid()%100000)
	netw, err := network.New(network.Config{Name: "paas-build-test", Bridge: bridge, Subnet: "10.78.250.0/24", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netw.DeleteBridge(); err != nil {
			t.Errorf("delete bridge %s: %v", bridge, err)
		}
	})
	internet := testenv.Outside(t, fmt.Sprintf("ptstk%d", os.Getpid()%100000), 2, nil)
	b, err := builder.New(builder.Options{Address: testenv.Containerd(t), Namespace: ns, Network: netw})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// A server on the host (paas's API, say), on every address.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "from the host") })}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ihost, iport, _ := net.SplitHostPort(internet)

	dir := writeTree(t, map[string]string{"Dockerfile": fmt.Sprintf(
		"FROM busybox\nRUN for t in '%s %s' '10.78.250.1 %d' '169.254.169.254 80'; do set -- $t; "+
			"if nc -w 3 $1 $2 </dev/null 2>/tmp/e; then echo \"$1:$2 connected\"; else echo \"$1:$2 $(cat /tmp/e)\"; fi; done; "+
			"ip -4 addr | grep -c 10.78.250.\n", ihost, iport, port)})
	var out bytes.Buffer
	if _, err := b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Output: &out}); err != nil {
		t.Fatalf("Build: %v\n%s", err, out.String())
	}
	want := fmt.Sprintf("%s connected\n"+
		"10.78.250.1:%d nc: can't connect to remote host (10.78.250.1): Connection refused\n"+
		"169.254.169.254:80 nc: can't connect to remote host (169.254.169.254): Connection refused\n1\n", internet, port)
	if !strings.Contains(out.String(), want) {
		t.Errorf("RUN with network printed:\n%s\nwant:\n%s", out.String(), want)
	}
	buildtest.AssertClean(t, ctx, c)
}

func TestPrune(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY a /a\n", "a": "1"})
	for _, tag := range []string{"v1", "v2", "v3"} {
		if _, err := e.b.Build(context.Background(), builder.Request{App: "shop", Tag: tag, Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.b.Build(context.Background(), builder.Request{App: "other", Tag: "v1", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	deleted, err := e.b.Prune(context.Background(), "shop", []string{"paas/shop:v3"})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(deleted)
	if diff := cmp.Diff([]string{"paas/shop:v1", "paas/shop:v2"}, deleted); diff != "" {
		t.Errorf("Prune deleted (-want +got):\n%s", diff)
	}
	for _, name := range []string{"paas/shop:v3", "paas/other:v1"} {
		if _, err := e.c.GetImage(e.ctx, name); err != nil {
			t.Errorf("%s after Prune: %v", name, err)
		}
	}

	n, err := e.b.PruneCache(context.Background(), -time.Minute) // everything is older than a minute from now
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("PruneCache deleted %d entries, want 1 (COPY a)", n)
	}
	var out bytes.Buffer
	if _, err := e.b.Build(context.Background(), builder.Request{App: "shop", Tag: "v4", Dir: dir, Output: &out}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Using cache") {
		t.Errorf("build after PruneCache used the cache:\n%s", out.String())
	}
}

func TestConfigInstructions(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{
		"Dockerfile": `FROM busybox
USER app
WORKDIR /srv/data
RUN touch mine && stat -c '%U %a' /srv/data > /tmp/wd
USER root
ARG V=from-arg
ENV V=from-env
ARG V
RUN echo "V=$V" > /v
SHELL ["/bin/sh", "-ec"]
RUN echo "shell $0" >> /v
COPY --chmod=0750 run.sh /usr/local/bin/run
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/run"]
`,
		"run.sh": "#!/bin/sh\ncat /tmp/wd /v; stat -c %a /usr/local/bin/run; pwd\n",
	})
	res, err := e.build(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// ENTRYPOINT drops the CMD inherited from the base image.
	if res.Config.Cmd != nil || res.Config.StopSignal != "SIGINT" {
		t.Errorf("config Cmd = %q, StopSignal = %q; want no Cmd and SIGINT", res.Config.Cmd, res.Config.StopSignal)
	}
	if got, want := e.runImage(t, res.Image), "app 755\nV=from-env\nshell /bin/sh\n750\n/srv/data\n"; got != want {
		t.Errorf("running the image printed %q, want %q", got, want)
	}
}

// TestPruneSparesStacks: an app named like a stack (stack-run) can neither
// build into the stack's image name nor prune it: the stack's images stay.
func TestPruneSparesStacks(t *testing.T) {
	e := newEnv(t)
	is := e.c.ImageService()
	bb, err := is.Get(e.ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	// The run stack as BuildStacks registers it: by name and by recipe tag.
	for _, name := range []string{builder.RunStack, builder.RunStack + ":0123456789ab"} {
		if _, err := is.Create(e.ctx, images.Image{Name: name, Target: bb.Target}); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := e.b.Prune(context.Background(), "stack-run", nil)
	if !errors.Is(err, builder.ErrInvalid) || !strings.Contains(fmt.Sprint(err), `app name "stack-run" is reserved`) {
		t.Errorf("Prune(stack-run) = %v, %v; want ErrInvalid, reserved", deleted, err)
	}
	for _, name := range []string{builder.RunStack, builder.RunStack + ":0123456789ab"} {
		if _, err := is.Get(e.ctx, name); err != nil {
			t.Errorf("%s after Prune(stack-run): %v", name, err)
		}
	}
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	if _, err := e.b.Build(context.Background(), builder.Request{App: "stack-run", Tag: "latest", Dir: dir}); !errors.Is(err, builder.ErrInvalid) {
		t.Errorf("Build(app stack-run) = %v; want ErrInvalid", err)
	}
}

// TestRunStepContained: a Dockerfile's RUN step is contained (see
// testenv.ContainmentProbe), with and without a network.
func TestRunStepContained(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{"probe.sh": testenv.ContainmentProbe + "\n",
		"Dockerfile": "FROM busybox\nCOPY probe.sh /probe.sh\nRUN sh /probe.sh > /probe.out\nCMD [\"cat\", \"/probe.out\"]\n"})
	res, err := e.build(t, dir, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	got := testenv.ContainmentOutput(e.runImage(t, res.Image))
	if want := testenv.ContainmentWant("uid=0(root) gid=0(root)"); got != want {
		t.Errorf("probe in a RUN step printed\n%s\nwant\n%s", got, want)
	}
	buildtest.AssertClean(t, e.ctx, e.c)
}
