package gitreceive

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRefused: whatever is not an allowed git command of an allowed user on
// an existing app gets a clear message, a non-zero exit, and changes nothing
// on disk.
func TestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	alice := e.newKey("alice", "alice")
	bob := e.newKey("bob", "bob")
	stranger := e.newKey("stranger", "")
	e.addApp("shop", "alice")
	e.addApp("blog", "bob")
	wt := e.worktree("shop", "shop")
	e.commit(wt, "first", map[string]string{"index.html": "hi\n"})
	e.mustGit(wt, alice, "push", "-q", "paas", "main")
	e.commit(wt, "second", map[string]string{"index.html": "hello\n"})

	tests := []struct {
		name string
		run  func() (string, error)
		want string // in the output
	}{
		{"unknown key push", func() (string, error) { return e.git(wt, stranger, "push", "paas", "main") },
			"is not registered; add yours with: paas keys:add"},
		{"unknown key ssh", func() (string, error) { return e.ssh(stranger, "git-receive-pack 'shop.git'") },
			"Permission denied"},
		{"no access push", func() (string, error) { return e.git(wt, bob, "push", "paas", "main") },
			"paas: bob may not push to shop"},
		{"no access clone", func() (string, error) { return e.git(e.dir, bob, "clone", e.url("shop"), "bobs-clone") },
			"paas: bob may not push to shop"},
		{"missing app", func() (string, error) { return e.git(wt, alice, "push", e.url("nope"), "main") },
			"paas: there is no app named nope"},
		{"rm -rf", func() (string, error) { return e.ssh(alice, "rm -rf /") },
			`paas: unsupported command "rm -rf /": this server only runs git push and git clone`},
		{"dot dot", func() (string, error) { return e.ssh(alice, "git-receive-pack '../etc.git'") },
			`paas: bad repository path "../etc.git"`},
		{"absolute elsewhere", func() (string, error) { return e.ssh(alice, "git-receive-pack '/etc/passwd'") },
			`paas: bad repository path "/etc/passwd"`},
		{"injection", func() (string, error) { return e.ssh(alice, "git-upload-pack 'shop.git'; touch /tmp/x") },
			"paas: bad repository path"},
		{"shell", func() (string, error) { return e.ssh(alice) },
			"paas: there is no shell here; deploy with: git push paas main"},
		{"shell with tty", func() (string, error) { return e.ssh(alice, "-tt") },
			"paas: there is no shell here"},
		{"subsystem", func() (string, error) { return e.ssh(alice, "-s", "sftp") },
			"subsystem request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.diskState()
			out, err := tt.run()
			if err == nil {
				t.Errorf("succeeded, want an error; output:\n%s", out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
			if diff := cmp.Diff(before, e.diskState()); diff != "" {
				t.Errorf("disk changed (-before +after):\n%s", diff)
			}
			t.Logf("output:\n%s", out)
		})
	}
	if n := len(e.ctl.calls()); n != 1 {
		t.Errorf("%d deploys, want only the first push's", n)
	}
}

// TestRefPolicy: only main (or master) deploys; other branches, tags and
// deleting main are refused with a hint; force pushes deploy; pushing the
// same commit again is a no-op.
func TestRefPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	first := e.commit(wt, "first", map[string]string{"a": "1\n"})
	e.mustGit(wt, key, "push", "-q", "paas", "main")

	second := e.commit(wt, "second", map[string]string{"a": "2\n"})
	refused := []struct {
		name string
		args []string
		want string
	}{
		{"other branch", []string{"push", "paas", "HEAD:refs/heads/feature"}, "[remote rejected] HEAD -> feature (only main deploys; push with: git push paas HEAD:main)"},
		{"tag", []string{"push", "paas", "HEAD:refs/tags/v1"}, "(only branch main can be pushed; push with: git push paas HEAD:main)"},
		{"delete main", []string{"push", "paas", ":main"}, "[remote rejected] main (deleting main is not allowed; it is what runs)"},
		{"main and master", []string{"push", "paas", "HEAD:main", "HEAD:master"}, "(push one of main and master at a time)"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := e.diskFiles()
			out, err := e.git(wt, key, tt.args...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("git %s: err %v, want an error and %q in:\n%s", strings.Join(tt.args, " "), err, tt.want, out)
			}
			if tt.name != "main and master" { // that one deploys main
				if diff := cmp.Diff(before, e.diskFiles()); diff != "" {
					t.Errorf("disk changed (-before +after):\n%s", diff)
				}
			}
		})
	}
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != second {
		t.Errorf("main = %s, want %s (from the main-and-master push)", got, second)
	}

	// Same commit again: "Everything up-to-date", no deploy.
	n := len(e.ctl.calls())
	out := e.mustGit(wt, key, "push", "paas", "main")
	if !strings.Contains(out, "Everything up-to-date") || len(e.ctl.calls()) != n {
		t.Errorf("second push of the same commit: %d deploys (want %d), output:\n%s", len(e.ctl.calls()), n, out)
	}

	// Rewritten history: a plain push is refused by git, a force push deploys.
	e.mustGit(wt, "", "reset", "-q", "--hard", first)
	rewritten := e.commit(wt, "rewritten", map[string]string{"a": "3\n"})
	if out, err := e.git(wt, key, "push", "paas", "main"); err == nil {
		t.Errorf("non-fast-forward push succeeded:\n%s", out)
	}
	e.mustGit(wt, key, "push", "-q", "--force", "paas", "main")
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != rewritten {
		t.Errorf("after force push, main = %s, want %s", got, rewritten)
	}
	calls := e.ctl.calls()
	if got := calls[len(calls)-1].Files["a"].Body; got != "3\n" {
		t.Errorf("force push deployed a = %q, want 3", got)
	}
}

// TestMaster: an app pushed as master deploys, and a clone checks it out.
func TestMaster(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	e.mustGit(wt, "", "checkout", "-q", "-b", "master")
	rev := e.commit(wt, "first", map[string]string{"a": "1\n"})
	e.mustGit(wt, key, "push", "-q", "paas", "master")
	clone := e.dir + "/clone"
	e.mustGit(e.dir, key, "clone", "-q", e.url("shop"), clone)
	if got := strings.TrimSpace(e.mustGit(clone, "", "rev-parse", "HEAD")); got != rev {
		t.Errorf("clone HEAD = %s, want %s", got, rev)
	}
}
