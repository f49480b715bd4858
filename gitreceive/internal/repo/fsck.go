package repo

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrBadTree is a pushed tree that git fsck refuses (and git itself never
// writes): its entries would be unpacked over one another or outside the
// tree.
var ErrBadTree = errors.New("a tree git fsck refuses")

// checkTrees checks every tree of the commits that moving a reference from
// old to new brings (walking back from new, stopping at old),
// as git's receive.fsckObjects would: no duplicate names, no ".", "..",
// ".git" (in any case, and its NTFS and HFS+ aliases), no empty name, no
// "/" or NUL in a name.
func (r *Repo) checkTrees(old, new plumbing.Hash) error {
	c, err := object.GetCommit(r.st, new)
	if err != nil {
		return err
	}
	var ignore []plumbing.Hash
	if !old.IsZero() {
		ignore = []plumbing.Hash{old}
	}
	seen := map[plumbing.Hash]bool{}
	iter := object.NewCommitPreorderIter(c, nil, ignore)
	defer iter.Close()
	return iter.ForEach(func(c *object.Commit) error {
		if err := r.checkTree(c.TreeHash, "", seen); err != nil {
			return fmt.Errorf("commit %s: %w", c.Hash.String()[:7], err)
		}
		return nil
	})
}

// checkTree checks the tree h (at dir in the commit) and its subtrees.
func (r *Repo) checkTree(h plumbing.Hash, dir string, seen map[plumbing.Hash]bool) error {
	if seen[h] {
		return nil
	}
	seen[h] = true
	t, err := object.GetTree(r.st, h)
	if err != nil {
		return fmt.Errorf("%w: tree %s at %q: %v", ErrBadTree, h.String()[:7], dir+"/", err)
	}
	names := make(map[string]bool, len(t.Entries))
	for _, e := range t.Entries {
		if reason := badName(e.Name); reason != "" {
			return fmt.Errorf("%w: %q in %q %s", ErrBadTree, e.Name, dir+"/", reason)
		}
		if names[e.Name] {
			return fmt.Errorf("%w: %q in %q appears twice", ErrBadTree, e.Name, dir+"/")
		}
		names[e.Name] = true
		if e.Mode == filemode.Dir {
			if err := r.checkTree(e.Hash, dir+"/"+e.Name, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// badName says what is wrong with a tree entry's name, or "".
func badName(n string) string {
	switch {
	case n == "":
		return "is empty"
	case strings.ContainsAny(n, "/\x00"):
		return `has a "/" or a NUL`
	case n == "." || n == "..":
		return "is a path element"
	case isDotGit(n):
		return "is git's own directory"
	}
	return ""
}

// isDotGit reports whether n names ".git" on some file system: in any
// case, followed by dots and spaces (NTFS), as the short name "git~1"
// (NTFS), or with code points HFS+ ignores — git's verify_path.
func isDotGit(n string) bool {
	n = strings.Map(func(r rune) rune {
		switch {
		case r >= 0x200c && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
			return -1
		}
		return r
	}, n)
	return strings.EqualFold(strings.TrimRight(n, ". "), ".git") || strings.EqualFold(n, "git~1")
}
