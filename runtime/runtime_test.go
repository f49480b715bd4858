package runtime_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"paas/builder/testimage"
	"paas/internal/testenv"
	"paas/runtime"
	"paas/runtime/network"
)

const testImage = "paas.test/busybox:latest"

// TestMain lets the test binary be the instances' log driver, as the paas
// binary is in production: containerd's shim runs it as "BINARY log-driver
// FILE".
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == runtime.LogDriverCommand {
		runtime.RunLogDriver(os.Args[2])
	}
	os.Exit(m.Run())
}

// newTestRuntime returns a runtime on the test containerd, in a namespace
// and on a bridge of its own, with the busybox image imported; at the end
// it checks that nothing is left.
func newTestRuntime(t *testing.T, modify ...func(*runtime.Options)) *runtime.Runtime {
	t.Helper()
	sock := testenv.Containerd(t)
	testenv.Root(t)
	ns := fmt.Sprintf("paas-rt-%d", time.Now().UnixNano()%1e9)
	dir := t.TempDir()
	bridge := fmt.Sprintf("ptstr%d", os.Getpid()%100000)
	nw, err := network.New(network.Config{Name: "paas-rt-test", Bridge: bridge, Subnet: "10.232.0.0/24", StateDir: filepath.Join(dir, "net")})
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opt := runtime.Options{Address: sock, Namespace: ns, Network: nw, LogDir: filepath.Join(dir, "logs"), StopGrace: 2 * time.Second, LogDriver: self}
	for _, m := range modify {
		m(&opt)
	}
	r := runtime.New(opt)
	c, err := containerd.New(sock, containerd.WithDefaultNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := testimage.ImportBusybox(ctx, c, testImage); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		insts, err := r.List(ctx)
		if err != nil {
			t.Errorf("List at cleanup: %v", err)
		}
		for _, i := range insts {
			t.Errorf("instance %s left at the end of the test", i.ID)
			_ = r.Stop(ctx, i.ID)
		}
		_ = c.ImageService().Delete(ctx, testImage)
		r.Close()
		c.Close()
		if err := nw.DeleteBridge(); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	})
	return r
}

func waitHTTP(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStartServeListStop(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	spec := runtime.Spec{
		App: "shop", Release: 3, Process: "web", Number: 2, Image: testImage,
		Command: `mkdir -p /tmp/www && echo "$GREETING from $PAAS_PROCESS of $PAAS_APP $PAAS_RELEASE" > /tmp/www/index.html && exec httpd -f -p $PORT -h /tmp/www`,
		Env:     map[string]string{"GREETING": "hello"},
		Port:    5000, Memory: 64 << 20, CPU: 500,
	}
	inst, err := r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if inst.IP == "" || inst.Address() != inst.IP+":5000" || inst.Name() != "web.2" {
		t.Errorf("Start = %+v", inst)
	}
	body := waitHTTP(t, "http://"+inst.Address()+"/")
	if want := "hello from web.2 of shop v3\n"; body != want {
		t.Errorf("GET instance = %q, want %q", body, want)
	}
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != inst.ID || list[0].State != runtime.StateRunning || list[0].Release != 3 || list[0].Address() != inst.Address() {
		t.Errorf("List = %+v, want the one running instance %+v", list, inst)
	}
	// Limits reached the container's spec.
	c, _ := runtime.Dial(r)
	ctr, _ := c.LoadContainer(ctx, inst.ID)
	sp, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := sp.Linux.Resources
	if res.Memory == nil || *res.Memory.Limit != 64<<20 || res.CPU == nil || *res.CPU.Quota != 50000 || res.Pids == nil || res.Pids.Limit == nil || *res.Pids.Limit != 2048 {
		t.Errorf("container resources = %+v, want 64M memory, 50000/100000 CPU, a pids limit", res)
	}
	// Isolation reached it too: the default profile for the native
	// architecture only, and the reduced capabilities.
	if sc := sp.Linux.Seccomp; sc == nil || sc.DefaultAction != "SCMP_ACT_ERRNO" || len(sc.Architectures) != 1 {
		t.Errorf("container seccomp = %+v, want containerd's default profile for the native architecture only", sc)
	}
	if caps := sp.Process.Capabilities; caps == nil || !slices.Equal(caps.Bounding, runtime.Capabilities) || !slices.Equal(caps.Effective, runtime.Capabilities) || len(caps.Inheritable) != 0 {
		t.Errorf("container capabilities = %+v, want %v", caps, runtime.Capabilities)
	}
	start := time.Now()
	if err := r.Stop(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop took %v (httpd exits on SIGTERM)", time.Since(start))
	if list, _ := r.List(ctx); len(list) != 0 {
		t.Errorf("after Stop, List = %+v", list)
	}
	if err := r.Stop(ctx, inst.ID); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
}

func TestExitAndLogs(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	inst, err := r.Start(ctx, runtime.Spec{App: "shop", Release: 1, Process: "worker", Number: 1, Image: testImage,
		Command: `echo starting; echo "port=${PORT:-none}"; echo oops >&2; exit 3`})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx, inst.ID)
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := r.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].State == runtime.StateStopped {
			if list[0].ExitCode != 3 {
				t.Errorf("exit code = %d, want 3", list[0].ExitCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance did not stop: %+v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}
	lines, err := r.Logs(inst.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	// stdout and stderr are copied apart, so only each stream keeps its order.
	sort.Strings(lines)
	if got := strings.Join(lines, "|"); got != "oops|port=none|starting" {
		t.Errorf("Logs (sorted) = %q, want oops|port=none|starting", got)
	}
	if last, _ := r.Logs(inst.ID, 1); len(last) != 1 {
		t.Errorf("Logs(1) = %q, want one line", last)
	}
}

// TestStopEscalates: a process that ignores SIGTERM is killed after the
// grace period.
func TestStopEscalates(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	inst, err := r.Start(ctx, runtime.Spec{App: "shop", Release: 1, Process: "worker", Number: 1, Image: testImage,
		Command: `trap "" TERM; while true; do sleep 1; done`})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := r.Stop(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("Stop of a TERM-ignoring process took %v, want at least the 2s grace", d)
	}
}

func TestPingRealContainerd(t *testing.T) {
	sock := testenv.Containerd(t)
	r := runtime.New(runtime.Options{Address: sock, Namespace: "paas-test"})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := r.Ping(ctx)
	if err != nil || v == "" {
		t.Fatalf("Ping(%s) = %q, %v; want a version", sock, v, err)
	}
}

func TestPingUnreachable(t *testing.T) {
	for _, addr := range []string{
		filepath.Join(t.TempDir(), "missing.sock"),
		t.TempDir(), // exists, but is no socket
	} {
		r := runtime.New(runtime.Options{Address: addr})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := r.Ping(ctx)
		cancel()
		r.Close()
		if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("Ping(%s) = %v; want an 'unreachable' error naming the address", addr, err)
		}
	}
}
