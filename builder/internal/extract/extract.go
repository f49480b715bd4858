// Package extract unpacks tar archives beneath a directory of the host.
// It is the one extractor for every archive a user can hand paas: a pushed
// source tree, a custom buildpack, a Dockerfile ADD.
//
// An archive is hostile. Every path is opened relative to the directory
// with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) — or, for an image's
// root, RESOLVE_IN_ROOT — so no entry is written, created, chmodded or
// chowned through a symbolic link, not even one an earlier entry of the
// same archive made, and nothing outside the directory is ever touched:
//
//   - a leading "/" is dropped (the entry lands beneath the directory); a
//     name with a ".." element is refused;
//   - an entry whose parent is a symlink or a file is refused (unless
//     Options.FollowInRoot, for an image's root, where it is resolved as
//     if the directory were "/");
//   - a file, symlink or link entry first removes what is at its name
//     (a directory there is refused), then creates its own with O_EXCL;
//   - modes and owners are set on the open file descriptor, or with
//     AT_SYMLINK_NOFOLLOW, as are the times of files and symlinks;
//   - a hard link must name an earlier file or symlink beneath the
//     directory, reached as the entries' parents are;
//   - devices, FIFOs and other special files are skipped.
//
// It needs Linux 5.6 or newer (openat2).
package extract

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// Options say how entries are written. The zero value keeps the archive's
// permission bits (with setuid, setgid and sticky) and leaves entries owned
// by the calling process.
type Options struct {
	// Mode, if not nil, gives the permission bits (and setuid, setgid,
	// sticky) of an entry from its header; if nil, the header's.
	Mode func(h *tar.Header) fs.FileMode
	// Owner, if not nil, owns every entry and every directory made for
	// one. If nil and KeepOwners, entries take the header's uid and gid;
	// otherwise they belong to the calling process.
	Owner      *Owner
	KeepOwners bool
	// Dest is the path beneath the directory the entries land under
	// (made like their parents); if empty, the directory itself.
	Dest string
	// FollowInRoot lets the parents of an entry (and Dest) be symlinks,
	// resolved as if the directory were "/" (openat2 RESOLVE_IN_ROOT):
	// for unpacking into an image, whose /bin may be a link to usr/bin.
	// Nothing outside the directory is reached either way, and an entry's
	// own name is never followed. If false, no symlink is followed at all.
	FollowInRoot bool
}

// Errors an archive is refused with, wrapped with the entry's name.
var (
	// ErrDotDot is a name or link target with a ".." element.
	ErrDotDot = errors.New(`has a ".." element`)
	// ErrThroughLink is a path that goes through a symbolic link or a
	// file.
	ErrThroughLink = errors.New("goes through a symbolic link or a file")
	// ErrReplaceDir is a non-directory entry whose name is a directory.
	ErrReplaceDir = errors.New("would replace a directory")
	// ErrBadLink is a hard link to something that is not an earlier file
	// or symlink of the directory.
	ErrBadLink = errors.New("links to something that is not a file beneath the directory")
)

// Path resolutions: strict never follows a symlink, magic link or "..",
// and never leaves the directory; inRoot follows symlinks as if the
// directory were "/", which cannot leave it either.
const (
	strict = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
)

// Tar unpacks the tar stream r into the directory dir, which must exist.
// On an error, what was unpacked so far stays.
func Tar(r io.Reader, dir string, opts Options) error {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(root)
	x := extractor{root: root, opts: opts, resolve: strict}
	if opts.FollowInRoot {
		x.resolve = inRoot
	}
	if x.dest, err = split(opts.Dest); err != nil {
		return fmt.Errorf("%s: %w", opts.Dest, err)
	}
	if len(x.dest) > 0 {
		fd, err := x.mkdirs(x.dest)
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Dest, err)
		}
		unix.Close(fd)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(h, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
}

type extractor struct {
	root    int
	opts    Options
	resolve uint64
	dest    []string // Options.Dest's elements
}

// split cleans an entry name into its elements: "" and "." elements and
// a leading "/" go, a ".." is refused. The directory itself is no
// elements.
func split(name string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(name, "/") {
		switch e {
		case "", ".":
		case "..":
			return nil, ErrDotDot
		default:
			out = append(out, e)
		}
	}
	return out, nil
}

func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	elems, err := split(h.Name)
	if err != nil {
		return err
	}
	if len(elems) == 0 {
		return nil // the directory itself: left as it is
	}
	elems = append(slices.Clip(x.dest), elems...)
	switch h.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink: // the reader makes TypeRegA TypeReg
	default:
		return nil // devices, FIFOs, sparse and unknown entries: skipped
	}
	parent, err := x.mkdirs(elems[:len(elems)-1])
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	base := elems[len(elems)-1]
	mode := headerMode(h)
	if x.opts.Mode != nil {
		mode = x.opts.Mode(h)
	}
	uid, gid, chown := x.owner(h)

	switch h.Typeflag {
	case tar.TypeDir:
		fd, err := x.dir(parent, base)
		if err != nil {
			return err
		}
		d := os.NewFile(uintptr(fd), base)
		defer d.Close()
		if chown {
			if err := d.Chown(uid, gid); err != nil {
				return err
			}
		}
		return d.Chmod(mode) // after chown, which clears setuid and setgid
	case tar.TypeReg:
		if err := x.clear(parent, base); err != nil {
			return err
		}
		fd, err := unix.Openat2(parent, base, &unix.OpenHow{
			Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Mode:  0o600, Resolve: x.resolve,
		})
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			return err
		}
		if chown {
			if err := f.Chown(uid, gid); err != nil {
				return err
			}
		}
		if err := f.Chmod(mode); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := x.clear(parent, base); err != nil {
			return err
		}
		if err := unix.Symlinkat(h.Linkname, parent, base); err != nil {
			return err
		}
		if chown {
			if err := unix.Fchownat(parent, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
	case tar.TypeLink:
		if err := x.link(h.Linkname, parent, base); err != nil {
			return err
		}
		return nil // the inode is the earlier entry's: its owner, mode and time stay
	}
	if !h.ModTime.IsZero() {
		ts := unix.NsecToTimespec(h.ModTime.UnixNano())
		if err := unix.UtimesNanoAt(parent, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

// headerMode is the permission bits, setuid, setgid and sticky of h.
func headerMode(h *tar.Header) fs.FileMode {
	m := fs.FileMode(h.Mode).Perm()
	if h.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// owner is who owns h's entry: chown false leaves the creator.
func (x *extractor) owner(h *tar.Header) (uid, gid int, chown bool) {
	switch {
	case x.opts.Owner != nil:
		return x.opts.Owner.UID, x.opts.Owner.GID, true
	case x.opts.KeepOwners:
		return h.Uid, h.Gid, true
	}
	return 0, 0, false
}

// open opens the directory p beneath dirfd. Its last element is followed
// if it is a symlink only when follow and FollowInRoot.
func (x *extractor) open(dirfd int, p string, follow bool) (int, error) {
	flags := uint64(unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC)
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(dirfd, p, &unix.OpenHow{Flags: flags, Resolve: x.resolve})
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
		return -1, ErrThroughLink
	}
	return fd, err
}

// mkdirs opens the directory elems beneath the root, making what is
// missing (mode 0755).
func (x *extractor) mkdirs(elems []string) (int, error) {
	if fd, err := x.open(x.root, "./"+path.Join(elems...), true); !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	fd, err := unix.Dup(x.root)
	if err != nil {
		return -1, err
	}
	for i, e := range elems {
		// Each prefix from the root, so that FollowInRoot resolves an
		// absolute symlink against the root, not the directory it is in.
		sub := "./" + path.Join(elems[:i+1]...)
		next, err := x.open(x.root, sub, true)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, e, 0o755); err == nil {
				next, err = x.open(fd, e, false)
				if err == nil && x.opts.Owner != nil {
					err = unix.Fchown(next, x.opts.Owner.UID, x.opts.Owner.GID)
				}
				if err == nil {
					err = unix.Fchmod(next, 0o755) // not narrowed by the umask
				}
			} else if errors.Is(err, unix.EEXIST) { // made meanwhile, or a dangling link
				next, err = x.open(x.root, sub, true)
			}
		}
		unix.Close(fd)
		if err != nil {
			if next >= 0 {
				unix.Close(next)
			}
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// dir makes (or keeps) the directory base in parent and opens it. A
// symlink or file at base is replaced.
func (x *extractor) dir(parent int, base string) (int, error) {
	err := unix.Mkdirat(parent, base, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return -1, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := unix.Unlinkat(parent, base, 0); err != nil {
				return -1, err
			}
			err = unix.Mkdirat(parent, base, 0o700)
		} else {
			err = nil
		}
	}
	if err != nil {
		return -1, err
	}
	return x.open(parent, base, false)
}

// clear removes what is at base in parent, unless it is a directory.
func (x *extractor) clear(parent int, base string) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return ErrReplaceDir
	}
	return unix.Unlinkat(parent, base, 0)
}

// link makes base in parent a hard link to target, a name beneath the
// root.
func (x *extractor) link(target string, parent int, base string) error {
	elems, err := split(target)
	if err != nil {
		return fmt.Errorf("link to %s: %w", target, err)
	}
	if len(elems) == 0 {
		return ErrBadLink
	}
	elems = append(slices.Clip(x.dest), elems...)
	tparent, err := x.open(x.root, "./"+path.Join(elems[:len(elems)-1]...), true)
	if err != nil {
		return fmt.Errorf("link to %s: %w", target, ErrBadLink)
	}
	defer unix.Close(tparent)
	tbase := elems[len(elems)-1]
	var st unix.Stat_t
	if err := unix.Fstatat(tparent, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("link to %s: %w", target, ErrBadLink)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFLNK {
		return fmt.Errorf("link to %s: %w", target, ErrBadLink)
	}
	if err := x.clear(parent, base); err != nil {
		return err
	}
	return unix.Linkat(tparent, tbase, parent, base, 0) // 0: a symlink is linked, not followed
}
