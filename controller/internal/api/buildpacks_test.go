package api

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

// testBuildpackArchive makes a tar archive of a buildpack directory, its
// files under dir/ (or at the root if dir is ""), gzipped if gz.
func testBuildpackArchive(t *testing.T, dir string, gz bool, skip ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, data string }{
		{"buildpack.toml", "api = \"0.10\"\n[buildpack]\nid = \"test/x\"\nversion = \"1\"\n"},
		{"bin/detect", "#!/bin/sh\nexit 0\n"},
		{"bin/build", "#!/bin/sh\necho built\n"},
	} {
		if len(skip) > 0 && skip[0] == f.name {
			continue
		}
		name := f.name
		if dir != "" {
			name = dir + "/" + name
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.data))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !gz {
		return buf.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(buf.Bytes())
	zw.Close()
	return z.Bytes()
}

// withEntries is testBuildpackArchive's tar with more entries (empty)
// after its files.
func withEntries(t *testing.T, more ...tar.Header) []byte {
	t.Helper()
	valid := testBuildpackArchive(t, "", false)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(valid))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range more {
		h.Mode = 0o755
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckBuildpack(t *testing.T) {
	tests := []struct {
		name    string
		nb      controller.NewBuildpack
		wantErr string
	}{
		{name: "tar", nb: controller.NewBuildpack{Name: "x", Archive: testBuildpackArchive(t, "", false)}},
		{name: "gzipped, in a directory", nb: controller.NewBuildpack{Name: "my-bp.v2", Archive: testBuildpackArchive(t, "my-bp", true)}},
		{name: "bad name", nb: controller.NewBuildpack{Name: "../x", Archive: testBuildpackArchive(t, "", false)}, wantErr: "buildpack name"},
		{name: "empty", nb: controller.NewBuildpack{Name: "x"}, wantErr: "the archive is empty"},
		{name: "not tar", nb: controller.NewBuildpack{Name: "x", Archive: []byte("#!/bin/sh\n")}, wantErr: "not a tar archive"},
		{name: "no build", nb: controller.NewBuildpack{Name: "x", Archive: testBuildpackArchive(t, "", true, "bin/build")}, wantErr: "has no bin/build"},
		{name: "too big", nb: controller.NewBuildpack{Name: "x", Archive: make([]byte, controller.MaxBuildpackBytes+1)}, wantErr: "larger than"},
		{name: "symlink then file of one name", nb: controller.NewBuildpack{Name: "x", Archive: withEntries(t,
			tar.Header{Typeflag: tar.TypeSymlink, Name: "x", Linkname: "/etc/cron.d/x"},
			tar.Header{Typeflag: tar.TypeReg, Name: "./x"})}, wantErr: `"./x" appears twice in the archive`},
		{name: "through a symlink", nb: controller.NewBuildpack{Name: "x", Archive: withEntries(t,
			tar.Header{Typeflag: tar.TypeSymlink, Name: "etc", Linkname: "/etc"},
			tar.Header{Typeflag: tar.TypeReg, Name: "etc/cron.d/x"})}, wantErr: `"etc/cron.d/x" goes through the symbolic link "etc"`},
		{name: "symlink to a file of its own", nb: controller.NewBuildpack{Name: "x", Archive: withEntries(t,
			tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/compile", Linkname: "build"})}},
	}
	for _, tt := range tests {
		err := CheckBuildpack(tt.nb)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: CheckBuildpack = %v, want nil", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, controller.ErrInvalid)):
			t.Errorf("%s: CheckBuildpack = %v, want ErrInvalid saying %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestBuildpacksAPI adds, replaces, lists and removes an app's custom
// buildpacks through the API and checks the order builds get them in.
func TestBuildpacksAPI(t *testing.T) {
	e := newEnv(t)
	vars := e.fixture("owner")
	app, tok := vars["app"], e.tokens["owner"]
	post := func(name string, arch []byte) *controller.Buildpack {
		t.Helper()
		body, _ := json.Marshal(controller.NewBuildpack{Name: name, Archive: arch})
		w := e.do("POST", "/v1/apps/"+app+"/buildpacks", string(body), tok)
		if w.Code != http.StatusCreated {
			t.Fatalf("POST buildpack %s = %d %s", name, w.Code, w.Body.String())
		}
		var b controller.Buildpack
		json.Unmarshal(w.Body.Bytes(), &b)
		return &b
	}
	list := func() []string {
		t.Helper()
		w := e.do("GET", "/v1/apps/"+app+"/buildpacks", "", tok)
		var bs []controller.Buildpack
		if err := json.Unmarshal(w.Body.Bytes(), &bs); err != nil || w.Code != http.StatusOK {
			t.Fatalf("GET buildpacks = %d %s", w.Code, w.Body.String())
		}
		var out []string
		for _, b := range bs {
			if b.Size == 0 || len(b.SHA256) != 64 {
				t.Errorf("buildpack %s: size %d, sha256 %q", b.Name, b.Size, b.SHA256)
			}
			out = append(out, b.Name)
		}
		return out
	}
	one := testBuildpackArchive(t, "", false)
	two := testBuildpackArchive(t, "two", true)
	if b := post("one", one); b.Position != 2 { // the fixture's "mine" is first
		t.Errorf("new buildpack at position %d, want 2", b.Position)
	}
	post("two", two)
	if b := post("one", two); b.Position != 2 { // replaced in place
		t.Errorf("replaced buildpack at position %d, want 2", b.Position)
	}
	if diff := cmp.Diff([]string{"mine", "one", "two"}, list()); diff != "" {
		t.Errorf("buildpacks (-want +got):\n%s", diff)
	}
	if w := e.do("DELETE", "/v1/apps/"+app+"/buildpacks/mine", "", tok); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", w.Code, w.Body.String())
	}
	if w := e.do("DELETE", "/v1/apps/"+app+"/buildpacks/mine", "", tok); w.Code != http.StatusNotFound {
		t.Errorf("DELETE again = %d, want 404", w.Code)
	}
	if diff := cmp.Diff([]string{"one", "two"}, list()); diff != "" {
		t.Errorf("buildpacks after remove (-want +got):\n%s", diff)
	}
	archs, err := e.st.BuildpackArchives(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	if len(archs) != 2 || !bytes.Equal(archs[0], two) || !bytes.Equal(archs[1], two) {
		t.Errorf("BuildpackArchives: %d archives, not one's new and two's in order", len(archs))
	}
	bp := e.do("GET", "/v1/apps/"+app+"/buildpacks", "", tok)
	if b := post("three", one); b.Position != 3 {
		t.Errorf("after a remove, a new buildpack is at %d, want 3 (%s)", b.Position, bp.Body.String())
	}
}
