package repo

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// WriteTar writes the tree of commit rev to w as a tar stream: directories
// 0755, files 0644 or 0755 (git's executable bit), symlinks as tar symlinks,
// submodules left out. Every entry carries the commit's time and root
// ownership, so one tree always gives the same bytes.
func (r *Repo) WriteTar(ctx context.Context, w io.Writer, rev plumbing.Hash) error {
	commit, err := object.GetCommit(r.st, rev)
	if err != nil {
		return fmt.Errorf("commit %s: %w", rev, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("tree of %s: %w", rev, err)
	}
	mtime := commit.Committer.When
	tw := tar.NewWriter(w)
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, entry, err := walker.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("walk tree of %s: %w", rev, err)
		}
		hdr := &tar.Header{Name: name, ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		switch entry.Mode {
		case filemode.Dir:
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			blob, err := object.GetBlob(r.st, entry.Hash)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, blob.Size
			if entry.Mode == filemode.Executable {
				hdr.Mode = 0o755
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if err := copyBlob(tw, blob); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		case filemode.Symlink:
			blob, err := object.GetBlob(r.st, entry.Hash)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			target, err := readBlob(blob, 4096)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			hdr.Typeflag, hdr.Mode, hdr.Linkname = tar.TypeSymlink, 0o777, string(target)
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case filemode.Submodule:
			// A commit of another repository: nothing here to build from.
		default:
			return fmt.Errorf("%s: unsupported file mode %s", path.Clean(name), entry.Mode)
		}
	}
	return tw.Close()
}

func copyBlob(w io.Writer, b *object.Blob) error {
	rc, err := b.Reader()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err == nil && n != b.Size {
		err = fmt.Errorf("blob %s: read %d bytes of %d", b.Hash, n, b.Size)
	}
	return err
}

func readBlob(b *object.Blob, max int64) ([]byte, error) {
	if b.Size > max {
		return nil, fmt.Errorf("symlink target longer than %d bytes", max)
	}
	rc, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, max))
}
