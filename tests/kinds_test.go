package tests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pushRig is an appRig that builds pushes with the buildpacks: the stacks
// imported from tests/run.sh's cache, the host's Go proxy and npm registry
// handed to the server, and an SSH key added for git push.
type pushRig struct {
	*appRig
	key string // private key file for git over SSH
}

func newPushRig(t *testing.T) *pushRig {
	t.Helper()
	cache := os.Getenv("PAAS_STACK_CACHE")
	if cache == "" || os.Getenv("PAAS_TEST_STACKS") == "0" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PAAS_STACK_CACHE is not set: run the tests with tests/run.sh")
		}
		t.Skip("no stack cache: run tests/run.sh")
	}
	var extra []string
	if out, err := exec.Command("go", "env", "GOPROXY").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		extra = append(extra, "--goproxy", strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("npm", "config", "get", "registry").Output(); err == nil && strings.HasPrefix(string(out), "http") {
		extra = append(extra, "--npm-registry", strings.TrimSpace(string(out)))
	}
	r := &pushRig{appRig: newAppRig(t, extra...)}
	if _, stderr, err := runCLI(t, r.admin, cliOptions{timeout: 5 * time.Minute}, "stack", "build", "--containerd", r.s.containerd, "--namespace", r.ns, "--stack-cache", cache); err != nil {
		t.Fatalf("paas stack build: %v\n%s", err, stderr)
	}
	r.key = filepath.Join(t.TempDir(), "id_ed25519")
	sshKeygen(t, r.key, "-t", "ed25519")
	mustCLI(t, r.admin, "keys:add", r.key+".pub")
	return r
}

// newApp makes a git work tree holding files, creates the app from it
// (which adds the paas remote) and commits the files.
func (r *pushRig) newApp(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runGit(t, dir, "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	mustCLIIn(t, r.admin, dir, "apps:create", name)
	writeFiles(t, dir, files)
	commitAll(t, dir, "first")
	return dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pushTiming is when each step of a push was seen by the pusher, from the
// start of git push.
type pushTiming struct {
	receive, build, release, rollout, total time.Duration
	output                                  string
}

func (p pushTiming) String() string {
	return fmt.Sprintf("total %v = receive %v + build %v + release %v + rollout %v",
		p.total.Round(10*time.Millisecond), p.receive.Round(10*time.Millisecond), p.build.Round(10*time.Millisecond),
		p.release.Round(10*time.Millisecond), p.rollout.Round(10*time.Millisecond))
}

// timedPush runs git push paas main in dir and stamps the server's steps
// as their remote: lines arrive: receive (until the build starts), build,
// release (build done until the release is recorded), rollout (until the
// release is live). It returns git's output and error.
func (r *pushRig) timedPush(t *testing.T, dir string) (pushTiming, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "push", "paas", "main")
	cmd.Dir = dir
	cmd.Env = append(baseEnv(t.TempDir()),
		"GIT_CEILING_DIRECTORIES="+filepath.Dir(dir),
		"GIT_SSH_COMMAND=ssh -i "+r.key+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var p pushTiming
	var out strings.Builder
	var building, built, releasing, live time.Duration
	sc := bufio.NewScanner(stderr)
	sc.Split(scanLinesOrCR)
	for sc.Scan() {
		l := sc.Text()
		out.WriteString(l + "\n")
		at := time.Since(start)
		switch {
		case strings.Contains(l, "-----> Building ") && building == 0:
			building = at
		case strings.Contains(l, "-----> Built "):
			built = at
		case strings.Contains(l, "-----> Releasing v"):
			releasing = at
		case strings.Contains(l, " is live (rollout"):
			live = at
		}
	}
	err = cmd.Wait()
	p.total = time.Since(start)
	p.output = out.String()
	if building > 0 && built > 0 && releasing > 0 && live > 0 {
		p.receive, p.build, p.release, p.rollout = building, built-building, releasing-built, live-releasing
	}
	return p, err
}

// scanLinesOrCR splits git's progress output, which ends lines with \r as
// well as \n.
func scanLinesOrCR(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// servedAfter polls the app through the router until its body contains
// want, and returns how long that took from the push's start.
func (r *pushRig) servedAfter(t *testing.T, app, want string, pushStart time.Time) time.Duration {
	t.Helper()
	var took time.Duration
	waitUntil(t, app+" serving "+want, 60*time.Second, func() (bool, string) {
		code, body, err := getHost(r.s.url+"/", app+".localhost")
		if err != nil {
			return false, err.Error()
		}
		took = time.Since(pushStart)
		return code == 200 && strings.Contains(body, want), fmt.Sprint(code, " ", body)
	})
	return took
}

// TestPushEachKindOfApp pushes a Go module, a Node.js app with a lockfile
// and a Python app with web and worker processes, each with real git over
// OpenSSH, built by the buildpacks on the stacks, and requests each
// through the router by its Host. The Node.js app is then pushed again
// unchanged and with a one-line change, and each push's time to live is
// logged with its split; the Python app's worker runs and logs; a push
// whose web process crashes at start-up is rejected and the previous
// release keeps serving.
func TestPushEachKindOfApp(t *testing.T) {
	r := newPushRig(t)

	t.Run("go", func(t *testing.T) {
		dir := r.newApp(t, "gopher", map[string]string{
			"go.mod": "module example.com/gopher\n\ngo 1.22.5\n",
			"main.go": `package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from go, built with %s\n", runtime.Version())
	})
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`,
		})
		p, err := r.timedPush(t, dir)
		if err != nil || !strings.Contains(p.output, "v1 is live") {
			t.Fatalf("git push of a Go app: %v\n%s", err, p.output)
		}
		t.Logf("Go app, first push: %s", p)
		if code, body, err := getHost(r.s.url+"/", "gopher.localhost"); err != nil || code != 200 || !strings.Contains(body, "hello from go, built with go1.22.5") {
			t.Errorf("GET gopher.localhost = %d %q, %v", code, body, err)
		}
		r.destroy(t, "gopher")
	})

	t.Run("node", func(t *testing.T) {
		files := map[string]string{}
		for _, name := range []string{"package.json", "package-lock.json", "server.js"} {
			b, err := os.ReadFile(filepath.Join("..", "builder", "testdata", "apps", "node", name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = string(b)
		}
		dir := r.newApp(t, "noder", files)
		start := time.Now()
		p, err := r.timedPush(t, dir)
		if err != nil || !strings.Contains(p.output, "v1 is live") {
			t.Fatalf("git push of a Node.js app: %v\n%s", err, p.output)
		}
		for _, want := range []string{"Node.js app detected", "Installing node 22."} {
			if !strings.Contains(p.output, want) {
				t.Errorf("push output lacks %q:\n%s", want, p.output)
			}
		}
		served := r.servedAfter(t, "noder", "hello from node v1", start)
		t.Logf("Node.js app, first push: %s; served through the router %v after the push started", p, served.Round(10*time.Millisecond))

		// The same tree again: a rebuild with nothing changed.
		if _, err := runGit(t, dir, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "--allow-empty", "-m", "again"); err != nil {
			t.Fatal(err)
		}
		p, err = r.timedPush(t, dir)
		if err != nil || !strings.Contains(p.output, "v2 is live") || !strings.Contains(p.output, "Reusing node_modules") {
			t.Fatalf("second push of the Node.js app, unchanged: %v\n%s", err, p.output)
		}
		t.Logf("Node.js app, no-change push: %s", p)

		// A one-line change.
		b, _ := os.ReadFile(filepath.Join(dir, "server.js"))
		writeFiles(t, dir, map[string]string{"server.js": strings.Replace(string(b), `const VERSION = "v1";`, `const VERSION = "v3";`, 1)})
		commitAll(t, dir, "one line")
		start = time.Now()
		p, err = r.timedPush(t, dir)
		if err != nil || !strings.Contains(p.output, "v3 is live") || !strings.Contains(p.output, "Reusing node_modules") {
			t.Fatalf("push of a one-line change: %v\n%s", err, p.output)
		}
		served = r.servedAfter(t, "noder", "hello from node v3", start)
		t.Logf("Node.js app, one-line change: %s; served through the router %v after the push started", p, served.Round(10*time.Millisecond))
		r.destroy(t, "noder")
	})

	t.Run("python", func(t *testing.T) {
		dir := r.newApp(t, "snake", map[string]string{
			"requirements.txt": "",
			"Procfile":         "web: python app.py\nworker: python worker.py\n",
			"app.py": `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from python v1\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("", int(os.environ["PORT"])), Hello).serve_forever()
`,
			"worker.py": `import time

n = 0
while True:
    n += 1
    print("worker tick %d" % n, flush=True)
    time.sleep(1)
`,
		})
		p, err := r.timedPush(t, dir)
		if err != nil || !strings.Contains(p.output, "v1 is live") || !strings.Contains(p.output, "Python app detected") {
			t.Fatalf("git push of a Python app: %v\n%s", err, p.output)
		}
		t.Logf("Python app, first push: %s", p)
		if code, body, err := getHost(r.s.url+"/", "snake.localhost"); err != nil || code != 200 || body != "hello from python v1\n" {
			t.Errorf("GET snake.localhost = %d %q, %v", code, body, err)
		}
		mustCLIIn(t, r.admin, dir, "scale", "worker=1")
		waitUntil(t, "the worker running", 60*time.Second, func() (bool, string) {
			out, _, _ := cli(t, r.admin, "ps", "-a", "snake")
			return regexp.MustCompile(`worker\.1\s.*running`).MatchString(out), out
		})
		waitUntil(t, "the worker's lines in paas logs", 30*time.Second, func() (bool, string) {
			out, _, _ := cli(t, r.admin, "logs", "-a", "snake", "--ps", "worker.1", "-n", "20")
			return strings.Contains(out, "worker tick"), out
		})

		// A web process that dies at start-up: the push is rejected and
		// v1 keeps serving.
		writeFiles(t, dir, map[string]string{"app.py": "import sys\nprint('no database configured', flush=True)\nsys.exit(3)\n"})
		commitAll(t, dir, "crash at start-up")
		p, err = r.timedPush(t, dir)
		if err == nil || !strings.Contains(p.output, "[remote rejected]") {
			t.Fatalf("push of an app that crashes at start-up was not rejected: %v\n%s", err, p.output)
		}
		if !strings.Contains(p.output, "no database configured") {
			t.Errorf("the rejected push does not show the app's last lines:\n%s", p.output)
		}
		for range 5 {
			if code, body, err := getHost(r.s.url+"/", "snake.localhost"); err != nil || code != 200 || body != "hello from python v1\n" {
				t.Fatalf("after the rejected push, GET snake.localhost = %d %q, %v", code, body, err)
			}
		}
		rels := mustCLI(t, r.admin, "releases", "-a", "snake")
		if !regexp.MustCompile(`v2\s.*failed`).MatchString(rels) {
			t.Errorf("paas releases does not show v2 failed:\n%s", rels)
		}
		r.destroy(t, "snake")
	})
}
