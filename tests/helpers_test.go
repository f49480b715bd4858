package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"paas/controller"
	"paas/internal/testenv"
)

// paasBin is the paas binary built by TestMain for this run of the suite.
var paasBin string

// Bounds on how long the suite waits for the processes it starts.
const (
	buildTimeout    = 5 * time.Minute  // go build ./cmd/paas, cold cache included
	startTimeout    = 20 * time.Second // from exec to /healthz answering
	stopTimeout     = 20 * time.Second // from SIGTERM to exit
	cliTimeout      = 30 * time.Second // one CLI invocation
	httpTimeout     = 10 * time.Second // one API call of the test's own client
	healthPollEvery = 20 * time.Millisecond
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests builds the binary into a temporary directory, runs the tests, and removes the
// directory: a function of its own so that the deferred removal runs before os.Exit.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "paas-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tests: finding the module root: %v\n", err)
		return 1
	}
	paasBin = filepath.Join(dir, "paas")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", paasBin, "./cmd/paas")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "tests: go build ./cmd/paas in %s: %v\n%s", root, err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot is the directory of the go.mod of the module under test: what "go env GOMOD" says,
// else the parent of this package's directory, where it is in the repository.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Dir(gomod), nil
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", err
	}
	return root, nil
}

// syncBuffer is a bytes.Buffer that a process may write to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverOptions configure startServer. Zero values are documented per field.
type serverOptions struct {
	// containerd is the socket the server is told to use. If empty, the test containerd when
	// tests/run.sh started one, else a path where no socket exists (see containerdOrNone).
	containerd string
	// database is a postgres:// DSN. If empty, the server uses SQLite in its data directory.
	database string
	// dataDir is the server's data directory. If empty, a new one under the test's temp dir.
	dataDir string
	// logLevel is --log-level. If empty, info.
	logLevel string
	// namespace is --namespace. If empty, a new random one.
	namespace string
	// extra are more arguments for paas server.
	extra []string
}

// testServer is one "paas server" process started by startServer.
type testServer struct {
	url        string // http://127.0.0.1:PORT
	dataDir    string
	containerd string   // the socket it was given
	args       []string // the flags runtimeServer gave it
	cmd        *exec.Cmd
	stdout     *syncBuffer // what it prints for the operator: the bootstrap token
	stderr     *syncBuffer // its log

	done    chan struct{} // closed once the process has exited and waitErr is set
	waitErr error
	killed  bool // by kill9: its exit status says nothing
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:[0-9]+)`)

// startServer starts a paas server on 127.0.0.1 with a port of its own, waits until /healthz
// answers (200 or 503), and stops it with SIGTERM when the test ends.
func startServer(t testing.TB, opt serverOptions) *testServer {
	t.Helper()
	if opt.dataDir == "" {
		opt.dataDir = filepath.Join(t.TempDir(), "data") // created by the server, mode 0700
	}
	if opt.containerd == "" {
		opt.containerd = containerdOrNone(t)
	}
	if opt.logLevel == "" {
		opt.logLevel = "info"
	}
	if opt.namespace == "" {
		opt.namespace = "paas-e2e-" + randomHex(6)
	}
	args := []string{"server",
		"--config=", // no /etc/paas/paas.toml
		"--data-dir", opt.dataDir,
		"--listen", "127.0.0.1:0",
		"--ssh-listen", "127.0.0.1:0",
		"--containerd", opt.containerd,
		// A namespace of its own, so that servers sharing the test containerd never see each
		// other's containers.
		"--namespace", opt.namespace,
		"--log-level", opt.logLevel,
		"--shutdown-timeout", "5s",
	}
	if opt.database != "" {
		args = append(args, "--database", opt.database)
	}
	args = append(args, opt.extra...)
	s := &testServer{
		dataDir:    opt.dataDir,
		containerd: opt.containerd,
		cmd:        exec.Command(paasBin, args...),
		stdout:     &syncBuffer{},
		stderr:     &syncBuffer{},
		done:       make(chan struct{}),
	}
	s.cmd.Env = baseEnv(t.TempDir())
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start paas server: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() || os.Getenv("PAAS_TEST_SERVER_LOG") != "" {
			t.Logf("log of the paas server on %s:\n%s", s.url, s.stderr.String())
		}
	})

	deadline := time.Now().Add(startTimeout)
	for s.url == "" {
		if m := listeningRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.url = "http://" + m[1]
			break
		}
		select {
		case <-s.done:
			t.Fatalf("paas server exited before listening: %v\nlog:\n%s", s.waitErr, s.stderr.String())
		case <-time.After(healthPollEvery):
		}
		if time.Now().After(deadline) {
			t.Fatalf("paas server did not log msg=listening within %v; log:\n%s", startTimeout, s.stderr.String())
		}
	}
	for {
		_, _, err := s.health()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/healthz did not answer within %v: %v", s.url, startTimeout, err)
		}
		select {
		case <-s.done:
			t.Fatalf("paas server exited: %v\nlog:\n%s", s.waitErr, s.stderr.String())
		case <-time.After(healthPollEvery):
		}
	}
}

// health fetches /healthz anonymously, as a load balancer does: its HTTP status and its body,
// which must be a controller.Health (the status only: the components are for admins).
func (s *testServer) health() (int, controller.Health, error) {
	return s.healthAs("")
}

// healthAs fetches /healthz with an API token: an admin's sees the components.
func (s *testServer) healthAs(token string) (int, controller.Health, error) {
	var h controller.Health
	req, err := http.NewRequest("GET", s.url+"/healthz", nil)
	if err != nil {
		return 0, h, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		return 0, h, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, h, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return resp.StatusCode, h, fmt.Errorf("GET /healthz: %s: not a health report: %v: %q", resp.Status, err, body)
	}
	return resp.StatusCode, h, nil
}

// stop sends SIGTERM and waits for the process to exit, which it must do cleanly. A server
// that has exited already, or was killed, is left as it is.
func (s *testServer) stop(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
		return
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM paas server: %v", err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Errorf("paas server exited with %v after SIGTERM, want exit status 0", s.waitErr)
		}
	case <-time.After(stopTimeout):
		t.Errorf("paas server did not exit within %v of SIGTERM; killing it", stopTimeout)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// kill9 kills the server with SIGKILL, as a crash or the OOM killer would, and waits until it is
// gone.
func (s *testServer) kill9(t testing.TB) {
	t.Helper()
	s.killed = true
	if err := syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		t.Fatalf("paas server %d still running %v after SIGKILL", s.cmd.Process.Pid, stopTimeout)
	}
}

// adminToken reads the bootstrap admin token the server wrote on its first start. The file is
// removed when the token is first used, so read it before logging in.
func (s *testServer) adminToken(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin-token"))
	if err != nil {
		t.Fatalf("read the bootstrap admin token: %v", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		t.Fatalf("%s/admin-token is empty", s.dataDir)
	}
	return token
}

// client returns an API client of the server that authenticates with token.
func (s *testServer) client(t testing.TB, token string) *controller.Client {
	t.Helper()
	c, err := controller.NewClient(s.url, token, httpClient())
	if err != nil {
		t.Fatalf("controller.NewClient(%q): %v", s.url, err)
	}
	return c
}

// httpClient is the test's own HTTP client: bounded, and never through a proxy.
func httpClient() *http.Client {
	return &http.Client{Timeout: httpTimeout, Transport: &http.Transport{Proxy: nil}}
}

// containerdOrNone returns the test containerd's socket if tests/run.sh started one, else a path
// in the test's temp dir where no socket exists. It is for tests that need the API and not
// containerd, so that they run either way; tests about containerd use testenv.Containerd, which
// skips or fails without it.
func containerdOrNone(t testing.TB) string {
	if sock := os.Getenv(testenv.EnvContainerd); sock != "" {
		if fi, err := os.Stat(sock); err == nil && fi.Mode().Type() == os.ModeSocket {
			return sock
		}
	}
	return filepath.Join(t.TempDir(), "no-containerd.sock")
}

// baseEnv is the environment of every process the suite starts: a PATH, a HOME, and nothing
// else of the environment the tests run in: no PAAS_* variables, proxies or git config.
func baseEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"NO_COLOR=1",
		"GIT_CONFIG_NOSYSTEM=1",
	}
}

// newHome makes a home directory for one user of the CLI.
func newHome(t testing.TB, name string) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return home
}

// cliOptions are the less common settings of one CLI run.
type cliOptions struct {
	dir   string   // working directory; default the home
	stdin string   // standard input; default empty
	env   []string // KEY=VALUE added to the environment
	// timeout bounds the run; default cliTimeout.
	timeout time.Duration
}

// runCLI runs the paas CLI as the user whose home is home. A run that exits with a status other
// than 0 returns an *exec.ExitError; a run that cannot start or times out ends the test.
func runCLI(t testing.TB, home string, opt cliOptions, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	timeout := cliTimeout
	if opt.timeout > 0 {
		timeout = opt.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, paasBin, args...)
	cmd.Dir = opt.dir
	if cmd.Dir == "" {
		cmd.Dir = home
	}
	// git must not find a repository above the working directory.
	cmd.Env = append(baseEnv(home), "GIT_CEILING_DIRECTORIES="+filepath.Dir(cmd.Dir))
	cmd.Env = append(cmd.Env, opt.env...)
	cmd.Stdin = strings.NewReader(opt.stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s: no answer within %v\nstderr: %s", cmdline(args), timeout, e.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", cmdline(args), err)
	}
	return o.String(), e.String(), err
}

// cli runs the paas CLI as the user whose home is home.
func cli(t testing.TB, home string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCLI(t, home, cliOptions{}, args...)
}

// mustCLI runs the paas CLI and returns its standard output; a failure ends the test.
func mustCLI(t testing.TB, home string, args ...string) string {
	t.Helper()
	stdout, stderr, err := cli(t, home, args...)
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", cmdline(args), err, stdout, stderr)
	}
	return stdout
}

// mustCLIJSON runs a CLI command given --json and decodes its output into a T, strictly: a field
// the controller's types do not have is an error.
func mustCLIJSON[T any](t testing.TB, home string, args ...string) T {
	t.Helper()
	out := mustCLI(t, home, args...)
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: output is not a JSON %T: %v\n%s", cmdline(args), v, err, out)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON value in the output:\n%s", cmdline(args), out)
	}
	return v
}

// checkCLIError checks that a CLI run failed as a user should see it: exit status 1, nothing on
// standard output, and "error: ..." holding want on standard error.
func checkCLIError(t testing.TB, args []string, stdout, stderr string, err error, want string) {
	t.Helper()
	if code := exitCode(err); code != 1 || stdout != "" || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, want) {
		t.Errorf("%s = exit status %d, stdout %q, stderr %q; want exit status 1, no stdout, and an error saying %q",
			cmdline(args), code, stdout, stderr, want)
	}
}

// wantCLIError runs the CLI and checks that it fails with an error that says want.
func wantCLIError(t testing.TB, home, want string, args ...string) {
	t.Helper()
	stdout, stderr, err := cli(t, home, args...)
	checkCLIError(t, args, stdout, stderr, err, want)
}

// exitCode is the exit status of a finished command: 0 for a nil error.
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// cmdline shows a CLI invocation in failure messages.
func cmdline(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n\"'$;()\\") {
			q[i] = fmt.Sprintf("%q", a)
		}
	}
	return "paas " + strings.Join(q, " ")
}

// login logs the user whose home is home in to s with token, and checks who the server says
// they are.
func login(t testing.TB, s *testServer, home, name, token string) {
	t.Helper()
	got := mustCLI(t, home, "login", s.url, "--token", token)
	if want := fmt.Sprintf("Logged in to %s as %s\n", s.url, name); got != want {
		t.Fatalf("paas login %s --token ... = %q, want %q", s.url, got, want)
	}
}

// loginAdmin logs the bootstrap admin in, in a home of their own, and returns the home and token.
func loginAdmin(t testing.TB, s *testServer) (home, token string) {
	t.Helper()
	token = s.adminToken(t)
	home = newHome(t, "admin")
	login(t, s, home, "admin", token)
	return home, token
}

// createUser has the admin create a user, logs the user in, in a home of their own, and returns
// the home and the user's first token.
func createUser(t testing.TB, s *testServer, adminHome, name string) (home, token string) {
	t.Helper()
	token = strings.TrimSpace(mustCLI(t, adminHome, "users:create", name))
	if token == "" || strings.ContainsAny(token, " \n") {
		t.Fatalf("paas users:create %s printed %q, want the token alone", name, token)
	}
	home = newHome(t, name)
	login(t, s, home, name, token)
	return home, token
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mustCLIIn is mustCLI with a working directory other than the home, such as a git work tree.
func mustCLIIn(t testing.TB, home, dir string, args ...string) string {
	t.Helper()
	stdout, stderr, err := runCLI(t, home, cliOptions{dir: dir}, args...)
	if err != nil {
		t.Fatalf("in %s: %s: %v\nstdout: %s\nstderr: %s", dir, cmdline(args), err, stdout, stderr)
	}
	return stdout
}

// runGit runs git in dir, with no system or user config, and returns its output, trimmed.
func runGit(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(t.TempDir()), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// sshKeygen makes an SSH key pair with OpenSSH's ssh-keygen, without a passphrase, at path and
// path.pub, and returns the public key file's contents.
func sshKeygen(t testing.TB, path string, args ...string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	args = append([]string{"-q", "-N", "", "-f", path}, args...)
	if out, err := exec.CommandContext(ctx, "ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return string(pub)
}

// sshFingerprint is the SHA256 fingerprint of a public key file, as ssh-keygen -l shows it.
func sshFingerprint(t testing.TB, pubFile string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", pubFile).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l -f %s: %v", pubFile, err)
	}
	f := strings.Fields(string(out)) // 256 SHA256:... comment (ED25519)
	if len(f) < 2 || !strings.HasPrefix(f[1], "SHA256:") {
		t.Fatalf("ssh-keygen -l -f %s = %q, want a SHA256 fingerprint", pubFile, out)
	}
	return f[1]
}

// appSummaries shows a list of apps as "name owner=... release=N", to compare lists by what
// matters to a user.
func appSummaries(apps []controller.App) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = fmt.Sprintf("%s owner=%s release=%d", a.Name, a.Owner, a.Release)
	}
	return out
}
