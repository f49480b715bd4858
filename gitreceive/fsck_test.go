package gitreceive

import (
	"bytes"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// treeEntry is one entry of a raw git tree: mode, name and the object's
// hash (hex).
type treeEntry struct{ mode, name, hash string }

// gitStdin runs git in dir with stdin and returns its trimmed output.
func (e *env) gitStdin(dir string, stdin []byte, args ...string) string {
	e.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = e.environ("")
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// blob writes a blob and returns its hash.
func (e *env) blob(dir, body string) string {
	return e.gitStdin(dir, []byte(body), "hash-object", "-w", "--stdin")
}

// rawTree writes a tree object of exactly these entries, in this order —
// whatever git's own checks say — and returns its hash.
func (e *env) rawTree(dir string, entries ...treeEntry) string {
	e.t.Helper()
	var buf bytes.Buffer
	for _, en := range entries {
		h, err := hex.DecodeString(en.hash)
		if err != nil {
			e.t.Fatal(err)
		}
		buf.WriteString(en.mode + " " + en.name + "\x00")
		buf.Write(h)
	}
	return e.gitStdin(dir, buf.Bytes(), "hash-object", "-t", "tree", "--literally", "-w", "--stdin")
}

// TestPushRefusesBadTrees (issue 14, finding 1): a push whose trees git
// fsck refuses — two entries of one name (symlink x -> /etc/cron.d/x, then
// a file x), ".", "..", ".git" and its aliases, a "/" in a name — is
// rejected before any deploy: git shows why, the ref stays, no object
// stays on disk.
func TestPushRefusesBadTrees(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	first := e.commit(wt, "first", map[string]string{"index.html": "hi\n"})
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	deploys := len(e.ctl.calls())

	link := e.blob(wt, "/etc/cron.d/x")
	cron := e.blob(wt, "* * * * * root touch /pwned\n")
	sub := e.rawTree(wt, treeEntry{"100644", "config", cron})
	tests := []struct {
		name    string
		entries []treeEntry
		want    string // the remote's reason
	}{
		{"symlink then file of one name", []treeEntry{{"120000", "x", link}, {"100644", "x", cron}}, `"x" in "/" appears twice`},
		{"file then tree of one name", []treeEntry{{"100644", "x", cron}, {"40000", "x", sub}}, `"x" in "/" appears twice`},
		{"dot", []treeEntry{{"100644", ".", cron}}, `"." in "/" is a path element`},
		{"dot dot", []treeEntry{{"40000", "..", sub}}, `".." in "/" is a path element`},
		{".git", []treeEntry{{"40000", ".git", sub}}, `".git" in "/" is git's own directory`},
		{".GiT", []treeEntry{{"40000", ".GiT", sub}}, `".GiT" in "/" is git's own directory`},
		{".git with dots and spaces", []treeEntry{{"40000", ".git. .", sub}}, `".git. ." in "/" is git's own directory`},
		{"git~1", []treeEntry{{"40000", "GIT~1", sub}}, `"GIT~1" in "/" is git's own directory`},
		{".git with an HFS+ ignorable", []treeEntry{{"40000", ".g\u200cit", sub}}, `".g\u200cit" in "/" is git's own directory`},
		{"slash", []treeEntry{{"100644", "etc/passwd", cron}}, `"etc/passwd" in "/" has a "/" or a NUL`},
		{"nested duplicate", []treeEntry{{"40000", "app", e.rawTree(wt, treeEntry{"120000", "x", link}, treeEntry{"100644", "x", cron})}},
			`"x" in "/app/" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := e.rawTree(wt, tt.entries...)
			bad := e.gitStdin(wt, nil, "commit-tree", tree, "-p", first, "-m", tt.name)
			// The bad tree in history, under a clean tip, is refused too.
			clean := e.gitStdin(wt, nil, "commit-tree", e.rawTree(wt, treeEntry{"100644", "ok", cron}), "-p", bad, "-m", "clean")
			for _, tip := range []string{bad, clean} {
				before := e.diskFiles()
				out, err := e.git(wt, key, "push", "paas", tip+":refs/heads/main")
				if err == nil {
					t.Errorf("push of %s succeeded:\n%s", tip, out)
				}
				if !strings.Contains(out, "[remote rejected] "+tip+" -> main (invalid tree)") {
					t.Errorf("push of %s: no rejection for an invalid tree in:\n%s", tip, out)
				}
				if !strings.Contains(strings.Join(remoteLines(out), "\n"), "a tree git fsck refuses: "+tt.want) {
					t.Errorf("push of %s: no remote line with %q in:\n%s", tip, tt.want, out)
				}
				if got := e.remoteRef(key, "shop", "refs/heads/main"); got != first {
					t.Errorf("main = %s, want %s", got, first)
				}
				if diff := cmp.Diff(before, e.diskFiles()); diff != "" {
					t.Errorf("disk changed (-before +after):\n%s", diff)
				}
			}
		})
	}
	if n := len(e.ctl.calls()); n != deploys {
		t.Errorf("%d deploys, want %d (the first push's)", n, deploys)
	}
}
