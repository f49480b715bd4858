package gitreceive

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envLarge, set to 1, makes TestLargeRepo push the acceptance's full size:
// 50 MB in 1,000 commits instead of 10 MB in 300.
const envLarge = "PAAS_TEST_GITRECEIVE_LARGE"

// TestLargeRepo: a repository of many commits and megabytes of
// incompressible data pushes and deploys, clones back whole, and a force
// push of rewritten history deploys.
func TestLargeRepo(t *testing.T) {
	t.Parallel()
	commits, total := 300, 10<<20
	if os.Getenv(envLarge) == "1" {
		commits, total = 1000, 50<<20
	}
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("big", "alice")
	wt := e.worktree("big", "big")
	tip := fastImport(t, e, wt, commits, total)

	e.ctl.deploy = func(ctx context.Context, req DeployRequest, files map[string]tarEntry) error {
		if len(files) < commits/10 {
			t.Errorf("deployed tree has %d entries, want at least %d", len(files), commits/10)
		}
		return nil
	}
	t0 := time.Now()
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	pushTime := time.Since(t0)
	if got := e.remoteRef(key, "big", "refs/heads/main"); got != tip {
		t.Fatalf("after push, main = %s, want %s", got, tip)
	}
	t.Logf("push of %d commits, %d MB: %v (server: %s)", commits, total>>20, pushTime, pushLog(e.logs.String()))

	clone := filepath.Join(e.dir, "clone")
	t0 = time.Now()
	e.mustGit(e.dir, key, "clone", "-q", e.url("big"), clone)
	t.Logf("clone: %v", time.Since(t0))
	if got := strings.TrimSpace(e.mustGit(clone, "", "rev-list", "--count", "HEAD")); got != strconv.Itoa(commits) {
		t.Errorf("clone has %s commits, want %d", got, commits)
	}
	if out := e.mustGit(clone, "", "fsck", "--no-progress"); strings.Contains(out, "missing") {
		t.Errorf("git fsck of the clone:\n%s", out)
	}

	// Rewrite the last half of history and force push.
	mid := strings.TrimSpace(e.mustGit(wt, "", "rev-parse", fmt.Sprintf("HEAD~%d", commits/2)))
	e.mustGit(wt, "", "reset", "-q", "--hard", mid)
	rewritten := e.commit(wt, "rewritten", map[string]string{"REWRITTEN": "yes\n"})
	e.mustGit(wt, key, "push", "-q", "--force", "paas", "main")
	if got := e.remoteRef(key, "big", "refs/heads/main"); got != rewritten {
		t.Errorf("after force push, main = %s, want %s", got, rewritten)
	}
	calls := e.ctl.calls()
	if last := calls[len(calls)-1]; last.Rev != rewritten || last.Files["REWRITTEN"].Body != "yes\n" {
		t.Errorf("force push deployed %s, want %s with REWRITTEN", last.Rev, rewritten)
	}
}

// fastImport fills wt with commits touching files of random bytes, total
// bytes in all, and checks out the tip, which it returns.
func fastImport(t testing.TB, e *env, wt string, commits, total int) string {
	t.Helper()
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env = wt, e.environ("")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(stdin)
	rng := rand.NewChaCha8([32]byte{1})
	per := total / commits
	buf := make([]byte, per)
	for i := 1; i <= commits; i++ {
		rng.Read(buf)
		fmt.Fprintf(w, "blob\nmark :%d\ndata %d\n", 2*i, len(buf))
		w.Write(buf)
		msg := fmt.Sprintf("commit %d", i)
		fmt.Fprintf(w, "\ncommit refs/heads/main\nmark :%d\ncommitter Tess Ter <tess@example.com> %d +0000\ndata %d\n%s\n",
			2*i+1, 1700000000+i, len(msg), msg)
		if i > 1 {
			fmt.Fprintf(w, "from :%d\n", 2*i-1)
		}
		fmt.Fprintf(w, "M 100644 :%d data/%03d/file-%d.bin\n", 2*i, i%100, i)
		fmt.Fprintf(w, "M 100644 inline README\ndata %d\n%s\n\n", len(msg), msg)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	e.mustGit(wt, "", "checkout", "-q", "-f", "main")
	return strings.TrimSpace(e.mustGit(wt, "", "rev-parse", "HEAD"))
}

// pushLog picks the timings of the last push from the server's log.
func pushLog(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "msg=push ") {
			var keep []string
			for _, f := range strings.Fields(lines[i]) {
				for _, k := range []string{"pack_bytes=", "receive=", "deploy=", "update="} {
					if strings.HasPrefix(f, k) {
						keep = append(keep, f)
					}
				}
			}
			return strings.Join(keep, " ")
		}
	}
	return "no push logged"
}
