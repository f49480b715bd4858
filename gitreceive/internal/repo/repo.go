// Package repo keeps the bare git repositories of the apps, one directory
// <app>.git each, and serves git's wire protocol over them: receive-pack on
// go-git's plumbing (see receive.go), upload-pack by the system git, and the
// tar of a commit's tree that becomes a build's source.
package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrNotExist is returned by Open for an app with no repository.
var ErrNotExist = errors.New("repository does not exist")

// Store is the directory that holds the repositories. Names given to it
// must already be valid app names: it joins them into paths.
type Store struct {
	Dir string
}

// Path is where the repository of app lives.
func (s Store) Path(app string) string { return filepath.Join(s.Dir, app+".git") }

// Create makes an empty bare repository for app, whose HEAD names
// refs/heads/main. It is a no-op if one exists. The repository appears
// whole or not at all: it is made beside its final place and renamed.
func (s Store) Create(app string) error {
	final := s.Path(app)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.Dir, ".new-"+app+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := git.PlainInitWithOptions(tmp, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	}); err != nil {
		return fmt.Errorf("init repository: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(final); statErr == nil {
			return nil // made by someone else meanwhile
		}
		return err
	}
	return nil
}

// Remove deletes the repository of app, if any. It is renamed away first,
// so that no one opens a half-deleted repository.
func (s Store) Remove(app string) error {
	final := s.Path(app)
	if _, err := os.Stat(final); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	trash, err := os.MkdirTemp(s.Dir, ".old-"+app+"-")
	if err != nil {
		return err
	}
	if err := os.Rename(final, filepath.Join(trash, "repo")); err != nil {
		os.Remove(trash)
		return err
	}
	return os.RemoveAll(trash)
}

// Open opens the repository of app.
func (s Store) Open(app string) (*Repo, error) {
	dir := s.Path(app)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRUDefault(), filesystem.Options{})
	return &Repo{dir: dir, st: st}, nil
}

// Repo is one open bare repository. It is not safe for concurrent writers:
// callers serialize pushes per app (readers, such as upload-pack, may run
// alongside, because refs are replaced by rename).
type Repo struct {
	dir string
	st  *filesystem.Storage
}

// Dir is the repository's directory.
func (r *Repo) Dir() string { return r.dir }

// Close releases the repository's open files.
func (r *Repo) Close() error { return r.st.Close() }

// Ref returns the hash a reference points to, or the zero hash if there is
// no such reference.
func (r *Repo) Ref(name plumbing.ReferenceName) (plumbing.Hash, error) {
	ref, err := r.st.Reference(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, fmt.Errorf("%s is not a hash reference", name)
	}
	return ref.Hash(), nil
}

// setRef moves name from old to new (the zero hash: absent), failing if it
// does not point at old. The ref file is replaced by rename, as git does, so
// a concurrent reader never sees it half-written; go-git's own SetRef
// truncates the file in place. Callers hold the app's lock, which makes the
// check and the rename one step.
func (r *Repo) setRef(name plumbing.ReferenceName, old, new plumbing.Hash) error {
	if err := validRef(name); err != nil {
		return err
	}
	cur, err := r.Ref(name)
	if err != nil {
		return err
	}
	if cur != old {
		return fmt.Errorf("%s moved from %s to %s meanwhile", name, old, cur)
	}
	path := filepath.Join(r.dir, filepath.FromSlash(string(name)))
	if new.IsZero() {
		if err := r.st.RemoveReference(name); err != nil {
			return err
		}
		return nil
	}
	return writeFileAtomic(path, []byte(new.String()+"\n"))
}

// setHead points HEAD at branch.
func (r *Repo) setHead(branch plumbing.ReferenceName) error {
	return writeFileAtomic(filepath.Join(r.dir, "HEAD"), []byte("ref: "+string(branch)+"\n"))
}

// headTarget is the branch HEAD names.
func (r *Repo) headTarget() (plumbing.ReferenceName, error) {
	ref, err := r.st.Reference(plumbing.HEAD)
	if err != nil {
		return "", err
	}
	if ref.Type() != plumbing.SymbolicReference {
		return "", nil
	}
	return ref.Target(), nil
}

func validRef(name plumbing.ReferenceName) error {
	if !strings.HasPrefix(string(name), "refs/") {
		return fmt.Errorf("invalid reference name %q", string(name))
	}
	if err := name.Validate(); err != nil {
		return fmt.Errorf("invalid reference name %q: %w", string(name), err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// UploadPack serves git-upload-pack (clone, fetch, ls-remote) over stdin
// and stdout with the system git. go-git's upload-pack (probed with
// transport/file.ServeUploadPack and git 2.39) acknowledges no common
// commit, so every fetch re-sends the whole history ("warning: no common
// commits"), and a fetch whose client sends more than one batch of "have"
// lines (a clone with local commits) fails with "protocol error: bad line
// length character: PACK". Upload-pack only reads, so it may run beside a
// push.
func UploadPack(ctx context.Context, gitPath, dir string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, gitPath, "upload-pack", "--strict", "--", dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Dir = dir
	cmd.Env = gitEnv()
	// Stop copying the client's input once git is gone, even if the client
	// keeps the channel open.
	cmd.WaitDelay = 10 * time.Second
	return cmd.Run()
}

// gitEnv is this process's environment without git's own variables, which
// would redirect the command to another repository or configuration.
func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env, "GIT_CONFIG_NOSYSTEM=1")
}
