package gitreceive

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// TestConcurrentPushes: two pushes to one app never deploy at once (the
// second waits, with a message, and then meets the first one's ref); pushes
// to two apps deploy side by side.
func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	e.addApp("blog", "alice")
	a := e.worktree("a", "shop")
	b := e.worktree("b", "shop")
	c := e.worktree("c", "blog")
	e.commit(a, "a", map[string]string{"who": "a\n"})
	e.commit(b, "b", map[string]string{"who": "b\n"})
	e.commit(c, "c", map[string]string{"who": "c\n"})

	started := make(chan string, 3)
	release := make(chan struct{})
	e.ctl.deploy = func(ctx context.Context, req DeployRequest, files map[string]tarEntry) error {
		started <- req.App
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	type result struct {
		out string
		err error
	}
	results := make([]result, 3)
	var wg sync.WaitGroup
	push := func(i int, dir string) {
		defer wg.Done()
		out, err := e.git(dir, key, "push", "paas", "main")
		results[i] = result{out, err}
	}
	wg.Add(1)
	go push(0, a)
	<-started // a deploys shop
	wg.Add(2)
	go push(1, b)
	go push(2, c)
	select {
	case app := <-started:
		if app != "blog" {
			t.Errorf("while shop deploys, %s started deploying; want only blog", app)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blog did not deploy while shop did")
	}
	// b waits for a: give it time to show it does not deploy.
	time.Sleep(500 * time.Millisecond)
	close(release)
	wg.Wait()

	if results[0].err != nil || results[2].err != nil {
		t.Errorf("pushes a and c failed: %v %v\n%s\n%s", results[0].err, results[2].err, results[0].out, results[2].out)
	}
	if !strings.Contains(results[1].out, "paas: another push to shop is in progress; waiting for it to finish...") {
		t.Errorf("second push to shop did not say it waits:\n%s", results[1].out)
	}
	// When b's turn came, main held a's commit, which b's does not contain.
	if results[1].err == nil || !strings.Contains(results[1].out, "[rejected]") {
		t.Errorf("second push to shop: err %v, want git's non-fast-forward rejection:\n%s", results[1].err, results[1].out)
	}
	e.ctl.mu.Lock()
	maxApp, maxAll := e.ctl.maxApp, e.ctl.maxAll
	e.ctl.mu.Unlock()
	if maxApp != 1 || maxAll != 2 {
		t.Errorf("most deploys at once: %d of one app, %d in all; want 1 and 2", maxApp, maxAll)
	}
}

// TestLockTimeout: a push that waits longer than LockTimeout gives up with
// a message.
func TestLockTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.LockTimeout = time.Second })
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	a := e.worktree("a", "shop")
	e.commit(a, "a", nil)
	unlock, ok := e.srv.locks.TryLock("shop")
	if !ok {
		t.Fatal("TryLock failed")
	}
	defer unlock()
	out, err := e.git(a, key, "push", "paas", "main")
	if err == nil || !strings.Contains(out, "paas: gave up waiting after 1s for the push to shop before yours") {
		t.Errorf("push to a locked app: err %v, output:\n%s", err, out)
	}
}

// TestCancel: killing git push cancels the deploy, and the ref stays.
func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	e.commit(wt, "a", nil)
	started, cancelled := make(chan struct{}), make(chan struct{})
	e.ctl.deploy = func(ctx context.Context, req DeployRequest, _ map[string]tarEntry) error {
		close(started)
		select {
		case <-ctx.Done():
			close(cancelled)
			return ctx.Err()
		case <-time.After(time.Minute):
			return nil
		}
	}
	cmd := exec.Command("git", "push", "paas", "main")
	cmd.Dir, cmd.Env = wt, e.environ(key)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the whole group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the deploy was not cancelled 10s after Ctrl-C on git push")
	}
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != "" {
		t.Errorf("after a cancelled push, main = %s, want absent", got)
	}
}

// TestMaxPushBytes: a push over the limit is refused, with a message, and
// leaves nothing behind.
func TestMaxPushBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxPushBytes = 256 << 10 })
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	e.commit(wt, "small", map[string]string{"a": "1\n"})
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	before := e.diskFiles()
	big := make([]byte, 1<<20)
	rand.Read(big)
	e.commit(wt, "big", map[string]string{"big.bin": string(big)})
	out, err := e.git(wt, key, "push", "paas", "main")
	if err == nil || !strings.Contains(out, "remote:  !     This push is larger than the server's limit of 256.0 KiB.") {
		t.Errorf("oversized push: err %v, output:\n%s", err, out)
	}
	t.Logf("output of an oversized push:\n%s", out)
	if diff := cmpStrings(before, e.diskFiles()); diff != "" {
		t.Errorf("oversized push changed the repository:\n%s", diff)
	}
	if n := len(e.ctl.calls()); n != 1 {
		t.Errorf("%d deploys, want 1", n)
	}
}

// TestCloneAndFetch: a collaborator clones, then fetches a later push
// (negotiating with history on both sides).
func TestCloneAndFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	alice := e.newKey("alice", "alice")
	bob := e.newKey("bob", "bob")
	e.addApp("shop", "alice", "bob")
	wt := e.worktree("shop", "shop")
	for i := range 5 {
		e.commit(wt, fmt.Sprint(i), map[string]string{"n": fmt.Sprint(i)})
	}
	e.mustGit(wt, alice, "push", "-q", "paas", "main")
	clone := filepath.Join(e.dir, "bobs")
	e.mustGit(e.dir, bob, "clone", "-q", e.url("shop"), clone)
	// Bob's local work makes git send several rounds of "have" lines.
	for i := range 40 {
		e.commit(clone, fmt.Sprint("bob ", i), map[string]string{"bob": fmt.Sprint(i)})
	}
	for i := range 5 {
		e.commit(wt, fmt.Sprint(i), map[string]string{"m": fmt.Sprint(i)})
	}
	rev := e.commit(wt, "last", nil)
	e.mustGit(wt, alice, "push", "-q", "paas", "main")
	out := e.mustGit(clone, bob, "fetch", "origin")
	if strings.Contains(out, "no common commits") {
		t.Errorf("fetch found no common commits:\n%s", out)
	}
	if got := strings.TrimSpace(e.mustGit(clone, "", "rev-parse", "origin/main")); got != rev {
		t.Errorf("after fetch, origin/main = %s, want %s", got, rev)
	}
	e.mustGit(clone, "", "rebase", "-q", "origin/main")
	// Bob pushes from his clone.
	e.commit(clone, "bob's", map[string]string{"bob": "yes\n"})
	e.mustGit(clone, bob, "push", "-q", "origin", "main")
	if calls := e.ctl.calls(); calls[len(calls)-1].User != "bob" {
		t.Errorf("last deploy by %s, want bob", calls[len(calls)-1].User)
	}
}

// TestHostKeyPersists: the host key is made once, mode 0600, and a restart
// keeps it, so known_hosts stays valid.
func TestHostKeyPersists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	fp := e.srv.HostKeyFingerprint()
	fi, err := os.Stat(e.opts.HostKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode = %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(e.opts.HostKeyFile)
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil || signer.PublicKey().Type() != gossh.KeyAlgoED25519 {
		t.Fatalf("host key file: %v, type %v; want an ed25519 key", err, signer)
	}
	oldKnown := e.knownOK

	e.stop()
	e.start()
	if got := e.srv.HostKeyFingerprint(); got != fp {
		t.Errorf("after restart, host key %s, want %s", got, fp)
	}
	// The known_hosts written before the restart (for the old port, so
	// rewrite only the port) still verifies the server.
	old, _ := os.ReadFile(oldKnown)
	line := strings.SplitN(strings.TrimSpace(string(old)), " ", 2)[1]
	host := e.addr[:strings.LastIndex(e.addr, ":")]
	port := e.addr[strings.LastIndex(e.addr, ":")+1:]
	if err := os.WriteFile(e.knownOK, []byte(fmt.Sprintf("[%s]:%s %s\n", host, port, line)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := e.git(e.dir, key, "ls-remote", e.url("shop")); err != nil {
		t.Errorf("ls-remote after restart with the old known_hosts: %v\n%s", err, out)
	}
}

func cmpStrings(a, b []string) string {
	if strings.Join(a, "\n") == strings.Join(b, "\n") {
		return ""
	}
	return fmt.Sprintf("before:\n%s\nafter:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
}

// TestShallowPush: a push from a shallow clone of this server deploys (its
// history is cut at commits the server has); one cut at a commit the
// server lacks is refused with a hint.
func TestShallowPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	e.addApp("other", "alice")
	wt := e.worktree("shop", "shop")
	for i := range 3 {
		e.commit(wt, fmt.Sprint(i), map[string]string{"n": fmt.Sprint(i)})
	}
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	shallow := filepath.Join(e.dir, "shallow")
	e.mustGit(e.dir, key, "clone", "-q", "--depth", "1", e.url("shop"), shallow)
	rev := e.commit(shallow, "from a shallow clone", map[string]string{"n": "shallow"})
	e.mustGit(shallow, key, "push", "-q", "origin", "main")
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != rev {
		t.Errorf("after a push from a shallow clone, main = %s, want %s", got, rev)
	}

	// The same shallow history pushed to an empty app would leave it cut.
	before := e.diskFiles()
	out, err := e.git(shallow, key, "push", e.url("other"), "main")
	if err == nil || !strings.Contains(out, "(shallow clone: run git fetch --unshallow, then push again)") {
		t.Errorf("shallow push to an empty app: err %v, output:\n%s", err, out)
	}
	if diff := cmpStrings(before, e.diskFiles()); diff != "" {
		// The refused push may create other.git lazily, but stores no objects.
		for _, l := range e.diskFiles() {
			if strings.HasPrefix(l, "other.git/objects/pack/pack-") {
				t.Errorf("refused shallow push stored %s", l)
			}
		}
	}
}

// TestKeepalive: a deploy that prints nothing for longer than the idle
// timeout does not lose the connection.
func TestKeepalive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 600 * time.Millisecond })
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	rev := e.commit(wt, "a", nil)
	e.ctl.deploy = func(ctx context.Context, _ DeployRequest, _ map[string]tarEntry) error {
		select {
		case <-time.After(2 * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	if got := e.remoteRef(key, "shop", "refs/heads/main"); got != rev {
		t.Errorf("main = %s, want %s", got, rev)
	}
}

// TestShutdown: stopping the server cancels a deploy in progress, and
// Serve returns once its handler did.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	e.commit(wt, "a", nil)
	started, cancelled := make(chan struct{}), make(chan struct{})
	e.ctl.deploy = func(ctx context.Context, _ DeployRequest, _ map[string]tarEntry) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}
	pushed := make(chan error, 1)
	go func() {
		_, err := e.git(wt, key, "push", "paas", "main")
		pushed <- err
	}()
	<-started
	t0 := time.Now()
	e.stop()
	select {
	case <-cancelled:
	default:
		t.Error("Serve returned before the deploy was cancelled")
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if err := <-pushed; err == nil {
		t.Error("git push succeeded through a shutdown")
	}
	if got := e.refOnDisk("shop", "refs/heads/main"); got != "" {
		t.Errorf("after shutdown, main = %s, want absent", got)
	}
}

// TestCreateRemoveRepo: CreateRepo makes an empty bare repository whose
// HEAD names main; RemoveRepo waits for a push in progress, then deletes it.
func TestCreateRemoveRepo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := e.srv.CreateRepo("../etc"); err == nil {
		t.Error("CreateRepo(../etc) = nil, want an error")
	}
	if err := e.srv.CreateRepo("shop"); err != nil {
		t.Fatalf("CreateRepo(shop) = %v", err)
	}
	if err := e.srv.CreateRepo("shop"); err != nil {
		t.Errorf("CreateRepo(shop) again = %v, want nil", err)
	}
	dir := filepath.Join(e.opts.ReposDir, "shop.git")
	if head, err := os.ReadFile(filepath.Join(dir, "HEAD")); err != nil || string(head) != "ref: refs/heads/main\n" {
		t.Errorf("HEAD = %q, %v; want ref: refs/heads/main", head, err)
	}
	if out, err := exec.Command("git", "-C", dir, "rev-parse", "--is-bare-repository").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "true" {
		t.Errorf("git rev-parse --is-bare-repository = %q, %v", out, err)
	}

	unlock, _ := e.srv.locks.TryLock("shop")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.RemoveRepo(ctx, "shop"); err == nil {
		t.Error("RemoveRepo during a push = nil, want an error after its ctx ended")
	}
	unlock()
	if err := e.srv.RemoveRepo(context.Background(), "shop"); err != nil {
		t.Fatalf("RemoveRepo(shop) = %v", err)
	}
	if entries, _ := os.ReadDir(e.opts.ReposDir); len(entries) != 0 {
		t.Errorf("after RemoveRepo, ReposDir holds %v, want nothing", entries)
	}
}
