package web_test

import (
	"bytes"
	"context"
	"fmt"
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

	containerd "github.com/containerd/containerd/v2/client"

	"paas/builder/testimage"
	"paas/controller"
	"paas/internal/testenv"
)

// The app of the acceptance test, deployed by git push: a Dockerfile on
// the busybox image that serves a page with httpd on $PORT and prints a
// line every second, with markup in it (and in its build output) that
// must stay text.
const (
	busyboxImage = "paas.test/busybox:latest"
	dockerfile   = `FROM ` + busyboxImage + `
RUN echo "build step says <i id=buildmarkup>hi</i>"
WORKDIR /www
RUN echo "hello from the shop" > index.html
CMD (i=0; while true; do i=$((i+1)); echo "tick $i from $PAAS_PROCESS <b id=logmarkup>bold?</b>"; sleep 1; done) & exec httpd -f -p $PORT -h /www
`
)

// TestDashboardAcceptance is the dashboard's acceptance test: a real "paas
// server" running a real app on the test containerd, driven in headless
// Chromium. Sign in with a user name and password; open the app; scale web
// from 1 to 2 and see two healthy instances appear without reloading; set
// a config var and see release vN+1; roll back and see the old release's
// image and config current again; see a line the app prints arrive in the
// live log view; see its requests in the charts; push again with the page
// open and watch the build's output and the rollout's steps; sign out. Each step is screenshot at desktop and phone width into
// artifactDir.
func TestDashboardAcceptance(t *testing.T) {
	sock := testenv.Containerd(t)
	testenv.Root(t)
	b := startBrowser(t)
	dir := artifactDir(t)
	ctx := context.Background()

	s := startPaasServer(t, sock)
	cc, err := containerd.New(sock, containerd.WithDefaultNamespace(s.namespace))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() }) // after destroyApp, registered later
	if _, err := testimage.ImportBusybox(ctx, cc, busyboxImage); err != nil {
		t.Fatal(err)
	}

	c, err := controller.NewClient(s.url, s.adminToken(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	const password = "a long dashboard password"
	if err := c.SetPassword(ctx, "admin", password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.destroyApp(t, c, cc, "shop") })
	push := gitPushApp(t, c, "shop")
	waitHealthy(t, c, "shop", 1)
	// Some traffic through the router, for the charts: pages and a 404.
	statuses := map[int]int{}
	for i := range 20 {
		path := "/"
		if i%5 == 4 {
			path = "/nope"
		}
		req, _ := http.NewRequest("GET", s.url+path, nil)
		req.Host = "shop.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s through the router: %v", path, err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
	}
	t.Logf("requests through the router: %v (status: count)", statuses)

	shot := func(name, css string) {
		t.Helper()
		if css != "" {
			b.must(b.exec(nil, `const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'start'}); window.scrollBy(0, -8);`, css))
		}
		b.screenshot(dir, name+"-desktop.png")
		b.resize(390, 844)
		if css != "" {
			b.must(b.exec(nil, `const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'start'}); window.scrollBy(0, -8);`, css))
		}
		var width int
		b.must(b.exec(&width, `return document.documentElement.scrollWidth;`))
		if width > 400 {
			t.Errorf("%s: at phone width the page is %dpx wide: something overflows", name, width)
		}
		b.screenshot(dir, name+"-phone.png")
		b.resize(1280, 900)
	}
	b.resize(1280, 900)

	// 1. Sign in with a user name and password.
	b.open(s.url + "/")
	b.waitText("#signin h1", "Sign in")
	shot("01-signin", "")
	b.typeInto("#username", "admin")
	b.typeInto("#password", password)
	b.click("#signin button[type=submit]")
	b.waitText("#nav .who", "admin")
	b.waitText(`tr[data-app="shop"]`, "running")
	shot("02-apps", "")

	// 2. Open the app.
	b.click(`tr[data-app="shop"] a`)
	b.waitText("#app-name", "shop")
	b.waitText("#instances-body", "web.1")
	shot("03-app", "")

	// 3. Scale web from 1 to 2: two healthy instances appear, no reload.
	var marker string
	b.must(b.exec(&marker, `window.paasNoReload = 'still here'; return window.paasNoReload;`))
	b.typeInto("#scale-web", "2")
	b.click("#scale-web-btn")
	b.waitText("#formation .msg", "Scaled web to 2")
	b.waitForD(90*time.Second, "two healthy web instances in the page", func() (bool, string) {
		var n int
		b.must(b.exec(&n, `return [...document.querySelectorAll('#instances-body tbody tr')].filter((r) => /web\.\d/.test(r.textContent) && r.textContent.includes('healthy') && !r.textContent.includes('unhealthy')).length;`))
		return n == 2, b.text("#instances-body")
	})
	b.waitText("#app-counts", "2 / 2")
	b.must(b.exec(&marker, `return window.paasNoReload || 'reloaded';`))
	if marker != "still here" {
		t.Error("the page reloaded while scaling")
	}
	shot("04-scaled", "#instances")

	// 4. Set a config var: release vN+1 appears and goes live.
	app, err := c.App(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	n := app.Release
	b.typeInto("#config-key", "GREETING")
	b.typeInto("#config-value", "hello <i>world</i>")
	b.click("#config-set")
	b.waitText("#config .msg", "Set GREETING")
	next := fmt.Sprintf(`#releases tr[data-version="%d"]`, n+1)
	b.waitText(next, "Set GREETING")
	b.waitForD(90*time.Second, fmt.Sprintf("v%d to go live", n+1), func() (bool, string) {
		return strings.Contains(b.text(next), "live"), b.text("#releases-body")
	})
	b.click(fmt.Sprintf("#diff-v%d", n+1))
	b.waitText(fmt.Sprintf("#diffrow-v%d", n+1), "added GREETING")
	shot("05-config-release", "#releases")

	// 5. Roll back to vN: a new release with vN's image and config becomes current.
	b.click(fmt.Sprintf("#rollback-v%d", n))
	b.waitText(fmt.Sprintf("#rollback-v%d", n), "Confirm")
	b.click(fmt.Sprintf("#rollback-v%d", n))
	b.waitText("#releases .msg", fmt.Sprintf("Rolled back to v%d", n))
	back := fmt.Sprintf(`#releases tr[data-version="%d"]`, n+2)
	b.waitForD(90*time.Second, "the rollback release to go live", func() (bool, string) {
		got := b.text(back)
		return strings.Contains(got, "live") && strings.Contains(got, fmt.Sprintf("Rollback to v%d", n)), b.text("#releases-body")
	})
	if got := b.text(next); !strings.Contains(got, "was live") {
		t.Errorf("after the rollback v%d shows %q, want it no longer live", n+1, got)
	}
	b.waitText("#app-release", fmt.Sprintf("v%d Rollback to v%d", n+2, n))
	b.waitFor("GREETING to leave the config after the rollback", func() (bool, string) {
		got := b.text("#config-body")
		return !strings.Contains(got, "GREETING"), got
	})
	if cfg, err := c.Config(ctx, "shop"); err != nil || cfg["GREETING"] != "" {
		t.Errorf("after the rollback the config is %v, %v; want no GREETING", cfg, err)
	}
	shot("06-rolled-back", "#releases")

	// 6. A line the app prints arrives in the live log view, as text.
	b.waitText("#logs-state", "following live")
	var first string
	b.waitForD(30*time.Second, "a tick in the live log", func() (bool, string) {
		first = lastTick(b.text("#log-lines"))
		return first != "", b.text("#log-lines")
	})
	b.waitForD(30*time.Second, "a newer tick to arrive while watching", func() (bool, string) {
		got := lastTick(b.text("#log-lines"))
		return got != "" && got != first, got
	})
	if !strings.Contains(b.text("#log-lines"), "<b id=logmarkup>bold?</b>") {
		t.Errorf("the log view does not show the app's markup as text: %q", b.text("#log-lines"))
	}
	var injected bool
	b.must(b.exec(&injected, `return document.getElementById('logmarkup') !== null;`))
	if injected {
		t.Error("a log line's markup became part of the page")
	}
	// The process filter: only web.2's lines.
	b.must(b.exec(nil, `const s = document.getElementById('logs-ps'); s.value = 'web'; s.dispatchEvent(new Event('change'));`))
	b.waitForD(30*time.Second, "web lines after filtering", func() (bool, string) {
		return lastTick(b.text("#log-lines")) != "", b.text("#log-lines")
	})
	shot("07-logs", "#logs")

	// 7. The router's request metrics, as charts.
	b.waitText("#metrics-summary", "requests in the last hour")
	want := fmt.Sprintf("%d 2xx", statuses[200])
	if got := b.text("#metrics-summary"); !strings.Contains(got, want) {
		t.Errorf("metrics summary %q: want %q (%v)", got, want, statuses)
	}
	var bars int
	b.must(b.exec(&bars, `return document.querySelectorAll('#chart-status rect').length;`))
	if bars == 0 {
		t.Error("the status chart has no bars")
	}
	shot("08-metrics", "#metrics")

	// 8. A push while the page is open: its build output and its rollout
	// steps show as they happen, and its build stays in the history.
	b.must(b.exec(nil, `window.scrollTo(0, 0);`))
	pushed := make(chan error, 1)
	go func() {
		out, err := push("hello again")
		if err != nil {
			err = fmt.Errorf("%v\n%s", err, out)
		}
		pushed <- err
	}()
	b.waitForD(60*time.Second, "the running build's output to open by itself", func() (bool, string) {
		got := b.text("#build-log")
		return strings.Contains(got, "-----> Building shop from"), b.text("#builds-body")
	})
	b.waitText("#build-log", "build step says <i id=buildmarkup>hi</i>")
	b.waitForD(90*time.Second, "the second push to go live in the page", func() (bool, string) {
		got := b.text("#build-log")
		return strings.Contains(got, "is live"), got
	})
	if err := <-pushed; err != nil {
		t.Fatalf("second push: %v", err)
	}
	b.waitText("#events", "is live")
	b.waitText(`#builds tr[data-build="2"]`, "succeeded")
	b.must(b.exec(&injected, `return document.getElementById('buildmarkup') !== null;`))
	if injected {
		t.Error("build output's markup became part of the page")
	}
	shot("09-push-build-log", "#builds")
	shot("09-push-activity", "#activity")

	// 9. Sign out.
	b.click("#signout")
	b.waitText("#signin h1", "Sign in")
	b.open(s.url + "/#/apps/shop")
	b.waitText("#signin h1", "Sign in")
	shot("10-signed-out", "")

	for _, l := range b.consoleLog() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Uncaught") {
			t.Errorf("browser console: %s", l)
		}
	}
}

var tickRE = regexp.MustCompile(`tick (\d+) from web`)

// lastTick returns the last "tick N from web" in the log text, or "".
func lastTick(text string) string {
	m := tickRE.FindAllString(text, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

// gitPushApp deploys the Dockerfile app to app by git push over SSH, with
// a new key added to the admin. It returns a function that commits a
// change of the served page and pushes again, returning git's output.
func gitPushApp(t *testing.T, c *controller.Client, app string) func(page string) (string, error) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev@laptop", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddKey(ctx, string(pub)); err != nil {
		t.Fatal(err)
	}
	a, err := c.App(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, app)
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	// run runs git in the repository; it may be called from another goroutine.
	run := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_CEILING_DIRECTORIES="+dir,
			"GIT_SSH_COMMAND=ssh -i "+key+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	commitAndPush := func(msg string) (string, error) {
		for _, args := range [][]string{{"add", "-A"}, {"-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", msg}} {
			if out, err := run(args...); err != nil {
				return out, err
			}
		}
		start := time.Now()
		out, err := run("push", "paas", "main")
		t.Logf("git push (%s) took %v", msg, time.Since(start).Round(100*time.Millisecond))
		return out, err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"remote", "add", "paas", a.GitURL}} {
		if _, err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := commitAndPush("first"); err != nil {
		t.Fatal(err)
	}
	return func(page string) (string, error) {
		df := strings.Replace(dockerfile, "hello from the shop", page, 1)
		if err := os.WriteFile(filepath.Join(src, "Dockerfile"), []byte(df), 0o644); err != nil {
			return "", err
		}
		return commitAndPush("change the page")
	}
}

// waitHealthy waits until app has n healthy running instances.
func waitHealthy(t *testing.T, c *controller.Client, app string, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ins, err := c.Instances(context.Background(), app)
		healthy := 0
		for _, i := range ins {
			if i.State == "running" && i.Healthy {
				healthy++
			}
		}
		if err == nil && healthy == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d healthy instances (%v), want %d: %+v", app, healthy, err, n, ins)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// paasServer is a "paas server" process of the test's own.
type paasServer struct {
	url, dataDir, namespace string
	cmd                     *exec.Cmd
	log                     *syncBuffer
	done                    chan struct{}
}

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

var listeningRE = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:[0-9]+)`)

// startPaasServer builds paas and runs "paas server" on 127.0.0.1 with
// apps on the test containerd, in a namespace and on bridges of its own
// (named ptst*, which tests/run.sh removes at the end), until the test ends.
func startPaasServer(t *testing.T, sock string) *paasServer {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "paas")
	build := exec.Command("go", "build", "-o", bin, "./cmd/paas")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/paas: %v\n%s", err, out)
	}
	n := os.Getpid() % 10000
	s := &paasServer{dataDir: filepath.Join(t.TempDir(), "data"), namespace: fmt.Sprintf("paas-web-%d", n), log: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "server", "--config=", "--data-dir", s.dataDir,
		"--listen", "127.0.0.1:0", "--ssh-listen", "127.0.0.1:0", "--containerd", sock, "--namespace", s.namespace,
		"--log-level", "info", "--shutdown-timeout", "5s",
		"--bridge", fmt.Sprintf("ptstw%d", n), "--subnet", fmt.Sprintf("10.239.%d.0/24", n%250),
		"--build-bridge", fmt.Sprintf("ptstx%d", n), "--build-subnet", fmt.Sprintf("10.238.%d.0/24", n%250),
		"--stop-grace", "2s", "--health-timeout", "30s", "--cni-plugin-dir", "/usr/lib/cni")
	s.cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("paas server log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for s.url == "" {
		if m := listeningRE.FindStringSubmatch(s.log.String()); m != nil {
			s.url = "http://" + m[1]
			break
		}
		select {
		case <-s.done:
			t.Fatalf("paas server exited:\n%s", s.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("paas server did not listen within a minute:\n%s", s.log.String())
		}
	}
	return s
}

func (s *paasServer) adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// destroyApp destroys app and waits until its containers are gone, so
// that nothing outlives the test.
func (s *paasServer) destroyApp(t *testing.T, c *controller.Client, cc *containerd.Client, app string) {
	ctx := context.Background()
	if err := c.DestroyApp(ctx, app); err != nil {
		t.Errorf("destroy %s: %v", app, err)
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctrs, err := cc.Containers(ctx)
		if err == nil && len(ctrs) == 0 {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Errorf("containers of %s still there a minute after destroying it", app)
}
