package runtime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"paas/builder/testimage"
	"paas/controller"
	"paas/controller/server"
	"paas/internal/testenv"
	"paas/runtime"
	"paas/runtime/network"
)

const image = "paas.bench/busybox:latest"

type rig struct {
	sock, ns string
	rt       *runtime.Runtime
	nw       *network.Network
	c        *containerd.Client
}

func newRig(b *testing.B) *rig {
	b.Helper()
	sock := testenv.Containerd(b)
	testenv.Root(b)
	r := &rig{sock: sock, ns: fmt.Sprintf("paas-bench-%d", time.Now().UnixNano()%1e9)}
	dir := b.TempDir()
	var err error
	r.nw, err = network.New(network.Config{Name: "paas-bench", Bridge: fmt.Sprintf("ptstb%d", os.Getpid()%100000), Subnet: "10.236.0.0/24", StateDir: filepath.Join(dir, "net")})
	if err != nil {
		b.Fatal(err)
	}
	r.rt = runtime.New(runtime.Options{Address: sock, Namespace: r.ns, Network: r.nw, LogDir: filepath.Join(dir, "logs"), StopGrace: time.Second})
	if r.c, err = containerd.New(sock, containerd.WithDefaultNamespace(r.ns)); err != nil {
		b.Fatal(err)
	}
	if _, err := testimage.ImportBusybox(context.Background(), r.c, image); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx := context.Background()
		ins, _ := r.rt.List(ctx)
		for _, in := range ins {
			_ = r.rt.Stop(ctx, in.ID)
		}
		_ = r.c.ImageService().Delete(ctx, image)
		r.c.Close()
		r.rt.Close()
		_ = r.nw.DeleteBridge()
	})
	return r
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// BenchmarkStartVsCtr times create → process running for a paas instance
// (container, writable layer, CNI network namespace, limits, log file)
// and for "ctr run -d" of the same image (no network), alternately.
func BenchmarkStartVsCtr(b *testing.B) {
	r := newRig(b)
	ctx := context.Background()
	var paas, ctr []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		in, err := r.rt.Start(ctx, runtime.Spec{App: "bench", Release: 1, Process: "web", Number: i + 1, Image: image, Command: "sleep 600", Port: 5000, Memory: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		paas = append(paas, time.Since(t0))
		_ = r.rt.Stop(ctx, in.ID)

		id := fmt.Sprintf("ctr-%d", i)
		t0 = time.Now()
		out, err := exec.Command("ctr", "--address", r.sock, "-n", r.ns, "run", "-d", image, id, "sleep", "600").CombinedOutput()
		if err != nil {
			b.Fatalf("ctr run: %v: %s", err, out)
		}
		ctr = append(ctr, time.Since(t0))
		_ = exec.Command("ctr", "--address", r.sock, "-n", r.ns, "task", "kill", "-s", "SIGKILL", id).Run()
		for k := 0; k < 50; k++ {
			if exec.Command("ctr", "--address", r.sock, "-n", r.ns, "task", "rm", id).Run() == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = exec.Command("ctr", "--address", r.sock, "-n", r.ns, "container", "rm", id).Run()
	}
	p, c := median(paas), median(ctr)
	b.ReportMetric(float64(p.Microseconds())/1000, "paas-ms")
	b.ReportMetric(float64(c.Microseconds())/1000, "ctr-ms")
	b.ReportMetric(float64(p)/float64(c), "paas/ctr")
	b.Logf("start latency over %d runs (median): paas %v, ctr run %v, ratio %.2f", b.N, p, c, float64(p)/float64(c))
}

// BenchmarkScale times, through the controller, paas scale web=2 and
// web=8 from one instance until all are healthy.
func BenchmarkScale(b *testing.B) {
	r := newRig(b)
	ctx := context.Background()
	ctl, err := server.Open(ctx, server.Options{DataDir: b.TempDir(), Runtime: r.rt, LogDir: r.rt.LogDir(),
		Scheduler: server.SchedulerOptions{Interval: 100 * time.Millisecond, DrainTime: 100 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	defer ctl.Close()
	token, _, err := ctl.Bootstrap(ctx)
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ctl.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	h := ctl.Handler()
	srv := newLocalServer(b, h)
	client, _ := controller.NewClient(srv, token, nil)
	if _, err := client.CreateApp(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	cmd := `mkdir -p /tmp/w && echo ok > /tmp/w/index.html && exec httpd -f -p $PORT -h /tmp/w`
	if _, err := client.CreateRelease(ctx, "bench", controller.NewRelease{Image: image, ProcessTypes: map[string]string{"web": cmd}}); err != nil {
		b.Fatal(err)
	}
	scaleTo := func(n int) time.Duration {
		t0 := time.Now()
		if _, err := client.Scale(ctx, "bench", []controller.ProcessUpdate{{Type: "web", Quantity: &n}}); err != nil {
			b.Fatal(err)
		}
		for time.Since(t0) < 2*time.Minute {
			ins, _ := client.Instances(ctx, "bench")
			up := 0
			for _, in := range ins {
				if in.Healthy {
					up++
				}
			}
			if up == n && len(ins) == n {
				return time.Since(t0)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Fatalf("scale to %d did not converge", n)
		return 0
	}
	scaleTo(1)
	var two, eight []time.Duration
	for i := 0; i < b.N; i++ {
		two = append(two, scaleTo(2))
		scaleTo(1)
		eight = append(eight, scaleTo(8))
		scaleTo(1)
	}
	t2, t8 := median(two), median(eight)
	b.ReportMetric(float64(t2.Microseconds())/1000, "1to2-ms")
	b.ReportMetric(float64(t8.Microseconds())/1000, "1to8-ms")
	b.ReportMetric(float64(t8)/float64(t2), "8/2")
	b.Logf("scale until healthy (median of %d): 1→2 %v, 1→8 %v, ratio %.2f (7 starts vs 1, 4 at a time)", b.N, t2, t8, float64(t8)/float64(t2))
}
