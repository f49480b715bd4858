package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"paas/builder/testimage"
	"paas/controller"
	"paas/internal/testenv"
	"paas/runtime"
	"paas/runtime/network"
)

const testImage = "paas.test/busybox:latest"

// TestMain lets the test binary be the instances' log driver, as the paas
// binary is in production: containerd's shim runs it as "BINARY log-driver
// FILE". (Without a log driver, containerd 1.6's shim writes both streams
// to one file and closes it when stdout ends, which can lose stderr's last
// lines.)
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == runtime.LogDriverCommand {
		runtime.RunLogDriver(os.Args[2])
	}
	os.Exit(m.Run())
}

var rigs atomic.Int64

// httpdCommand serves "<greeting> from <instance> of <release>" on $PORT.
const httpdCommand = `mkdir -p /tmp/www && echo "${GREETING:-hi} from $PAAS_PROCESS of $PAAS_RELEASE" > /tmp/www/index.html && exec httpd -f -p $PORT -h /tmp/www`

type rig struct {
	t      *testing.T
	dir    string
	rt     *runtime.Runtime
	ctl    *Controller
	client *controller.Client
	url    string // the API's
	token  string
	build  Builder // the controller's builder; nil for none
	log    syncBuf
	cancel context.CancelFunc
	done   chan struct{}
}

// newRig runs a controller with a real runtime on the test containerd, in
// a namespace and on a bridge of its own.
func newRig(t *testing.T, sched SchedulerOptions) *rig {
	t.Helper()
	sock := testenv.Containerd(t)
	testenv.Root(t)
	r := &rig{t: t, dir: t.TempDir()}
	ns := fmt.Sprintf("paas-ctl-%d", time.Now().UnixNano()%1e9)
	// A bridge and subnet of its own for each rig: reusing one right after
	// it was deleted can meet stale neighbour entries.
	n := rigs.Add(1)
	nw, err := network.New(network.Config{Name: "paas-ctl-test", Bridge: fmt.Sprintf("ptsts%d-%d", os.Getpid()%10000, n),
		Subnet: fmt.Sprintf("10.233.%d.0/24", n%250), StateDir: filepath.Join(r.dir, "net")})
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r.rt = runtime.New(runtime.Options{Address: sock, Namespace: ns, Network: nw, LogDir: filepath.Join(r.dir, "logs"),
		StopGrace: time.Second, LogDriver: self})
	c, err := containerd.New(sock, containerd.WithDefaultNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testimage.ImportBusybox(context.Background(), c, testImage); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controller log:\n%s", r.log.String())
		}
		r.stop()
		ctx := context.Background()
		insts, _ := r.rt.List(ctx)
		for _, in := range insts {
			_ = r.rt.Stop(ctx, in.ID)
		}
		_ = c.ImageService().Delete(ctx, testImage)
		c.Close()
		r.rt.Close()
		if err := nw.DeleteBridge(); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	})
	if sched.Interval == 0 {
		sched.Interval = 300 * time.Millisecond
	}
	if sched.HealthTimeout == 0 {
		sched.HealthTimeout = 10 * time.Second
	}
	if sched.SettleTime == 0 {
		sched.SettleTime = 500 * time.Millisecond
	}
	if sched.DrainTime == 0 {
		sched.DrainTime = 500 * time.Millisecond
	}
	r.start(sched)
	return r
}

// start opens the controller on the rig's data directory and runs it.
func (r *rig) start(sched SchedulerOptions) {
	t := r.t
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(&r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctl, err := Open(ctx, Options{DataDir: filepath.Join(r.dir, "data"), Runtime: r.rt, Scheduler: sched, LogDir: r.rt.LogDir(), Logger: logger, Builder: r.build})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := ctl.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if token == "" {
		token = r.token // the state was bootstrapped by the first start
	}
	r.token = token
	ts := httptest.NewServer(ctl.Handler())
	t.Cleanup(ts.Close)
	r.client, _ = controller.NewClient(ts.URL, token, nil)
	r.url = ts.URL
	r.ctl = ctl
	rctx, cancel := context.WithCancel(ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { ctl.Run(rctx); close(r.done) }()
}

// stop ends the controller's loop, leaving instances running, as a crash
// of paas server would.
func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.ctl.Close()
		r.cancel = nil
	}
}

// waitFor polls cond until it holds or the time is up.
func (r *rig) waitFor(what string, d time.Duration, cond func() (bool, string)) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// webInstances waits until the app has exactly n healthy web instances
// of release v and nothing else, and returns them.
func (r *rig) webInstances(app string, n, v int) []controller.Instance {
	r.t.Helper()
	var got []controller.Instance
	r.waitFor(fmt.Sprintf("%d healthy web instances of v%d", n, v), 40*time.Second, func() (bool, string) {
		ins, err := r.client.Instances(context.Background(), app)
		if err != nil {
			return false, err.Error()
		}
		got = ins
		healthy := 0
		for _, in := range ins {
			if in.Release != v || in.State != "running" {
				return false, fmt.Sprintf("%+v", ins)
			}
			healthy++
		}
		return healthy == n, fmt.Sprintf("%+v", ins)
	})
	return got
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func get(url string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second} // generous: the machine may be busy
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

func (r *rig) deploy(app string) {
	r.t.Helper()
	ctx := context.Background()
	if _, err := r.client.CreateApp(ctx, app); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.client.CreateRelease(ctx, app, controller.NewRelease{Image: testImage, ProcessTypes: map[string]string{"web": httpdCommand}}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) scale(app string, q int) {
	r.t.Helper()
	if _, err := r.client.Scale(context.Background(), app, []controller.ProcessUpdate{{Type: "web", Quantity: &q}}); err != nil {
		r.t.Fatal(err)
	}
}

func TestScaleUpAndDown(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	r.deploy("shop")
	r.webInstances("shop", 1, 1)
	r.scale("shop", 4)
	ins := r.webInstances("shop", 4, 1)
	ips := map[string]bool{}
	for _, in := range ins {
		body, err := get("http://" + in.Address + "/")
		if err != nil || body != "hi from "+in.Name+" of v1\n" {
			t.Errorf("GET %s (%s) = %q, %v", in.Address, in.Name, body, err)
		}
		ips[strings.Split(in.Address, ":")[0]] = true
	}
	if len(ips) != 4 {
		t.Errorf("4 instances share addresses: %v", ins)
	}
	rel, _ := r.client.Release(context.Background(), "shop", 1)
	if rel.Status != controller.ReleaseSucceeded {
		t.Errorf("release v1 status = %s, want succeeded", rel.Status)
	}
	r.scale("shop", 1)
	r.webInstances("shop", 1, 1)
	r.scale("shop", 0)
	r.webInstances("shop", 0, 1)
	// Containers are really gone, not just hidden.
	r.waitFor("no containers", 10*time.Second, func() (bool, string) {
		insts, _ := r.rt.List(context.Background())
		return len(insts) == 0, fmt.Sprint(insts)
	})
}

// TestRolloutUnderLoad: a config change and a rollback each roll out
// while a bounded load, choosing endpoints from the routing table as a
// router does, sees no failed request.
func TestRolloutUnderLoad(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	r.deploy("shop")
	r.scale("shop", 2)
	r.webInstances("shop", 2, 1)
	ctx := context.Background()

	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tb := r.ctl.routes.Current()
				var eps []controller.Endpoint
				for _, a := range tb.Apps {
					if a.App == "shop" {
						eps = a.Endpoints
					}
				}
				if len(eps) == 0 {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, "no endpoint in the table")
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				ep := eps[i%len(eps)]
				if _, err := get("http://" + ep.Address + "/"); err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s (%s v%d): %v", ep.Address, ep.Instance, ep.Release, err))
					mu.Unlock()
				} else {
					ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	greeting := "bonjour"
	if _, err := r.client.SetConfig(ctx, "shop", map[string]*string{"GREETING": &greeting}); err != nil {
		t.Fatal(err)
	}
	r.webInstances("shop", 2, 2)
	if _, err := r.client.Rollback(ctx, "shop", 1); err != nil {
		t.Fatal(err)
	}
	ins := r.webInstances("shop", 2, 3)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	body, _ := get("http://" + ins[0].Address + "/")
	if !strings.HasPrefix(body, "hi from") {
		t.Errorf("after rollback to v1, body = %q; want v1's config (no GREETING)", body)
	}
	t.Logf("load during two rollouts: %d requests ok, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Errorf("%d requests failed (want 0) of %d; first failures: %v", failed.Load(), ok.Load()+failed.Load(), first(failures, 5))
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestFailedReleaseKeepsOldServing: a release whose web process exits at
// start-up is marked failed with its last log lines; v1 keeps serving.
func TestFailedReleaseKeepsOldServing(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	r.deploy("shop")
	before := r.webInstances("shop", 1, 1)
	ctx := context.Background()
	// The pause before the exit: this rig's runtime has no log driver, and
	// containerd 1.6's shim, writing a log file itself (cio.LogFile), now
	// and then loses the output of a process that exits at once. paas
	// server always runs the log driver, whose capture of a crash at
	// start-up tests/kinds_test.go checks through git push.
	_, err := r.client.CreateRelease(ctx, "shop", controller.NewRelease{Image: testImage, ProcessTypes: map[string]string{"web": `echo "cannot connect to the database" >&2; sleep 0.5; exit 1`}})
	if err != nil {
		t.Fatal(err)
	}
	var rel controller.Release
	r.waitFor("v2 to fail", 30*time.Second, func() (bool, string) {
		rel, _ = r.client.Release(ctx, "shop", 2)
		return rel.Status == controller.ReleaseFailed, rel.Status
	})
	if !strings.Contains(rel.Reason, "cannot connect to the database") || !strings.Contains(rel.Reason, "web.1") {
		t.Errorf("failure reason = %q; want the instance and its last log line", rel.Reason)
	}
	after := r.webInstances("shop", 1, 1)
	if after[0].ID != before[0].ID {
		t.Errorf("v1's instance was replaced (%s → %s); it should have kept serving", before[0].ID, after[0].ID)
	}
	// On a loaded machine the first request may meet a passing "no route
	// to host" (neighbour discovery); v1 must answer within seconds.
	r.waitFor("v1 to answer", 10*time.Second, func() (bool, string) {
		body, err := get("http://" + after[0].Address + "/")
		return err == nil && strings.Contains(body, "of v1"), fmt.Sprint(body, err)
	})
	if a, _ := r.client.App(ctx, "shop"); a.Release != 1 {
		t.Errorf("current release = v%d, want v1", a.Release)
	}
}

// TestRestartAdoptsRunning: a new controller on the same state adopts the
// running instances: no restart, no duplicate, no orphan left.
func TestRestartAdoptsRunning(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	for _, app := range []string{"one", "two", "three"} {
		r.deploy(app)
	}
	r.scale("two", 2)
	ids := map[string]bool{}
	for app, n := range map[string]int{"one": 1, "two": 2, "three": 1} {
		for _, in := range r.webInstances(app, n, 1) {
			ids[in.ID] = true
		}
	}
	r.stop()
	// An orphan: an instance of an app the controller does not know.
	orphan, err := r.rt.Start(context.Background(), runtime.Spec{App: "ghost", Release: 1, Process: "web", Number: 1, Image: testImage, Command: "sleep 600"})
	if err != nil {
		t.Fatal(err)
	}
	r.start(SchedulerOptions{Interval: 300 * time.Millisecond, HealthTimeout: 10 * time.Second, SettleTime: 500 * time.Millisecond, DrainTime: 500 * time.Millisecond})
	r.waitFor("the orphan to be removed", 20*time.Second, func() (bool, string) {
		insts, _ := r.rt.List(context.Background())
		for _, in := range insts {
			if in.ID == orphan.ID {
				return false, "orphan still there"
			}
		}
		return len(insts) == 4, fmt.Sprint(len(insts), " instances")
	})
	time.Sleep(time.Second) // a few more reconciles
	insts, _ := r.rt.List(context.Background())
	for _, in := range insts {
		if !ids[in.ID] {
			t.Errorf("instance %s was started after the restart; the old ones should have been adopted", in.ID)
		}
	}
	if len(insts) != 4 {
		t.Errorf("%d instances after restart, want the 4 of before", len(insts))
	}
}

// TestCrashLoopBacksOff: a process that keeps crashing is restarted at
// growing intervals, and each crash is an event.
func TestCrashLoopBacksOff(t *testing.T) {
	r := newRig(t, SchedulerOptions{SettleTime: 300 * time.Millisecond, Backoff: 400 * time.Millisecond})
	ctx := context.Background()
	if _, err := r.client.CreateApp(ctx, "flaky"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.CreateRelease(ctx, "flaky", controller.NewRelease{Image: testImage, ProcessTypes: map[string]string{"worker": "sleep 0.6; exit 2"}}); err != nil {
		t.Fatal(err)
	}
	one := 1
	if _, err := r.client.Scale(ctx, "flaky", []controller.ProcessUpdate{{Type: "worker", Quantity: &one}}); err != nil {
		t.Fatal(err)
	}
	var crashes []string
	r.waitFor("4 crashes", 40*time.Second, func() (bool, string) {
		evs, _ := r.client.Events(ctx, "flaky")
		crashes = crashes[:0]
		for _, e := range evs {
			if strings.Contains(e.Message, "crashed") {
				crashes = append(crashes, e.Message)
			}
		}
		return len(crashes) >= 4, strings.Join(crashes, "; ")
	})
	var waits []time.Duration
	for _, c := range crashes[:4] {
		i := strings.LastIndex(c, " in ")
		d, err := time.ParseDuration(c[i+4:])
		if err != nil {
			t.Fatalf("crash event %q: no restart delay", c)
		}
		waits = append(waits, d)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] <= waits[i-1] {
			t.Errorf("restart delays %v do not grow", waits)
		}
	}
	t.Logf("crash events: %v", crashes[:4])
}

// TestRunAndLogs: paas run prints the process's output and returns its
// exit code; paas logs merges instance output and platform events.
func TestRunAndLogs(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	r.deploy("shop")
	r.webInstances("shop", 1, 1)
	ctx := context.Background()
	var out strings.Builder
	code, err := r.client.Run(ctx, "shop", `echo "$PAAS_PROCESS of $PAAS_APP"; echo to-stderr >&2; printf no-newline; exit 3`, false, &out)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || !strings.Contains(out.String(), "run.1 of shop") || !strings.Contains(out.String(), "to-stderr") ||
		!strings.HasSuffix(out.String(), "no-newline\n") {
		t.Errorf("Run = %d, %q; want 3 and the output, a last line with no newline included", code, out.String())
		// Was the output late or lost? The one-off's log, a while later:
		time.Sleep(3 * time.Second)
		logs, _ := filepath.Glob(filepath.Join(r.dir, "logs", "*run*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s, 3 s later: %q", l, b)
		}
	}
	// The one-off is gone afterwards.
	insts, _ := r.rt.List(ctx)
	for _, in := range insts {
		if in.OneOff {
			t.Errorf("one-off %s left behind", in.ID)
		}
	}
	if _, err := r.client.Run(ctx, "shop", "echo detached-hello", true, io.Discard); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	r.waitFor("the logs to show the detached run and the events", 15*time.Second, func() (bool, string) {
		logs.Reset()
		if err := r.client.Logs(ctx, "shop", controller.LogOptions{Lines: 200}, &logs); err != nil {
			return false, err.Error()
		}
		s := logs.String()
		return strings.Contains(s, "app[run.2]: detached-hello") && strings.Contains(s, "paas[scheduler]: web.1 of v1 is healthy"), s
	})
	var web strings.Builder
	if err := r.client.Logs(ctx, "shop", controller.LogOptions{Process: "web"}, &web); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(web.String(), "run.") || strings.Contains(web.String(), "paas[") {
		t.Errorf("logs --ps web shows other lines:\n%s", web.String())
	}
	if _, err := r.client.Run(ctx, "nope", "true", false, io.Discard); err == nil {
		t.Error("Run on a missing app succeeded")
	}
}

// TestHTTPHealthCheck: with healthchecks:set web --path, a release whose
// instances do not answer the path is abandoned; one that does goes live.
func TestHTTPHealthCheck(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	ctx := context.Background()
	if _, err := r.client.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.SetHealthCheck(ctx, "shop", controller.HealthCheck{Type: "web", Path: "/health", Timeout: 1, Attempts: 3}); err != nil {
		t.Fatal(err)
	}
	// v1 serves /health.
	ok := `mkdir -p /tmp/www && echo ok > /tmp/www/health && echo v1 > /tmp/www/index.html && exec httpd -f -p $PORT -h /tmp/www`
	if _, err := r.client.CreateRelease(ctx, "shop", controller.NewRelease{Image: testImage, ProcessTypes: map[string]string{"web": ok}}); err != nil {
		t.Fatal(err)
	}
	r.webInstances("shop", 1, 1)
	// v2 listens but has no /health: 404, so it must not go live.
	bad := `mkdir -p /tmp/www && echo v2 > /tmp/www/index.html && exec httpd -f -p $PORT -h /tmp/www`
	if _, err := r.client.CreateRelease(ctx, "shop", controller.NewRelease{Image: testImage, ProcessTypes: map[string]string{"web": bad}}); err != nil {
		t.Fatal(err)
	}
	var rel controller.Release
	r.waitFor("v2 to fail its health check", 30*time.Second, func() (bool, string) {
		rel, _ = r.client.Release(ctx, "shop", 2)
		return rel.Status == controller.ReleaseFailed, rel.Status
	})
	if !strings.Contains(rel.Reason, "GET /health") || !strings.Contains(rel.Reason, "3 attempts") || !strings.Contains(rel.Reason, "404") {
		t.Errorf("failure reason = %q; want the path, the attempts and the status", rel.Reason)
	}
	ins := r.webInstances("shop", 1, 1)
	if body, err := get("http://" + ins[0].Address + "/"); err != nil || body != "v1\n" {
		t.Errorf("v1 answers %q, %v", body, err)
	}
}

// TestLogsFollow: a followed log stream delivers new lines as they come,
// not when a buffer fills.
func TestLogsFollow(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	r.deploy("shop")
	r.webInstances("shop", 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuf
	done := make(chan error, 1)
	go func() { done <- r.client.Logs(ctx, "shop", controller.LogOptions{Lines: 1, Follow: true}, &out) }()
	time.Sleep(500 * time.Millisecond)
	if _, err := r.client.Run(context.Background(), "shop", "echo hello-follow", true, io.Discard); err != nil {
		t.Fatal(err)
	}
	r.waitFor("the new line in the followed stream", 15*time.Second, func() (bool, string) {
		return strings.Contains(out.String(), "hello-follow"), out.String()
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Logs(follow) ended with %v after cancel, want nil", err)
	}
}

// TestDestroyForgets: once apps:destroy answers, nothing of the app is
// left by its name: its instances are stopped, their logs, the router's
// access lines, its events and its build output are gone, and another
// user who creates an app of the same name reads none of it.
func TestDestroyForgets(t *testing.T) {
	r := newRig(t, SchedulerOptions{})
	ctx := context.Background()
	r.deploy("shop")
	r.webInstances("shop", 1, 1)
	if _, err := r.client.Run(ctx, "shop", "echo secret-of-the-first-owner", true, io.Discard); err != nil {
		t.Fatal(err)
	}
	logDir := r.rt.LogDir()
	// The router's access lines, as paas server's edge writes them.
	access := filepath.Join(logDir, "shop.router.log")
	line := time.Now().UTC().Format(time.RFC3339Nano) + ` stdout at=info method=GET path="/reset?token=first-owner-token" status=200` + "\n"
	if err := os.WriteFile(access, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	buildLogs := filepath.Join(r.dir, "data", BuildLogDir, "shop")
	if err := os.MkdirAll(buildLogs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(buildLogs, "1.log"), []byte("build output of the first owner\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var before strings.Builder
	r.waitFor("the first owner's lines in paas logs", 15*time.Second, func() (bool, string) {
		before.Reset()
		if err := r.client.Logs(ctx, "shop", controller.LogOptions{Lines: 200}, &before); err != nil {
			return false, err.Error()
		}
		s := before.String()
		return strings.Contains(s, "secret-of-the-first-owner") && strings.Contains(s, "first-owner-token") &&
			strings.Contains(s, "paas[scheduler]: web.1 of v1 is healthy"), s
	})

	if err := r.client.DestroyApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if insts, _ := r.rt.List(ctx); len(insts) != 0 {
		t.Errorf("after apps:destroy answered, instances are left: %+v", insts)
	}
	left, _ := filepath.Glob(filepath.Join(logDir, "shop.*"))
	if _, err := os.Stat(buildLogs); err == nil {
		left = append(left, buildLogs)
	}
	if len(left) != 0 {
		t.Errorf("after apps:destroy answered, files of the app are left: %q", left)
	}

	// Another user creates an app of the same name.
	cu, err := r.client.CreateUser(ctx, controller.NewUser{Name: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	mallory, _ := controller.NewClient(r.url, cu.Token.Secret, nil)
	if _, err := mallory.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a late line or event would have come by now
	var after strings.Builder
	if err := mallory.Logs(ctx, "shop", controller.LogOptions{Lines: 1000}, &after); err != nil {
		t.Fatal(err)
	}
	if after.String() != "" {
		t.Errorf("the new owner of shop reads in paas logs:\n%s\nwant nothing", after.String())
	}
	evs, err := mallory.Events(ctx, "shop")
	if err != nil || len(evs) != 0 {
		t.Errorf("the new owner of shop reads events %+v, %v; want none", evs, err)
	}
	builds, err := mallory.Builds(ctx, "shop")
	if err != nil || len(builds) != 0 {
		t.Errorf("the new owner of shop reads builds %+v, %v; want none", builds, err)
	}
}

// heldBuilder is a build that runs until released, then fails with err.
type heldBuilder struct {
	started, release chan struct{}
	err              error
}

func (b *heldBuilder) Build(ctx context.Context, req BuildRequest) (BuildResult, error) {
	fmt.Fprintln(req.Output, "build output of the first owner")
	close(b.started)
	<-b.release
	return BuildResult{}, b.err
}

// TestDestroyDuringBuild: a build still running when its app is destroyed
// leaves nothing for a new app of the same name: not its end in the events
// nor its output.
func TestDestroyDuringBuild(t *testing.T) {
	sched := SchedulerOptions{Interval: 300 * time.Millisecond, HealthTimeout: 10 * time.Second, SettleTime: 500 * time.Millisecond, DrainTime: 500 * time.Millisecond}
	r := newRig(t, sched)
	r.stop()
	b := &heldBuilder{started: make(chan struct{}), release: make(chan struct{}), err: errors.New("exploded: detail-of-the-first-owner")}
	r.build = b
	r.start(sched)
	ctx := context.Background()
	if _, err := r.client.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	deployed := make(chan error, 1)
	go func() {
		_, err := r.ctl.Deploy(ctx, DeployRequest{App: "shop", User: "admin", Rev: "0123456789", Source: strings.NewReader(""), Output: io.Discard})
		deployed <- err
	}()
	<-b.started
	if err := r.client.DestroyApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	cu, err := r.client.CreateUser(ctx, controller.NewUser{Name: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	mallory, _ := controller.NewClient(r.url, cu.Token.Secret, nil)
	if _, err := mallory.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	close(b.release)
	if err := <-deployed; err == nil {
		t.Error("the deploy of a destroyed app succeeded")
	}
	evs, err := mallory.Events(ctx, "shop")
	if err != nil || len(evs) != 0 {
		t.Errorf("the new owner of shop reads events %+v, %v; want none", evs, err)
	}
	var logs strings.Builder
	if err := mallory.Logs(ctx, "shop", controller.LogOptions{Lines: 1000}, &logs); err != nil || logs.String() != "" {
		t.Errorf("the new owner of shop reads in paas logs %q, %v; want nothing", logs.String(), err)
	}
	if builds, err := mallory.Builds(ctx, "shop"); err != nil || len(builds) != 0 {
		t.Errorf("the new owner of shop reads builds %+v, %v; want none", builds, err)
	}
}
