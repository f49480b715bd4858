package builder_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/google/go-cmp/cmp"

	"paas/builder"
	"paas/builder/internal/buildtest"
)

func TestHostMirror(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(dir+"/sources.list.d", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sources.list.d/debian.sources", `Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://mirror.invalid/debian/
Suites: bookworm bookworm-updates
Components: main
`)
	mirror, suite, err := builder.HostMirror(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"http://mirror.invalid/debian", "bookworm"}, []string{mirror, suite}); diff != "" {
		t.Errorf("HostMirror(deb822) (-want +got):\n%s", diff)
	}
	write("sources.list", "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://other.invalid/debian trixie main\n")
	mirror, suite, err = builder.HostMirror(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"http://other.invalid/debian", "trixie"}, []string{mirror, suite}); diff != "" {
		t.Errorf("HostMirror(one-line) (-want +got):\n%s", diff)
	}
	if _, _, err := builder.HostMirror(t.TempDir()); err == nil {
		t.Error("HostMirror(empty dir) succeeded, want an error")
	}
}

// TestRunStack builds the run stack with debootstrap from the host's mirror
// (minutes the first time on a machine; cached by recipe in
// $PAAS_STACK_CACHE, default /var/cache/paas-test/stacks) and builds an app
// on it. It runs only with PAAS_TEST_STACKS=1 (run stack) or =all (both).
func TestRunStack(t *testing.T) {
	which := os.Getenv("PAAS_TEST_STACKS")
	if which != "1" && which != "all" {
		t.Skip("set PAAS_TEST_STACKS=1 (or all) to build stacks with debootstrap")
	}
	cache := os.Getenv("PAAS_STACK_CACHE")
	if cache == "" {
		cache = "/var/cache/paas-test/stacks"
	}
	e := newEnv(t)
	var log bytes.Buffer
	stacks, err := e.b.BuildStacks(context.Background(), builder.StackOptions{CacheDir: cache, Only: []string{"run"}, Output: &log})
	if err != nil {
		t.Fatalf("BuildStacks: %v\n%s", err, log.String())
	}
	if len(stacks) != 1 || stacks[0].Image != builder.RunStack || stacks[0].Cached {
		t.Errorf("BuildStacks = %+v, want a freshly imported %s", stacks, builder.RunStack)
	}
	again, err := e.b.BuildStacks(context.Background(), builder.StackOptions{CacheDir: cache, Only: []string{"run"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || !again[0].Cached || again[0].Recipe != stacks[0].Recipe {
		t.Errorf("second BuildStacks = %+v, want the same stack, cached", again)
	}
	list, err := e.b.Stacks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if list[builder.RunStack] != stacks[0].Recipe {
		t.Errorf("Stacks() = %v, want %s with recipe %s", list, builder.RunStack, stacks[0].Recipe)
	}
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM paas/stack-run\nUSER app\nRUN id && cat /etc/debian_version && ls /etc/ssl/certs | grep -c pem\n"})
	var out bytes.Buffer
	if _, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Output: &out}); err != nil {
		t.Fatalf("Build on the run stack: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "uid=1000(app)") {
		t.Errorf("Build on the run stack printed:\n%s\nwant uid=1000(app)", out.String())
	}
	if which == "all" {
		log.Reset()
		stacks, err := e.b.BuildStacks(context.Background(), builder.StackOptions{CacheDir: cache, Only: []string{"build"}, Output: &log})
		if err != nil {
			t.Fatalf("BuildStacks(build): %v\n%s", err, log.String())
		}
		t.Logf("build stack: %+v", stacks)
		dir := writeTree(t, map[string]string{"Dockerfile": "FROM paas/stack-build\nRUN gcc --version && git --version && python3 --version && curl --version | head -1\n"})
		out.Reset()
		if _, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Output: &out}); err != nil {
			t.Fatalf("Build on the build stack: %v\n%s", err, out.String())
		}
		t.Logf("tools on the build stack:\n%s", out.String())
	}
	buildtest.AssertClean(t, e.ctx, e.c)
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	var arch bytes.Buffer
	if err := e.c.Export(e.ctx, &arch, archive.WithImage(e.c.ImageService(), "busybox")); err != nil {
		t.Fatal(err)
	}
	names, err := e.b.Import(context.Background(), bytes.NewReader(arch.Bytes()), "imported/base")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "imported/base") {
		t.Errorf("Import = %v, want imported/base among them", names)
	}
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM imported/base\nRUN echo works\n"})
	var out bytes.Buffer
	if _, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Output: &out}); err != nil {
		t.Fatalf("Build on the imported image: %v\n%s", err, out.String())
	}
	if _, err := e.b.Import(context.Background(), strings.NewReader("not an archive"), ""); !errors.Is(err, builder.ErrInvalid) {
		t.Errorf("Import(garbage) = %v, want ErrInvalid", err)
	}
	buildtest.AssertClean(t, e.ctx, e.c)
}
