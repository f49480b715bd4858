package extract

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/internal/testenv"
)

// entry is one tar entry of a test archive. Body is a file's content.
type entry struct {
	Type byte
	Name string
	Link string
	Mode int64
	Body string
	UID  int
}

func file(name, body string) entry {
	return entry{Type: tar.TypeReg, Name: name, Body: body, Mode: 0o644}
}
func dir(name string, mode int64) entry {
	return entry{Type: tar.TypeDir, Name: name, Mode: mode}
}
func symlink(name, target string) entry {
	return entry{Type: tar.TypeSymlink, Name: name, Link: target, Mode: 0o777}
}
func hardlink(name, target string) entry { return entry{Type: tar.TypeLink, Name: name, Link: target} }

func archive(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Typeflag: e.Type, Name: e.Name, Linkname: e.Link, Mode: e.Mode, Size: int64(len(e.Body)),
			Uid: e.UID, Gid: e.UID, ModTime: time.Unix(1600000000, 0), Format: tar.FormatPAX}
		if e.Type != tar.TypeReg {
			h.Size = 0
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
	return &buf
}

// listing describes every path under dir: type, mode, and content or link
// target.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		s := fmt.Sprintf("%s %v", filepath.ToSlash(rel), fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			s += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			s += " " + string(b)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestTar: hostile archives never touch anything outside the directory.
// Each case runs against a fresh directory next to a "victim" directory
// holding a file (mode 0600, "secret"), which must stay as it is.
func TestTar(t *testing.T) {
	tests := []struct {
		name    string
		entries func(victim string) []entry
		wantErr error    // nil: success
		want    []string // the directory afterwards
	}{
		{
			name:    "symlink then file of the same name",
			entries: func(v string) []entry { return []entry{symlink("x", v+"/secret"), file("x", "pwned")} },
			want:    []string{"x -rw-r--r-- pwned"},
		},
		{
			name: "symlink then file of the same name in a subdirectory",
			entries: func(v string) []entry {
				return []entry{dir("a/", 0o755), symlink("a/x", v+"/secret"), file("a/x", "pwned")}
			},
			want: []string{"a drwxr-xr-x", "a/x -rw-r--r-- pwned"},
		},
		{
			name:    "symlink parent directory",
			entries: func(v string) []entry { return []entry{symlink("d", v), file("d/secret", "pwned")} },
			wantErr: ErrThroughLink,
			want:    []string{"d Lrwxrwxrwx -> VICTIM"},
		},
		{
			name:    "relative symlink parent directory",
			entries: func(v string) []entry { return []entry{symlink("d", "../victim"), file("d/new", "pwned")} },
			wantErr: ErrThroughLink,
			want:    []string{"d Lrwxrwxrwx -> ../victim"},
		},
		{
			name:    "symlink then directory of the same name",
			entries: func(v string) []entry { return []entry{symlink("d", v), dir("d/", 0o777)} },
			want:    []string{"d drwxrwxrwx"},
		},
		{
			name:    "symlink then directory chmod of a file",
			entries: func(v string) []entry { return []entry{symlink("k", v+"/secret"), dir("k", 0o666)} },
			want:    []string{"k drw-rw-rw-"},
		},
		{
			name:    "dot dot",
			entries: func(v string) []entry { return []entry{file("../victim/secret", "pwned")} },
			wantErr: ErrDotDot,
		},
		{
			name:    "dot dot inside",
			entries: func(v string) []entry { return []entry{file("a/../../victim/new", "pwned")} },
			wantErr: ErrDotDot,
		},
		{
			name:    "absolute name lands beneath",
			entries: func(v string) []entry { return []entry{file(v+"/secret", "pwned")} },
			want:    []string{"ROOTED/secret -rw-r--r-- pwned"},
		},
		{
			name:    "hard link to outside by dot dot",
			entries: func(v string) []entry { return []entry{hardlink("l", "../victim/secret")} },
			wantErr: ErrDotDot,
		},
		{
			name:    "hard link to an absolute outside name",
			entries: func(v string) []entry { return []entry{hardlink("l", v+"/secret")} },
			wantErr: ErrBadLink,
		},
		{
			name: "hard link through a symlink",
			entries: func(v string) []entry {
				return []entry{symlink("s", v), hardlink("l", "s/secret"), file("l", "pwned")}
			},
			wantErr: ErrBadLink,
			want:    []string{"s Lrwxrwxrwx -> VICTIM"},
		},
		{
			name: "hard link to a symlink is a link, not its target",
			entries: func(v string) []entry {
				return []entry{symlink("s", v+"/secret"), hardlink("l", "s")}
			},
			want: []string{"l Lrwxrwxrwx -> VICTIM/secret", "s Lrwxrwxrwx -> VICTIM/secret"},
		},
		{
			name: "hard link inside, then overwritten",
			entries: func(v string) []entry {
				return []entry{file("a", "one"), hardlink("b", "a"), file("b", "two")}
			},
			want: []string{"a -rw-r--r-- one", "b -rw-r--r-- two"},
		},
		{
			name:    "hard link to a directory",
			entries: func(v string) []entry { return []entry{dir("d/", 0o755), hardlink("l", "d")} },
			wantErr: ErrBadLink,
			want:    []string{"d drwxr-xr-x"},
		},
		{
			name:    "file over a directory",
			entries: func(v string) []entry { return []entry{dir("d/", 0o755), file("d", "x")} },
			wantErr: ErrReplaceDir,
			want:    []string{"d drwxr-xr-x"},
		},
		{
			name: "device nodes and FIFOs are skipped",
			entries: func(v string) []entry {
				return []entry{{Type: tar.TypeChar, Name: "null", Mode: 0o666}, {Type: tar.TypeBlock, Name: "sda", Mode: 0o666},
					{Type: tar.TypeFifo, Name: "fifo", Mode: 0o666}, file("ok", "1")}
			},
			want: []string{"ok -rw-r--r-- 1"},
		},
		{
			name: "modes, setuid and implied parents",
			entries: func(v string) []entry {
				return []entry{{Type: tar.TypeReg, Name: "./bin/tool", Mode: 0o4755, Body: "#!"}, dir("tmp/", 0o1777), symlink("bin/l", "tool")}
			},
			want: []string{"bin drwxr-xr-x", "bin/l Lrwxrwxrwx -> tool", "bin/tool urwxr-xr-x #!", "tmp dtrwxrwxrwx"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			victim := filepath.Join(base, "victim")
			root := filepath.Join(base, "root")
			for _, d := range []string{victim, root} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			secret := filepath.Join(victim, "secret")
			if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Tar(archive(t, tt.entries(victim)...), root, Options{})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Tar = %v, want %v", err, tt.wantErr)
			}
			var want []string
			for _, w := range tt.want {
				if rest, ok := strings.CutPrefix(w, "ROOTED/"); ok {
					// The victim's path, made again beneath the root.
					rel := strings.TrimPrefix(filepath.ToSlash(victim), "/")
					parts := strings.Split(rel, "/")
					for i := range parts {
						want = append(want, strings.Join(parts[:i+1], "/")+" drwxr-xr-x")
					}
					w = rel + "/" + rest
				}
				want = append(want, strings.ReplaceAll(w, "VICTIM", victim))
			}
			sort.Strings(want)
			got := listing(t, root)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("directory (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"secret -rw------- secret"}, listing(t, victim)); diff != "" {
				t.Errorf("victim directory changed (-want +got):\n%s", diff)
			}
			fi, err := os.Stat(victim)
			if err != nil || fi.Mode() != fs.ModeDir|0o755 {
				t.Errorf("victim directory: %v, %v; want drwxr-xr-x", fi.Mode(), err)
			}
		})
	}
}

// TestTarOwners: Owner wins, KeepOwners takes the header's, and a symlink
// is chowned itself, never its target.
func TestTarOwners(t *testing.T) {
	testenv.Root(t)
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries := []entry{
		{Type: tar.TypeReg, Name: "a/f", Mode: 0o644, UID: 1234, Body: "x"},
		{Type: tar.TypeSymlink, Name: "l", Link: outside, Mode: 0o777, UID: 1234},
		{Type: tar.TypeDir, Name: "d", Mode: 0o755, UID: 1234},
	}
	tests := []struct {
		name string
		opts Options
		want map[string]int // path → uid (gid the same)
	}{
		{"process", Options{}, map[string]int{"a": 0, "a/f": 0, "l": 0, "d": 0}},
		{"keep", Options{KeepOwners: true}, map[string]int{"a": 0, "a/f": 1234, "l": 1234, "d": 1234}},
		{"owner", Options{Owner: &Owner{UID: 42, GID: 42}, KeepOwners: true}, map[string]int{"a": 42, "a/f": 42, "l": 42, "d": 42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(base, tt.name)
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := Tar(archive(t, entries...), root, tt.opts); err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for p := range tt.want {
				fi, err := os.Lstat(filepath.Join(root, p))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if st.Uid != st.Gid {
					t.Errorf("%s: uid %d, gid %d, want equal", p, st.Uid, st.Gid)
				}
				got[p] = int(st.Uid)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("owners (-want +got):\n%s", diff)
			}
			fi, _ := os.Lstat(outside)
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
				t.Errorf("outside file's owner is %d, want 0", st.Uid)
			}
		})
	}
}

// TestTarMode: Options.Mode replaces the header's mode.
func TestTarMode(t *testing.T) {
	root := t.TempDir()
	exec := func(h *tar.Header) fs.FileMode {
		if h.Typeflag == tar.TypeDir || h.Mode&0o111 != 0 {
			return 0o755
		}
		return 0o644
	}
	err := Tar(archive(t, entry{Type: tar.TypeReg, Name: "run", Mode: 0o4711, Body: "x"}, file("data", "y"), dir("d", 0o700)), root, Options{Mode: exec})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"d drwxr-xr-x", "data -rw-r--r-- y", "run -rwxr-xr-x x"}
	if diff := cmp.Diff(want, listing(t, root)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestTarFollowInRoot: unpacking into an image's root, parents may be the
// image's symlinks (/bin -> usr/bin, absolute ones too), resolved in the
// root; nothing outside it is reached, and an entry's own name is still
// never followed.
func TestTarFollowInRoot(t *testing.T) {
	tests := []struct {
		name    string
		dest    string
		entries func(victim string) []entry
		wantErr bool
		want    []string // added to the image's own entries
	}{
		{
			name:    "relative link parent",
			entries: func(v string) []entry { return []entry{file("bin/tool", "t")} },
			want:    []string{"usr/bin/tool -rw-r--r-- t"},
		},
		{
			name:    "absolute link parent stays in the root",
			entries: func(v string) []entry { return []entry{file("lib/x.so", "x")} },
			want:    []string{"usr/lib/x.so -rw-r--r-- x"},
		},
		{
			name:    "dest through a link",
			dest:    "/bin",
			entries: func(v string) []entry { return []entry{file("tool", "t"), hardlink("tool2", "tool")} },
			want:    []string{"usr/bin/tool -rw-r--r-- t", "usr/bin/tool2 -rw-r--r-- t"},
		},
		{
			// The link resolves to the victim's path in the root, which
			// is not there: an error, not a directory made through it.
			name:    "archive's own absolute link to the victim",
			entries: func(v string) []entry { return []entry{symlink("d", v), file("d/secret", "pwned")} },
			wantErr: true,
			want:    []string{"d Lrwxrwxrwx -> VICTIM"},
		},
		{
			name: "archive's own dot-dot link",
			entries: func(v string) []entry {
				return []entry{symlink("d", "../../../../../../../../.."+v), file("d/secret", "pwned")}
			},
			wantErr: true,
			want:    []string{"d Lrwxrwxrwx -> ../../../../../../../../..VICTIM"},
		},
		{
			name:    "symlink then file of the same name",
			entries: func(v string) []entry { return []entry{symlink("x", v+"/secret"), file("x", "pwned")} },
			want:    []string{"x -rw-r--r-- pwned"},
		},
		{
			name:    "symlink then directory of the same name",
			entries: func(v string) []entry { return []entry{symlink("x", v), dir("x", 0o777)} },
			want:    []string{"x drwxrwxrwx"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			victim := filepath.Join(base, "victim")
			root := filepath.Join(base, "root")
			for _, d := range []string{victim, root, root + "/usr/bin", root + "/usr/lib"} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("usr/bin", root+"/bin"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/usr/lib", root+"/lib"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(victim, "secret"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			image := listing(t, root)
			err := Tar(archive(t, tt.entries(victim)...), root, Options{FollowInRoot: true, Dest: tt.dest})
			if (err != nil) != tt.wantErr {
				t.Errorf("Tar = %v, want an error: %v", err, tt.wantErr)
			}
			want := append([]string(nil), image...)
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "VICTIM", victim))
			}
			sort.Strings(want)
			if diff := cmp.Diff(want, listing(t, root)); diff != "" {
				t.Errorf("image root (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"secret -rw------- secret"}, listing(t, victim)); diff != "" {
				t.Errorf("victim directory changed (-want +got):\n%s", diff)
			}
		})
	}
}
