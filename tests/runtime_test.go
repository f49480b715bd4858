package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"paas/builder/testimage"
	"paas/controller"
	"paas/internal/testenv"
)

const busyboxImage = "paas.test/busybox:latest"

var servers atomic.Int64

// webCommand prints a line, then serves "<app> <instance> <release>" on $PORT.
const webCommand = `echo "booting $PAAS_PROCESS"; mkdir -p /tmp/w; echo "$PAAS_APP $PAAS_PROCESS $PAAS_RELEASE" > /tmp/w/index.html; exec httpd -f -p $PORT -h /tmp/w`

// runtimeServer starts a server that runs apps on the test containerd, in
// a namespace holding the busybox image and on a bridge of its own.
func runtimeServer(t *testing.T, dataDir, ns string, extra ...string) *testServer {
	t.Helper()
	sock := testenv.Containerd(t)
	testenv.Root(t)
	// Bridges and subnets of its own for each server: reusing one right
	// after it was deleted can meet stale neighbour entries.
	n := servers.Add(1)
	// Subnets start at a number taken from the process, so that two test
	// runs going on at once on one machine are unlikely to share one.
	sub := (int64(os.Getpid()) + n) % 250
	args := append([]string{
		"--bridge", fmt.Sprintf("ptste%d-%d", os.Getpid()%10000, n), "--subnet", fmt.Sprintf("10.235.%d.0/24", sub),
		"--stop-grace", "2s", "--health-timeout", "20s",
		"--build-bridge", fmt.Sprintf("ptstf%d-%d", os.Getpid()%10000, n), "--build-subnet", fmt.Sprintf("10.237.%d.0/24", sub),
		"--cni-plugin-dir", "/usr/lib/cni",
	}, extra...)
	s := startServer(t, serverOptions{containerd: sock, dataDir: dataDir, namespace: ns, extra: args})
	s.args = args
	return s
}

// restartServer starts a server in the place of s, which has stopped: the
// same data, namespace and networks, as after a crash or an upgrade.
func restartServer(t *testing.T, s *testServer, dataDir, ns string) *testServer {
	t.Helper()
	s2 := startServer(t, serverOptions{containerd: s.containerd, dataDir: dataDir, namespace: ns, extra: s.args})
	s2.args = s.args
	return s2
}

// appRig is a server that runs apps (see runtimeServer), the busybox image
// in its namespace, a containerd client of that namespace, and the admin
// logged in.
type appRig struct {
	s            *testServer
	c            *containerd.Client
	ns           string
	admin, token string // the admin's CLI home and API token
}

func newAppRig(t *testing.T, extra ...string) *appRig {
	t.Helper()
	r := &appRig{ns: "paas-e2e-rt-" + randomHex(4)}
	r.s = runtimeServer(t, filepath.Join(t.TempDir(), "data"), r.ns, extra...)
	r.c = importBusybox(t, r.ns)
	t.Cleanup(func() { r.c.Close() }) // tests/run.sh removes the ptst* bridges at the end
	r.admin, r.token = loginAdmin(t, r.s)
	// Whatever the test leaves, even when it fails half-way: destroy its
	// apps while the server still runs, so that no container, network
	// namespace or iptables rule outlives the test (tests/run.sh checks).
	t.Cleanup(func() {
		select {
		case <-r.s.done:
			return // killed by the test, which cleans up after itself
		default:
		}
		// apps:destroy answers once the app's instances have stopped
		// (each up to the stop grace): destroy them all at once.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := r.s.client(t, r.token)
		apps, err := c.Apps(ctx)
		if err != nil {
			t.Logf("cleanup: list apps: %v", err)
			return
		}
		var wg sync.WaitGroup
		for _, a := range apps {
			wg.Go(func() {
				if err := c.DestroyApp(ctx, a.Name); err != nil {
					t.Logf("cleanup: destroy %s: %v", a.Name, err)
				}
			})
		}
		wg.Wait()
		for ctx.Err() == nil {
			if ctrs, err := r.c.Containers(ctx); err != nil || len(ctrs) == 0 {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("cleanup: containers of destroyed apps still there after a minute")
	})
	return r
}

// destroy destroys an app and waits until its containers are gone.
func (r *appRig) destroy(t *testing.T, app string) {
	t.Helper()
	mustCLI(t, r.admin, "apps:destroy", app, "--confirm", app)
	waitUntil(t, "no containers left", 30*time.Second, func() (bool, string) {
		ctrs, err := r.c.Containers(context.Background())
		return err == nil && len(ctrs) == 0, fmt.Sprint(len(ctrs), err)
	})
}

func importBusybox(t *testing.T, ns string) *containerd.Client {
	t.Helper()
	c, err := containerd.New(testenv.Containerd(t), containerd.WithDefaultNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testimage.ImportBusybox(context.Background(), c, busyboxImage); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestAppsRunAndSurviveKill9: apps run as containers through the real
// binary; logs, ps and run work; after kill -9 of paas server every
// container keeps serving, and the restarted server adopts them with no
// duplicate and no orphan.
func TestAppsRunAndSurviveKill9(t *testing.T) {
	ns := "paas-e2e-rt-" + randomHex(4)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := runtimeServer(t, dataDir, ns)
	c := importBusybox(t, ns)
	defer c.Close()
	admin, token := loginAdmin(t, s)
	apps := []string{"one", "two", "three"}
	for _, app := range apps {
		mustCLI(t, admin, "apps:create", app)
		mustCLI(t, admin, "releases:create", "-a", app, "--image", busyboxImage, "--process", "web="+webCommand)
	}
	mustCLI(t, admin, "scale", "-a", "two", "web=2")

	running := func(app string, n int) []controller.Instance {
		var ins []controller.Instance
		waitUntil(t, fmt.Sprintf("%d running instances of %s", n, app), 40*time.Second, func() (bool, string) {
			out, _, err := cli(t, admin, "ps", "-a", app, "--json")
			if err != nil {
				return false, err.Error()
			}
			ins = decodeJSON[[]controller.Instance](t, out)
			up := 0
			for _, in := range ins {
				if in.State == "running" && in.Healthy {
					up++
				}
			}
			return up == n && len(ins) == n, out
		})
		return ins
	}
	before := map[string]controller.Instance{}
	for _, app := range apps {
		n := 1
		if app == "two" {
			n = 2
		}
		for _, in := range running(app, n) {
			body, err := httpGet("http://" + in.Address + "/")
			if want := app + " " + in.Name + " v1\n"; err != nil || body != want {
				t.Errorf("GET %s (%s %s) = %q, %v; want %q", in.Address, app, in.Name, body, err, want)
			}
			before[in.ID] = in
		}
	}

	// Logs: the instance's own output (through the log driver, with its
	// time) and the platform's events.
	waitUntil(t, "logs of one", 15*time.Second, func() (bool, string) {
		out, _, _ := cli(t, admin, "logs", "-a", "one")
		return strings.Contains(out, "app[web.1]: booting web.1") && strings.Contains(out, "paas[scheduler]: web.1 of v1 is healthy"), out
	})
	// A one-off run prints its output and exits with its code.
	stdout, _, err := cli(t, admin, "run", "-a", "one", "--", `sh -c 'echo $PAAS_PROCESS; exit 3'`)
	if code := exitCode(err); code != 3 || !strings.Contains(stdout, "run.1") {
		t.Errorf("paas run = exit %d, %q; want exit 3 and run.1", code, stdout)
	}

	// kill -9 the server: the apps keep serving.
	s.kill9(t)
	for _, in := range before {
		if body, err := httpGet("http://" + in.Address + "/"); err != nil || !strings.Contains(body, in.Name) {
			t.Errorf("with paas server down, %s (%s) answered %q, %v", in.Name, in.Address, body, err)
		}
	}
	s2 := restartServer(t, s, dataDir, ns)
	login(t, s2, admin, "admin", token)
	time.Sleep(3 * time.Second) // several reconciles
	after := map[string]bool{}
	for _, app := range apps {
		n := 1
		if app == "two" {
			n = 2
		}
		for _, in := range running(app, n) {
			after[in.ID] = true
			if _, ok := before[in.ID]; !ok {
				t.Errorf("%s %s (%s) was started after the restart; it should have been adopted", app, in.Name, in.ID)
			}
		}
	}
	ctrs, err := c.Containers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ctr := range ctrs {
		ids = append(ids, ctr.ID())
		if !after[ctr.ID()] {
			t.Errorf("container %s is neither an instance nor expected: an orphan or a duplicate", ctr.ID())
		}
	}
	sort.Strings(ids)
	t.Logf("after kill -9 and restart: %d containers, the same %d instances as before", len(ids), len(before))

	// Destroying the apps removes their containers.
	for _, app := range apps {
		mustCLI(t, admin, "apps:destroy", app, "--confirm", app)
	}
	waitUntil(t, "no containers left", 30*time.Second, func() (bool, string) {
		ctrs, err := c.Containers(context.Background())
		return err == nil && len(ctrs) == 0, fmt.Sprint(len(ctrs), err)
	})
}

func decodeJSON[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not a JSON %T: %v\n%s", v, err, out)
	}
	return v
}
