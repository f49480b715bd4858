package gitreceive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"paas/controller"
)

// testController is the controller of the tests: keys, apps and access in
// maps, and a deploy step the test controls.
type testController struct {
	mu      sync.Mutex
	keys    map[string]string   // fingerprint → user
	access  map[string][]string // app → users who may push
	deploy  func(ctx context.Context, req DeployRequest, src map[string]tarEntry) error
	deploys []deployCall
	active  map[string]int // app → deploys running now
	maxApp  int            // most deploys of one app at once
	maxAll  int            // most deploys at once
}

type deployCall struct {
	App, User, Rev string
	Files          map[string]tarEntry
}

type tarEntry struct {
	Type byte
	Mode int64
	Link string
	Body string
}

func newTestController() *testController {
	return &testController{keys: map[string]string{}, access: map[string][]string{}, active: map[string]int{}}
}

func (c *testController) UserForKey(ctx context.Context, fp string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.keys[fp]; ok {
		return u, nil
	}
	return "", controller.Errorf(controller.ErrNotFound, "no such key")
}

func (c *testController) CanPush(ctx context.Context, user, app string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	users, ok := c.access[app]
	if !ok {
		return controller.Errorf(controller.ErrNotFound, "no app %s", app)
	}
	for _, u := range users {
		if u == user {
			return nil
		}
	}
	return controller.Errorf(controller.ErrForbidden, "no access")
}

func (c *testController) Deploy(ctx context.Context, req DeployRequest) (controller.Release, error) {
	c.mu.Lock()
	c.active[req.App]++
	all := 0
	for _, n := range c.active {
		all += n
	}
	c.maxApp = max(c.maxApp, c.active[req.App])
	c.maxAll = max(c.maxAll, all)
	deploy := c.deploy
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.active[req.App]--
		c.mu.Unlock()
	}()

	files, err := readTar(req.Source)
	if err != nil {
		return controller.Release{}, err
	}
	c.mu.Lock()
	c.deploys = append(c.deploys, deployCall{App: req.App, User: req.User, Rev: req.Rev, Files: files})
	n := len(c.deploys)
	c.mu.Unlock()
	fmt.Fprintf(req.Output, "-----> Building %s\n", req.Rev[:7])
	if deploy != nil {
		if err := deploy(ctx, req, files); err != nil {
			return controller.Release{}, err
		}
	}
	fmt.Fprintf(req.Output, "-----> Released v%d\n", n)
	return controller.Release{Version: n}, nil
}

func (c *testController) calls() []deployCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]deployCall(nil), c.deploys...)
}

func readTar(r io.Reader) (map[string]tarEntry, error) {
	files := map[string]tarEntry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		if len(body) > 100 {
			body = body[:100]
		}
		files[h.Name] = tarEntry{Type: h.Typeflag, Mode: h.Mode, Link: h.Linkname, Body: string(body)}
	}
}

// env is a running server with a test controller and a git client set up
// to reach it with real OpenSSH.
type env struct {
	t       testing.TB
	dir     string
	ctl     *testController
	srv     *Server
	opts    Options
	addr    string
	home    string
	stop    func()
	logs    *syncBuffer
	knownOK string // known_hosts that trusts the server
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func requireTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"git", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (tests/run.sh installs it): %v", tool, err)
		}
	}
}

func newEnv(t testing.TB, configure func(*Options)) *env {
	t.Helper()
	requireTools(t)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, ctl: newTestController(), home: filepath.Join(dir, "home"), logs: &syncBuffer{}}
	if err := os.MkdirAll(e.home, 0o700); err != nil {
		t.Fatal(err)
	}
	e.opts = Options{
		Controller:  e.ctl,
		ReposDir:    filepath.Join(dir, "repos"),
		HostKeyFile: filepath.Join(dir, "ssh_host_ed25519_key"),
		IdleTimeout: 30 * time.Second,
		LockTimeout: 30 * time.Second,
		Logger:      slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	if configure != nil {
		configure(&e.opts)
	}
	e.start()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// start (re)starts the server on a new port.
func (e *env) start() {
	e.t.Helper()
	srv, err := New(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	e.srv, e.addr = srv, l.Addr().String()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
	host, port, _ := net.SplitHostPort(e.addr)
	e.knownOK = filepath.Join(e.dir, "known_hosts_"+port)
	line := fmt.Sprintf("[%s]:%s %s\n", host, port, srv.HostPublicKey())
	if err := os.WriteFile(e.knownOK, []byte(line), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// newKey makes an ed25519 key pair and, if user is not empty, registers it.
func (e *env) newKey(name, user string) string {
	e.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, name)
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, "key_"+name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		e.t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		e.ctl.mu.Lock()
		e.ctl.keys[gossh.FingerprintSHA256(sshPub)] = user
		e.ctl.mu.Unlock()
	}
	return path
}

func (e *env) addApp(app string, users ...string) {
	e.ctl.mu.Lock()
	defer e.ctl.mu.Unlock()
	e.ctl.access[app] = users
}

func (e *env) url(app string) string { return "ssh://git@" + e.addr + "/" + app + ".git" }

func (e *env) sshCommand(key string) string {
	return fmt.Sprintf("ssh -F /dev/null -i %s -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o PasswordAuthentication=no -o ConnectTimeout=10",
		key, e.knownOK)
}

func (e *env) environ(key string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + e.home, "LANG=C", "LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_SSH_COMMAND=" + e.sshCommand(key),
		"GIT_AUTHOR_NAME=Tess Ter", "GIT_AUTHOR_EMAIL=tess@example.com",
		"GIT_COMMITTER_NAME=Tess Ter", "GIT_COMMITTER_EMAIL=tess@example.com",
	}
}

// run runs a command with the client's environment; it returns the
// combined output and the error.
func (e *env) run(dir, key string, name string, args ...string) (string, error) {
	e.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = e.environ(key)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		e.t.Fatalf("%s %s hung; output:\n%s", name, strings.Join(args, " "), out.String())
		return "", nil
	}
}

func (e *env) git(dir, key string, args ...string) (string, error) {
	e.t.Helper()
	return e.run(dir, key, "git", args...)
}

// mustGit runs git and fails the test if it fails.
func (e *env) mustGit(dir, key string, args ...string) string {
	e.t.Helper()
	out, err := e.git(dir, key, args...)
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// ssh runs the ssh client against the server with a raw command line.
func (e *env) ssh(key string, args ...string) (string, error) {
	e.t.Helper()
	host, port, _ := net.SplitHostPort(e.addr)
	argv := append(strings.Fields(e.sshCommand(key))[1:], "-p", port, "git@"+host)
	return e.run(e.dir, key, "ssh", append(argv, args...)...)
}

// worktree makes a git repository with remote "paas" pointing at app.
func (e *env) worktree(name, app string) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, "wt-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	e.mustGit(dir, "", "init", "-q", "-b", "main")
	e.mustGit(dir, "", "remote", "add", "paas", e.url(app))
	return dir
}

// commit writes files (path → content; "" deletes) and commits them; it
// returns the new commit's hash.
func (e *env) commit(dir, msg string, files map[string]string) string {
	e.t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if body == "" {
			os.Remove(path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.mustGit(dir, "", "add", "-A")
	e.mustGit(dir, "", "commit", "-q", "--allow-empty", "-m", msg)
	return strings.TrimSpace(e.mustGit(dir, "", "rev-parse", "HEAD"))
}

// remoteRef is what git ls-remote says ref is, or "" if it is absent.
func (e *env) remoteRef(key, app, ref string) string {
	e.t.Helper()
	out := e.mustGit(e.dir, key, "ls-remote", e.url(app), ref)
	f := strings.Fields(out)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// diskState lists everything under ReposDir: path, mode, size, mtime.
func (e *env) diskState() []string { return e.listRepos(true) }

// diskFiles is diskState without the directories' mtimes, which change when
// a file is made and removed again.
func (e *env) diskFiles() []string { return e.listRepos(false) }

func (e *env) listRepos(dirTimes bool) []string {
	e.t.Helper()
	var state []string
	err := filepath.WalkDir(e.opts.ReposDir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.opts.ReposDir, p)
		mtime := fi.ModTime().UnixNano()
		if d.IsDir() && !dirTimes {
			mtime = 0
		}
		state = append(state, fmt.Sprintf("%s %v %d %d", rel, fi.Mode(), fi.Size(), mtime))
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Strings(state)
	return state
}

// remoteLines picks the "remote:" lines of git's output.
func remoteLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "remote: ") {
			lines = append(lines, strings.TrimRight(strings.TrimPrefix(l, "remote: "), " \r"))
		}
	}
	return lines
}
