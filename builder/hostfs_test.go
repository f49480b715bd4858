package builder_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/builder"
)

// tarEntry is one entry of tarOf's archive: a file, or a symlink when
// Link is set.
type tarEntry struct{ Name, Body, Link string }

func tarOf(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Body)), Typeflag: tar.TypeReg}
		if e.Link != "" {
			h = &tar.Header{Name: e.Name, Mode: 0o777, Linkname: e.Link, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUntarDoesNotFollowSymlinks (issue 14, finding 1): a tar whose entry
// x is a symlink to a host file and whose next entry is a file x — what a
// git push of a tree with two entries named x gives, or a custom buildpack
// archive — leaves the host file as it was.
func TestUntarDoesNotFollowSymlinks(t *testing.T) {
	e := newEnv(t)
	victim := filepath.Join(t.TempDir(), "cron")
	evil := func(more ...tarEntry) []byte {
		return tarOf(t, append([]tarEntry{{Name: "x", Link: victim}, {Name: "x", Body: "* * * * * root touch /pwned\n"}}, more...)...)
	}
	bpArchive := filepath.Join(t.TempDir(), "bp.tar")
	if err := os.WriteFile(bpArchive, evil(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     builder.Request
		wantErr bool
	}{
		{"source", builder.Request{App: "shop", Tar: bytes.NewReader(evil(tarEntry{Name: "Dockerfile", Body: "FROM busybox\nCOPY x /x\n"}))}, false},
		{"buildpack", builder.Request{App: "shop", Dir: t.TempDir(), Buildpacks: []string{bpArchive}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(victim, []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			tt.req.Output = &out
			_, err := e.b.Build(context.Background(), tt.req)
			t.Logf("Build = %v; output:\n%s", err, out.String())
			if (err != nil) != tt.wantErr {
				t.Errorf("Build = %v, want an error: %v", err, tt.wantErr)
			}
			got, err := os.ReadFile(victim)
			if err != nil || string(got) != "secret\n" {
				t.Errorf("host file %s = %q, %v; want %q", victim, got, err, "secret\n")
			}
		})
	}
}

// TestAddDoesNotChmodHost (issue 14, finding 3): FROM scratch and ADD of a
// tar with a symlink d to a host file, then a directory d of mode 0666,
// leaves the host file's mode as it was.
func TestAddDoesNotChmodHost(t *testing.T) {
	e := newEnv(t)
	victim := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(victim, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	var arch bytes.Buffer
	tw := tar.NewWriter(&arch)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeSymlink, Name: "d", Linkname: victim, Mode: 0o777},
		{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o666},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\nADD evil.tar /\n", "evil.tar": arch.String()})
	if _, err := e.build(t, dir, nil); err != nil {
		t.Errorf("Build: %v", err)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode() != 0o600 {
		t.Errorf("host file %s: mode %v, %v; want -rw-------", victim, fi.Mode(), err)
	}
}

// TestSourceReadInScope (issue 14, finding 9): files of the pushed tree
// that paas reads itself — the Procfile, a custom buildpack's
// buildpack.toml — are read in the tree: a symlink to another file of the
// tree works, one that leads out of it is an error and nothing of the host
// file shows.
func TestSourceReadInScope(t *testing.T) {
	e := newEnv(t)
	host := t.TempDir()
	procfile := filepath.Join(host, "Procfile")
	bpToml := filepath.Join(host, "buildpack.toml")
	for p, body := range map[string]string{
		procfile: "hostsecret: cat /etc/shadow\n",
		bpToml:   "api = \"0.10\"\n[buildpack]\nid = \"hostsecret\"\nversion = \"1\"\n",
	} {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := func(dir, name, target string) string {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	t.Run("Procfile linked inside", func(t *testing.T) {
		dir := link(writeTree(t, map[string]string{"Dockerfile": "FROM busybox\n", "deploy/Procfile": "worker: sleep 1\n"}),
			"Procfile", "deploy/Procfile")
		res, err := e.build(t, dir, nil)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if diff := cmp.Diff(map[string]string{"web": "", "worker": "sleep 1"}, res.ProcessTypes); diff != "" {
			t.Errorf("process types (-want +got):\n%s", diff)
		}
	})
	for _, target := range []string{procfile, "../../../../../../../.." + procfile} {
		t.Run("Procfile linked out "+target[:3], func(t *testing.T) {
			dir := link(writeTree(t, map[string]string{"Dockerfile": "FROM busybox\n"}), "Procfile", target)
			res, err := e.build(t, dir, nil)
			want := "the Procfile is a symbolic link that leads out of the source"
			if !errors.Is(err, builder.ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Errorf("Build = %v, %v; want ErrInvalid: %s", res.ProcessTypes, err, want)
			}
		})
	}
	t.Run("Dockerfile linked out", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(host, "Dockerfile"), []byte("FROM busybox\nRUN echo hostsecret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := link(t.TempDir(), "Dockerfile", filepath.Join(host, "Dockerfile"))
		var out bytes.Buffer
		_, err := e.build(t, dir, &out)
		if want := "Dockerfile: no such file in the build context"; !errors.Is(err, builder.ErrInvalid) || err.Error() != want || strings.Contains(out.String(), "hostsecret") {
			t.Errorf("Build = %v, want ErrInvalid %q and no step of the host file", err, want)
		}
	})
	t.Run("buildpack.toml linked out", func(t *testing.T) {
		bp := link(writeTree(t, map[string]string{"bin/detect": "#!/bin/sh\n", "bin/build": "#!/bin/sh\n"}), "buildpack.toml", bpToml)
		var out bytes.Buffer
		_, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: t.TempDir(), Buildpacks: []string{bp}, Output: &out})
		if !errors.Is(err, builder.ErrInvalid) || !strings.Contains(err.Error(), "buildpack.toml") || strings.Contains(err.Error()+out.String(), "hostsecret") {
			t.Errorf("Build = %v; want ErrInvalid about buildpack.toml, not naming what the host file holds; output:\n%s", err, out.String())
		}
	})
}

// TestBaseImageOfAnotherApp (issue 14, suspected finding): a Dockerfile
// may start from, or copy from, its own app's images, the stacks and
// registry images, never another app's build ("paas/<other>:…"), however
// the name is spelled.
func TestBaseImageOfAnotherApp(t *testing.T) {
	e := newEnv(t)
	blog, err := e.b.Build(context.Background(), builder.Request{App: "blog", Tag: "v1",
		Dir: writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo blog-secret > /secret\n"})})
	if err != nil {
		t.Fatal(err)
	}
	shop, err := e.b.Build(context.Background(), builder.Request{App: "shop", Tag: "v1",
		Dir: writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo shop > /mine\n"})})
	if err != nil {
		t.Fatal(err)
	}
	const rule = "belongs to another app: a build may use the stacks, its own app's images (paas/shop) and registry images"
	tests := []struct {
		dockerfile string
		wantErr    bool
	}{
		{"FROM " + blog.Image + "\n", true},
		{"FROM docker.io/" + blog.Image + "\n", true},
		{"FROM index.docker.io/" + blog.Image + "\n", true},
		{"FROM paas/blog@" + blog.Digest.String() + "\n", true},
		{"ARG APP=blog\nFROM paas/${APP}:v1\n", true},
		{"FROM busybox\nCOPY --from=" + blog.Image + " /secret /secret\n", true},
		{"FROM " + shop.Image + "\nRUN cat /mine\n", false},
		{"FROM busybox\nCOPY --from=" + shop.Image + " /mine /mine\n", false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.dockerfile, "\n", ";"), func(t *testing.T) {
			var out bytes.Buffer
			_, err := e.b.Build(context.Background(), builder.Request{App: "shop", Tag: "v2", Output: &out,
				Dir: writeTree(t, map[string]string{"Dockerfile": tt.dockerfile})})
			if !tt.wantErr {
				if err != nil {
					t.Errorf("Build = %v, want success; output:\n%s", err, out.String())
				}
				return
			}
			if !errors.Is(err, builder.ErrInvalid) || !strings.Contains(err.Error(), rule) {
				t.Errorf("Build = %v, want ErrInvalid: %s; output:\n%s", err, rule, out.String())
			}
		})
	}
}
