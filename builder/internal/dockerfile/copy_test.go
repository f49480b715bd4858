package dockerfile

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/internal/testenv"
)

// tree writes files (path → content; a value starting with "->" makes a
// symlink) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(data, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// list returns path → content (or "->target", or "dir") of a tree.
func list(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi fs.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "->" + l
		case fi.IsDir():
			out[rel] = "dir"
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCopy(t *testing.T) {
	ctxFiles := map[string]string{
		"a.txt":         "a",
		"b.txt":         "b",
		"dir/x":         "x",
		"dir/sub/y":     "y",
		"dir/link":      "->x",
		"skip.log":      "log",
		"keep/skip.log": "kept",
	}
	tests := []struct {
		name  string
		srcs  []string
		dest  string
		image map[string]string // the image's files before the copy
		want  map[string]string // the image's files after
	}{
		{"file to path", []string{"a.txt"}, "/app/renamed", nil,
			map[string]string{"app": "dir", "app/renamed": "a"}},
		{"file into dir", []string{"a.txt"}, "/app/", nil,
			map[string]string{"app": "dir", "app/a.txt": "a"}},
		{"file into existing dir", []string{"a.txt"}, "/app", map[string]string{"app/": ""},
			map[string]string{"app": "dir", "app/a.txt": "a"}},
		{"dir contents", []string{"dir"}, "/app", nil,
			map[string]string{"app": "dir", "app/x": "x", "app/sub": "dir", "app/sub/y": "y", "app/link": "->x"}},
		{"glob", []string{"*.txt"}, "/app/", nil,
			map[string]string{"app": "dir", "app/a.txt": "a", "app/b.txt": "b"}},
		{"whole context, ignored left out", []string{"."}, "/c/", nil,
			map[string]string{"c": "dir", "c/a.txt": "a", "c/b.txt": "b", "c/dir": "dir", "c/dir/x": "x",
				"c/dir/sub": "dir", "c/dir/sub/y": "y", "c/dir/link": "->x", "c/keep": "dir", "c/keep/skip.log": "kept"}},
		{"symlinked dest dir stays inside", []string{"a.txt"}, "/esc/", map[string]string{"esc": "->/../../../tmp"},
			map[string]string{"esc": "->/../../../tmp", "tmp": "dir", "tmp/a.txt": "a"}},
		{"overwrite a symlink, not its target", []string{"a.txt"}, "/etc/passwd", map[string]string{"etc/passwd": "->/secret", "secret": "s"},
			map[string]string{"etc": "dir", "etc/passwd": "a", "secret": "s"}},
	}
	ctxDir := tree(t, ctxFiles)
	if err := os.WriteFile(filepath.Join(ctxDir, ".dockerignore"), []byte("*.log\n!keep/*.log\n.dockerignore\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ignore, err := readIgnore(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	src := source{root: ctxDir, ignore: ignore}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tree(t, tt.image)
			c := copier{root: root}
			var rels []string
			for _, s := range tt.srcs {
				m, err := src.match(s)
				if err != nil {
					t.Fatal(err)
				}
				rels = append(rels, m...)
			}
			destDir := strings.HasSuffix(tt.dest, "/") || c.isDir(tt.dest)
			for _, rel := range rels {
				if err := c.copyTree(src, rel, tt.dest, destDir); err != nil {
					t.Fatalf("copy %s to %s: %v", rel, tt.dest, err)
				}
			}
			if diff := cmp.Diff(tt.want, list(t, root)); diff != "" {
				t.Errorf("COPY %v %s (-want +got):\n%s", tt.srcs, tt.dest, diff)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	dir := tree(t, map[string]string{"a.txt": "a", "secret": "s", "out": "->/etc", "pw": "->../../../../../../etc/passwd", ".dockerignore": "secret\n"})
	ignore, err := readIgnore(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := source{root: dir, ignore: ignore}
	tests := []struct {
		src, want string
	}{
		{"missing", "missing: no such file or directory"},
		{"secret", "secret: excluded by .dockerignore"},
		{"*.nope", "*.nope: no files match"},
		{"../../etc/passwd", "etc/passwd: no such file or directory"}, // stays in the context
		{"out/passwd", "out/passwd: no such file or directory"},       // a symlink cannot leave it
		{"pw", "pw: no such file or directory"},                       // nor a file's
		{"out/*", "out/*: no files match"},                            // nor list what is outside
		{"o*/p*", "o*/p*: no files match"},
	}
	for _, tt := range tests {
		_, err := src.match(tt.src)
		if err == nil || err.Error() != tt.want {
			t.Errorf("match(%q) = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestDigestIgnoresTimes(t *testing.T) {
	dir := tree(t, map[string]string{"a/x": "x", "a/y": "y"})
	src := source{root: dir}
	sum := func() string {
		h := sha256.New()
		if err := src.digest(h, []string{"a"}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	before := sum()
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a/x"), later, later); err != nil {
		t.Fatal(err)
	}
	if got := sum(); got != before {
		t.Errorf("digest changed with a file's mtime")
	}
	if err := os.Chmod(filepath.Join(dir, "a/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	afterMode := sum()
	if afterMode == before {
		t.Errorf("digest did not change with a file's mode")
	}
	if err := os.WriteFile(filepath.Join(dir, "a/y"), []byte("Y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := sum(); got == afterMode {
		t.Errorf("digest did not change with a file's content")
	}
}

func TestParseChown(t *testing.T) {
	root := tree(t, map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\nstaff:x:50:\n",
	})
	tests := []struct {
		spec string
		want *owner
		err  bool
	}{
		{"", nil, false},
		{"app", &owner{1000, 1001}, false},
		{"app:staff", &owner{1000, 50}, false},
		{"42", &owner{42, 42}, false},
		{"42:7", &owner{42, 7}, false},
		{"nobody", nil, true},
		{"app:nogroup", nil, true},
	}
	for _, tt := range tests {
		got, err := parseChown(root, tt.spec)
		if (err != nil) != tt.err || !cmp.Equal(got, tt.want, cmp.AllowUnexported(owner{})) {
			t.Errorf("parseChown(%q) = %v, %v, want %v (error: %v)", tt.spec, got, err, tt.want, tt.err)
		}
	}
}

// TestAddArchiveStaysInRoot (issue 14, finding 3): ADD of a tar whose entry
// d is a symlink to a host file and whose next entry is a directory d (or a
// file under d) changes nothing outside the image's root.
func TestAddArchiveStaysInRoot(t *testing.T) {
	testenv.Root(t) // the entries keep the archive's owners
	victim := filepath.Join(t.TempDir(), "secrets.key")
	tests := []struct {
		name    string
		entries []tar.Header
		wantErr bool
		want    map[string]string
	}{
		{"symlink then directory", []tar.Header{
			{Typeflag: tar.TypeSymlink, Name: "d", Linkname: victim, Mode: 0o777},
			{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o666},
		}, false, map[string]string{"app": "dir", "app/d": "dir"}},
		{"symlink then file", []tar.Header{
			{Typeflag: tar.TypeSymlink, Name: "d", Linkname: victim, Mode: 0o777},
			{Typeflag: tar.TypeReg, Name: "d", Mode: 0o666},
		}, false, map[string]string{"app": "dir", "app/d": ""}},
		{"file under a symlinked directory", []tar.Header{
			{Typeflag: tar.TypeSymlink, Name: "e", Linkname: filepath.Dir(victim), Mode: 0o777},
			{Typeflag: tar.TypeReg, Name: "e/secrets.key", Mode: 0o666},
		}, true, map[string]string{"app": "dir", "app/e": "->" + filepath.Dir(victim)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(victim, []byte("key"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(victim, 0o600); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tt.entries {
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			arch := filepath.Join(t.TempDir(), "evil.tar")
			if err := os.WriteFile(arch, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			err := copier{root: root}.extract(arch, "/app")
			if (err != nil) != tt.wantErr {
				t.Errorf("extract = %v, want an error: %v", err, tt.wantErr)
			}
			fi, err := os.Lstat(victim)
			if err != nil || fi.Mode() != 0o600 {
				t.Errorf("host file %s: mode %v, %v; want -rw-------", victim, fi.Mode(), err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "key" {
				t.Errorf("host file %s = %q, want %q", victim, b, "key")
			}
			if diff := cmp.Diff(tt.want, list(t, root)); diff != "" {
				t.Errorf("image root (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIgnoreFileInScope (issue 14, finding 9): a .dockerignore that is a
// symlink is read in the context: a link to a file of the context works,
// one that leads out of it is an error.
func TestIgnoreFileInScope(t *testing.T) {
	host := filepath.Join(t.TempDir(), "patterns")
	if err := os.WriteFile(host, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inside := tree(t, map[string]string{"secret": "s", "conf/ignore": "secret\n", ".dockerignore": "->conf/ignore"})
	ignore, err := readIgnore(inside)
	if err != nil {
		t.Fatalf("readIgnore(link inside) = %v", err)
	}
	if _, err := (source{root: inside, ignore: ignore}).match("secret"); err == nil || err.Error() != "secret: excluded by .dockerignore" {
		t.Errorf("match(secret) = %v, want it excluded", err)
	}
	for _, target := range []string{host, "../../../../../../../.." + host} {
		dir := tree(t, map[string]string{"secret": "s", ".dockerignore": "->" + target})
		pm, err := readIgnore(dir)
		if want := "a symbolic link that leads out of the build context"; err == nil || err.Error() != want {
			t.Errorf("readIgnore(link to %s) = %v, %v; want %q", target, pm, err, want)
		}
	}
}

// TestAddThroughImageLinks: ADD follows the image's own symlinks in its
// root as Docker does (/bin -> usr/bin on a merged-/usr image, absolute
// ones too), for the destination and for entries' parents.
func TestAddThroughImageLinks(t *testing.T) {
	testenv.Root(t)
	root := tree(t, map[string]string{"usr/bin/": "", "usr/lib/": "", "bin": "->usr/bin", "lib": "->/usr/lib"})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []tar.Header{
		{Typeflag: tar.TypeReg, Name: "bin/tool", Mode: 0o755},
		{Typeflag: tar.TypeReg, Name: "lib/x.so", Mode: 0o644},
	} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(arch, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c := copier{root: root}
	if err := c.extract(arch, "/"); err != nil {
		t.Fatalf("extract to /: %v", err)
	}
	if err := c.extract(arch, "/lib/sub"); err != nil {
		t.Fatalf("extract to /lib/sub: %v", err)
	}
	want := map[string]string{"bin": "->usr/bin", "lib": "->/usr/lib", "usr": "dir", "usr/bin": "dir", "usr/bin/tool": "",
		"usr/lib": "dir", "usr/lib/x.so": "", "usr/lib/sub": "dir", "usr/lib/sub/bin": "dir", "usr/lib/sub/bin/tool": "",
		"usr/lib/sub/lib": "dir", "usr/lib/sub/lib/x.so": ""}
	if diff := cmp.Diff(want, list(t, root)); diff != "" {
		t.Errorf("image root (-want +got):\n%s", diff)
	}
}
