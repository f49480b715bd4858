package cnb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// epoch is the modification time of every file in an exported layer, so
// that the same files always make the same layer (as the CNB lifecycle
// does).
var epoch = time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)

// owner is a numeric user and group; nil means "keep the source's".
type owner struct{ uid, gid int }

// installFS copies the tree fsys into dir, owned by root: directories 0755,
// files 0755 under bin/ or when the source is executable, else 0644.
func installFS(fsys fs.FS, dir string) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if strings.HasPrefix(p, "bin/") || info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		src, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		return writeFile(target, src, mode)
	})
}

func writeFile(target string, r io.Reader, mode fs.FileMode) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Chmod(target, mode) // not narrowed by the umask
}

// copyTree copies the directory src into dst (created if missing):
// directories, regular files and symlinks, with their modes. Ownership is
// own's, or the source's when own is nil. Names in skip (relative to src,
// slash-separated) are left out. Symlinks are copied as links, never
// followed.
func copyTree(src, dst string, own *owner, skip map[string]bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if skip[filepath.ToSlash(rel)] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		uid, gid := 0, 0
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
		if own != nil {
			uid, gid = own.uid, own.gid
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, mode.Perm()|mode&(fs.ModeSetgid|fs.ModeSticky)); err != nil {
				return err
			}
		case mode.IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			err = writeFile(target, f, mode.Perm())
			f.Close()
			if err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(target)
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		default:
			return nil // devices, sockets, pipes: not part of an app or a layer
		}
		return os.Lchown(target, uid, gid)
	})
}

// settle gives dir, everything under it and the directories from root down
// to it the fixed modification time.
func settle(root, dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return lutimes(p)
	})
	if err != nil {
		return err
	}
	for d := filepath.Dir(dir); len(d) > len(root); d = filepath.Dir(d) {
		if err := lutimes(d); err != nil {
			return err
		}
	}
	return nil
}

func lutimes(p string) error {
	tv := unix.NsecToTimeval(epoch.UnixNano())
	return unix.Lutimes(p, []unix.Timeval{tv, tv})
}

// mkdirs makes the directory p under root and its missing parents, owned
// by own (root if nil), mode 0755.
func mkdirs(root, p string, own *owner) error {
	cur := root
	for _, part := range strings.Split(strings.Trim(path.Clean(p), "/"), "/") {
		cur = filepath.Join(cur, part)
		if fi, err := os.Lstat(cur); err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Mkdir(cur, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(cur, 0o755); err != nil {
			return err
		}
		if own != nil {
			if err := os.Lchown(cur, own.uid, own.gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// hashTree hashes what an exported layer of dir would hold: names, types,
// modes, owners, file contents and link targets (not times).
func hashTree(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		uid, gid := uint32(0), uint32(0)
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			uid, gid = st.Uid, st.Gid
		}
		fmt.Fprintf(h, "%q %v %d:%d", filepath.ToSlash(rel), info.Mode(), uid, gid)
		switch {
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " %d ", info.Size())
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " -> %q", link)
		}
		h.Write([]byte{'\n'})
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func isDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// errEscape is a path in a container's tree that goes through a symlink:
// followed on the host, it could lead out of the tree.
var errEscape = errors.New("goes through a symbolic link")

// inRoot returns the host path of the container path p under root, after
// checking that no component of it is a symlink. Files that build
// containers wrote are read only through it.
func inRoot(root, p string) (string, error) {
	cur := root
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s %w", p, errEscape)
		}
	}
	return cur, nil
}

// readRegular reads the regular file at container path p under root.
func readRegular(root, p string) ([]byte, error) {
	hp, err := inRoot(root, p)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(hp)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return os.ReadFile(hp)
}
