package gitreceive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

// TestPushDeploys: a push of main reaches the deploy step with the tree as
// a tar, its output streams back in order with the "remote:" prefix, and the
// ref moves only after the deploy succeeded.
func TestPushDeploys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	e.commit(wt, "first", map[string]string{
		"Procfile":       "web: bin/server\n",
		"bin/server":     "#!/bin/sh\nexec busybox httpd -f\n",
		"src/app/app.go": "package app\n",
	})
	if err := os.Chmod(filepath.Join(wt, "bin/server"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin/server", filepath.Join(wt, "start")); err != nil {
		t.Fatal(err)
	}
	rev := e.commit(wt, "exec and symlink", nil)

	e.ctl.deploy = func(ctx context.Context, req DeployRequest, _ map[string]tarEntry) error {
		// The ref has not moved yet.
		if got := e.refOnDisk("shop", "refs/heads/main"); got != "" {
			t.Errorf("during deploy, refs/heads/main = %q, want absent", got)
		}
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(req.Output, "step %d of 3\n", i)
		}
		return nil
	}
	out := e.mustGit(wt, key, "push", "paas", "main")

	want := []string{"-----> Building " + rev[:7], "step 1 of 3", "step 2 of 3", "step 3 of 3", "-----> Released v1"}
	if diff := cmp.Diff(want, remoteLines(out)); diff != "" {
		t.Errorf("remote lines of git push (-want +got):\n%s\nfull output:\n%s", diff, out)
	}
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != rev {
		t.Errorf("ls-remote refs/heads/main = %q, want %q", got, rev)
	}
	calls := e.ctl.calls()
	if len(calls) != 1 {
		t.Fatalf("%d deploys, want 1", len(calls))
	}
	if got, want := [3]string{calls[0].App, calls[0].User, calls[0].Rev}, [3]string{"shop", "alice", rev}; got != want {
		t.Errorf("deploy (app, user, rev) = %v, want %v", got, want)
	}
	wantFiles := map[string]tarEntry{
		"Procfile":       {Type: tar.TypeReg, Mode: 0o644, Body: "web: bin/server\n"},
		"bin/":           {Type: tar.TypeDir, Mode: 0o755},
		"bin/server":     {Type: tar.TypeReg, Mode: 0o755, Body: "#!/bin/sh\nexec busybox httpd -f\n"},
		"src/":           {Type: tar.TypeDir, Mode: 0o755},
		"src/app/":       {Type: tar.TypeDir, Mode: 0o755},
		"src/app/app.go": {Type: tar.TypeReg, Mode: 0o644, Body: "package app\n"},
		"start":          {Type: tar.TypeSymlink, Mode: 0o777, Link: "bin/server"},
	}
	if diff := cmp.Diff(wantFiles, calls[0].Files); diff != "" {
		t.Errorf("deployed tar (-want +got):\n%s", diff)
	}

	// A clone checks out what was deployed.
	clone := filepath.Join(e.dir, "clone")
	e.mustGit(e.dir, key, "clone", "-q", e.url("shop"), clone)
	if got := strings.TrimSpace(e.mustGit(clone, "", "rev-parse", "HEAD")); got != rev {
		t.Errorf("clone HEAD = %s, want %s", got, rev)
	}
}

func (e *env) refOnDisk(app, ref string) string {
	b, err := os.ReadFile(filepath.Join(e.opts.ReposDir, app+".git", ref))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// TestFailedDeploy: a failed deploy rejects the push, leaves the old commit
// as the ref and the objects of the push are gone again.
func TestFailedDeploy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	good := e.commit(wt, "good", map[string]string{"index.html": "v1\n"})
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	before := e.diskFiles()

	bad := e.commit(wt, "bad", map[string]string{"index.html": "v2\n"})
	e.ctl.deploy = func(ctx context.Context, req DeployRequest, files map[string]tarEntry) error {
		if files["index.html"].Body != "v2\n" {
			t.Errorf("deployed index.html = %q, want v2", files["index.html"].Body)
		}
		fmt.Fprintln(req.Output, "-----> Health check failed")
		return controller.Errorf(controller.ErrInvalid, "web.1 did not become healthy in 30s")
	}
	out, err := e.git(wt, key, "push", "paas", "main")
	if err == nil {
		t.Fatalf("git push of a failing deploy succeeded:\n%s", out)
	}
	for _, want := range []string{"remote: -----> Health check failed", "remote:  !     web.1 did not become healthy in 30s", "! [remote rejected] main -> main (deploy failed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("git push output lacks %q:\n%s", want, out)
		}
	}
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != good {
		t.Errorf("after a failed deploy, ls-remote main = %s, want the old %s (the failed one was %s)", got, good, bad)
	}
	// Quarantine: the rejected push left nothing (ls-remote only reads).
	after := e.diskFiles()
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("repository changed by a rejected push (-before +after):\n%s", diff)
	}

	// A deploy error of no known kind is not shown; the status still is.
	e.ctl.deploy = func(context.Context, DeployRequest, map[string]tarEntry) error {
		return io.ErrUnexpectedEOF
	}
	out, err = e.git(wt, key, "push", "paas", "main")
	if err == nil || !strings.Contains(out, "the deploy failed; the server log has the details") || strings.Contains(out, "unexpected EOF") {
		t.Errorf("git push with an internal deploy error: err %v, output:\n%s", err, out)
	}

	// Fixed: the same commit now deploys.
	e.ctl.deploy = nil
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != bad {
		t.Errorf("after a good deploy, ls-remote main = %s, want %s", got, bad)
	}
}
