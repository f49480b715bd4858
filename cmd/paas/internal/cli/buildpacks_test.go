package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBuildpackCommands adds a custom buildpack from a directory and from a
// tarball, lists and removes them, against a real controller.
func TestBuildpackCommands(t *testing.T) {
	srv := newTestServer(t)
	if _, err := srv.Admin.CreateApp(t.Context(), "shop"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PAAS_URL": srv.URL, "PAAS_TOKEN": srv.Token}
	dir := filepath.Join(t.TempDir(), "My Buildpack")
	for name, data := range map[string]string{
		"buildpack.toml": "api = \"0.10\"\n[buildpack]\nid = \"test/mine\"\nversion = \"1\"\n",
		"bin/detect":     "#!/bin/sh\nexit 0\n",
		"bin/build":      "#!/bin/sh\necho built\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := runCLI(t, env, "", "buildpacks:add", "-a", "shop", dir)
	if got.Code != 0 || !strings.HasPrefix(got.Stdout, "Added buildpack my-buildpack to shop (position 1, ") {
		t.Fatalf("buildpacks:add DIR = %+v", got)
	}
	arch, err := buildpackArchive(dir)
	if err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(t.TempDir(), "Other.tar.gz")
	if err := os.WriteFile(tgz, arch, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runCLI(t, env, "", "buildpacks:add", "-a", "shop", tgz); got.Code != 0 || !strings.Contains(got.Stdout, "Added buildpack other to shop (position 2,") {
		t.Fatalf("buildpacks:add TARBALL = %+v", got)
	}
	if got := runCLI(t, env, "", "buildpacks:add", "-a", "shop", "--name", "bad", filepath.Join(dir, "bin", "build")); got.Code != 1 || !strings.Contains(got.Stderr, "not a tar archive") {
		t.Errorf("buildpacks:add of a script = %+v, want an error", got)
	}
	bs, err := srv.Admin.Buildpacks(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if diff := cmp.Diff([]string{"my-buildpack", "other"}, names); diff != "" {
		t.Errorf("buildpacks on the server (-want +got):\n%s", diff)
	}
	if got := runCLI(t, env, "", "buildpacks", "-a", "shop"); got.Code != 0 || !strings.Contains(got.Stdout, "my-buildpack") || !strings.Contains(got.Stdout, "other") {
		t.Errorf("buildpacks = %+v", got)
	}
	if got := runCLI(t, env, "", "buildpacks:remove", "-a", "shop", "my-buildpack"); got != (result{Stdout: "Removed buildpack my-buildpack from shop\n"}) {
		t.Errorf("buildpacks:remove = %+v", got)
	}
	if got := runCLI(t, env, "", "buildpacks:remove", "-a", "shop", "my-buildpack"); got.Code != 1 {
		t.Errorf("buildpacks:remove again = %+v, want an error", got)
	}
	if bs, _ := srv.Admin.Buildpacks(t.Context(), "shop"); len(bs) != 1 || bs[0].Position != 1 {
		t.Errorf("after the remove: %+v, want other at position 1", bs)
	}
}
