package dockerfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/moby/sys/symlink"

	"paas/builder/internal/extract"
)

// source is a tree files are copied from: the build context (with its
// .dockerignore) or another stage's root filesystem.
type source struct {
	root   string
	ignore *patternmatcher.PatternMatcher // nil: nothing ignored
}

// readIgnore reads dir/.dockerignore, if there is one, in dir: a symlink
// may lead to another file of the context, and one that leads out of it is
// an error.
func readIgnore(dir string) (*patternmatcher.PatternMatcher, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(".dockerignore")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		if fi, lerr := root.Lstat(".dockerignore"); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, errors.New("a symbolic link that leads out of the build context")
		}
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return pm, nil
}

// ignored reports whether rel (slash-separated, relative to the root) is
// left out of the context.
func (s source) ignored(rel string) bool {
	if s.ignore == nil || rel == "." || rel == "" {
		return false
	}
	m, err := s.ignore.MatchesOrParentMatches(filepath.FromSlash(rel))
	return err == nil && m
}

// match resolves one COPY source (a path or a glob, relative to the root)
// to the relative paths it names. A path that does not exist, or that
// .dockerignore leaves out, is an error.
func (s source) match(src string) ([]string, error) {
	clean := path.Clean("/" + filepath.ToSlash(src))
	rel := strings.TrimPrefix(clean, "/")
	if rel == "" {
		rel = "."
	}
	if !strings.ContainsAny(rel, "*?[") {
		if s.ignored(rel) {
			return nil, fmt.Errorf("%s: excluded by .dockerignore", src)
		}
		if _, err := s.resolve(rel); err != nil {
			return nil, err
		}
		return []string{rel}, nil
	}
	// Matched in the context: a symlinked directory that leads out of it
	// is not listed (its host names would show in errors).
	root, err := os.OpenRoot(s.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	matches, err := fs.Glob(root.FS(), rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	var out []string
	for _, r := range matches {
		if !s.ignored(r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no files match", src)
	}
	sort.Strings(out)
	return out, nil
}

// resolve returns the host path of rel, following symlinks without leaving
// the root, and checks that it exists.
func (s source) resolve(rel string) (string, error) {
	p, err := symlink.FollowSymlinkInScope(filepath.Join(s.root, filepath.FromSlash(rel)), s.root)
	if err != nil {
		return "", fmt.Errorf("%s: %w", rel, err)
	}
	if _, err := os.Lstat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: no such file or directory", rel)
		}
		return "", err
	}
	return p, nil
}

// walk calls fn for rel and, if it is a directory, everything under it that
// is not ignored, in lexical order. sub is the path relative to rel ("" for
// rel itself).
func (s source) walk(rel string, fn func(sub, hostPath string, fi fs.FileInfo) error) error {
	top, err := s.resolve(rel)
	if err != nil {
		return err
	}
	return filepath.Walk(top, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		sub, err := filepath.Rel(top, p)
		if err != nil {
			return err
		}
		sub = filepath.ToSlash(sub)
		if sub == "." {
			sub = ""
		}
		if sub != "" && s.ignored(path.Join(rel, sub)) {
			if fi.IsDir() && !s.ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		return fn(sub, p, fi)
	})
}

// digest hashes the names, modes, link targets and contents (not the
// times) of what the sources name, for the step cache.
func (s source) digest(h hash.Hash, rels []string) error {
	for _, rel := range rels {
		fmt.Fprintf(h, "src %q\n", rel)
		err := s.walk(rel, func(sub, p string, fi fs.FileInfo) error {
			fmt.Fprintf(h, "%q %o", sub, fi.Mode())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, " -> %q", target)
			case fi.Mode().IsRegular():
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				fh := sha256.New()
				_, err = io.Copy(fh, f)
				f.Close()
				if err != nil {
					return err
				}
				fmt.Fprintf(h, " %s", hex.EncodeToString(fh.Sum(nil)))
			}
			fmt.Fprintln(h)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// owner is a --chown value resolved to numbers; nil keeps the source's.
type owner struct{ uid, gid int }

// parseChown resolves user[:group] against root's /etc/passwd and
// /etc/group.
func parseChown(root, spec string) (*owner, error) {
	if spec == "" {
		return nil, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, ugid, err := lookupID(root, "/etc/passwd", u)
	if err != nil {
		return nil, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	gid := ugid
	if hasGroup {
		if gid, _, err = lookupID(root, "/etc/group", g); err != nil {
			return nil, fmt.Errorf("--chown=%s: %w", spec, err)
		}
	} else if _, err := strconv.Atoi(u); err == nil {
		gid = uid
	}
	return &owner{uid: uid, gid: gid}, nil
}

// lookupID finds name in a passwd or group file under root and returns its
// id and (for passwd) primary group; numbers pass through.
func lookupID(root, file, name string) (id, gid int, err error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, n, nil
	}
	p, err := symlink.FollowSymlinkInScope(filepath.Join(root, file), root)
	if err != nil {
		return 0, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, fmt.Errorf("no %s in the image to look up %q", file, name)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) < 3 || parts[0] != name {
			continue
		}
		id, err := strconv.Atoi(parts[2])
		if err != nil {
			return 0, 0, fmt.Errorf("%s: bad id for %q", file, name)
		}
		gid := id
		if len(parts) > 3 {
			if g, err := strconv.Atoi(parts[3]); err == nil {
				gid = g
			}
		}
		return id, gid, nil
	}
	return 0, 0, fmt.Errorf("%q not found in %s", name, file)
}

// copier writes into a root filesystem without ever following a symlink
// out of it.
type copier struct {
	root      string
	owner     *owner
	mode      *fs.FileMode // --chmod
	keepOwner bool         // without --chown, keep the source's owner (COPY --from); else root
}

// hostPath resolves p (absolute, inside the image) to a host path under
// the root, following symlinks in its directories within the root. The
// last element is not followed.
func (c copier) hostPath(p string) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return c.root, nil
	}
	dir, err := symlink.FollowSymlinkInScope(filepath.Join(c.root, filepath.FromSlash(path.Dir(p))), c.root)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, path.Base(p)), nil
}

// mkdirAll makes the directory p (inside the image) and its parents.
func (c copier) mkdirAll(p string) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return c.root, nil
	}
	parent, err := c.mkdirAll(path.Dir(p))
	if err != nil {
		return "", err
	}
	hp := filepath.Join(parent, path.Base(p))
	fi, err := os.Lstat(hp)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		hp, err = symlink.FollowSymlinkInScope(hp, c.root)
		if err != nil {
			return "", err
		}
		return c.mkdirAll(strings.TrimPrefix(hp, c.root))
	case err == nil && fi.IsDir():
		return hp, nil
	case err == nil:
		return "", fmt.Errorf("%s is not a directory", p)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(hp, 0o755); err != nil {
			return "", err
		}
		return hp, c.chown(hp)
	default:
		return "", err
	}
}

func (c copier) chown(hp string) error {
	if c.owner == nil {
		return nil
	}
	return os.Lchown(hp, c.owner.uid, c.owner.gid)
}

// isDir reports whether p (inside the image) is an existing directory.
func (c copier) isDir(p string) bool {
	hp, err := symlink.FollowSymlinkInScope(filepath.Join(c.root, filepath.FromSlash(p)), c.root)
	if err != nil {
		return false
	}
	fi, err := os.Stat(hp)
	return err == nil && fi.IsDir()
}

// copyTree copies rel from src to dest the way COPY does: a directory's
// contents go into dest; a file goes to dest, or into it when destDir.
func (c copier) copyTree(src source, rel, dest string, destDir bool) error {
	top, err := src.resolve(rel)
	if err != nil {
		return err
	}
	fi, err := os.Stat(top)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		target := dest
		if destDir {
			target = path.Join(dest, path.Base(rel))
		}
		if _, err := c.mkdirAll(path.Dir(target)); err != nil {
			return err
		}
		return c.copyOne(top, fi, target)
	}
	if _, err := c.mkdirAll(dest); err != nil {
		return err
	}
	return src.walk(rel, func(sub, p string, fi fs.FileInfo) error {
		if sub == "" {
			return nil
		}
		return c.copyOne(p, fi, path.Join(dest, sub))
	})
}

// copyOne copies one file, directory or symlink to target.
func (c copier) copyOne(hostSrc string, fi fs.FileInfo, target string) error {
	hp, err := c.hostPath(target)
	if err != nil {
		return err
	}
	mode := fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if c.mode != nil {
		mode = *c.mode
	}
	switch {
	case fi.IsDir():
		if old, err := os.Lstat(hp); err == nil && !old.IsDir() {
			if err := os.Remove(hp); err != nil {
				return err
			}
		}
		if err := os.Mkdir(hp, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := os.Chmod(hp, mode); err != nil {
			return err
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(hostSrc)
		if err != nil {
			return err
		}
		if err := removeNonDir(hp); err != nil {
			return err
		}
		if err := os.Symlink(link, hp); err != nil {
			return err
		}
	case fi.Mode().IsRegular():
		if err := removeNonDir(hp); err != nil {
			return err
		}
		in, err := os.Open(hostSrc)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(hp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		if err := os.Chmod(hp, mode); err != nil {
			return err
		}
	default:
		return nil // devices, sockets and pipes are not copied
	}
	if c.owner != nil {
		return os.Lchown(hp, c.owner.uid, c.owner.gid)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && c.keepOwner {
		return os.Lchown(hp, int(st.Uid), int(st.Gid))
	}
	return nil
}

func removeNonDir(hp string) error {
	fi, err := os.Lstat(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("cannot overwrite directory %s with a file", hp)
	}
	return os.Remove(hp)
}

// isArchive reports whether the file at p is a tar archive, plain or
// gzip-compressed, which ADD unpacks.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false
		}
		gz, err := gzip.NewReader(f)
		if err != nil {
			return false
		}
		n, _ = io.ReadFull(gz, head[:cap(head)])
		head = head[:n]
	}
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

// extract unpacks the tar archive at hostSrc into the directory dest (in
// the image) with the one extractor.
func (c copier) extract(hostSrc, dest string) error {
	f, err := os.Open(hostSrc)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if peek, _ := r.(*bufio.Reader).Peek(2); bytes.Equal(peek, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		r = gz
	}
	// The image's own symlinks (/bin -> usr/bin) lead the way as they
	// would inside it; none leaves its root, and none the archive makes
	// is written through.
	opts := extract.Options{KeepOwners: true, Dest: dest, FollowInRoot: true}
	if c.owner != nil {
		opts.Owner = &extract.Owner{UID: c.owner.uid, GID: c.owner.gid}
	}
	return extract.Tar(r, c.root, opts)
}
