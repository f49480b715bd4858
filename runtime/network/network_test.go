package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	cnins "github.com/containernetworking/plugins/pkg/ns"

	"paas/internal/testenv"
)

// testNetwork makes a network with its own bridge and subnet, and removes
// the bridge at the end.
func testNetwork(t *testing.T) *Network {
	t.Helper()
	testenv.Root(t)
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("no CNI plugins: run tests/run.sh")
	}
	bridge := fmt.Sprintf("ptstn%d", os.Getpid()%100000)
	n, err := New(Config{Name: "paas-test", Bridge: bridge, Subnet: "10.231.0.0/24", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.DeleteBridge(); err != nil {
			t.Errorf("delete bridge %s: %v", bridge, err)
		}
		if _, err := net.InterfaceByName(bridge); err == nil {
			t.Errorf("bridge %s still exists after DeleteBridge", bridge)
		}
	})
	return n
}

// serveIn starts an HTTP server listening inside the network namespace.
// A socket stays in the namespace it was made in, so the server runs on
// an ordinary goroutine afterwards.
func serveIn(t *testing.T, nsPath string, body string) {
	t.Helper()
	var ln net.Listener
	err := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return cnins.WithNetNSPath(nsPath, func(cnins.NetNS) error {
			var err error
			ln, err = net.Listen("tcp", ":8080")
			return err
		})
	}()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func TestAttachServeDetach(t *testing.T) {
	n := testNetwork(t)
	ctx := context.Background()
	a1, err := n.Attach(ctx, "test-one", map[string]string{"paas.app": "shop"})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := n.Attach(ctx, "test-two", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, subnet, _ := net.ParseCIDR("10.231.0.0/24")
	for _, a := range []Attachment{a1, a2} {
		if !subnet.Contains(a.IP) {
			t.Errorf("Attach(%s) IP = %v, not in %v", a.ID, a.IP, subnet)
		}
	}
	if a1.IP.Equal(a2.IP) {
		t.Errorf("two attachments share IP %v", a1.IP)
	}
	serveIn(t, a1.NetNSPath, "one")
	serveIn(t, a2.NetNSPath, "two")
	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct {
		ip   net.IP
		want string
	}{{a1.IP, "one"}, {a2.IP, "two"}} {
		resp, err := client.Get("http://" + net.JoinHostPort(c.ip.String(), "8080"))
		if err != nil {
			t.Fatalf("GET from the host to %v: %v", c.ip, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != c.want {
			t.Errorf("GET %v = %q, want %q", c.ip, b, c.want)
		}
	}
	for _, a := range []Attachment{a1, a2} {
		if err := n.Detach(ctx, a.ID, a.NetNSPath); err != nil {
			t.Errorf("Detach(%s) = %v", a.ID, err)
		}
		if _, err := os.Stat(a.NetNSPath); !os.IsNotExist(err) {
			t.Errorf("after Detach, %s still exists (%v)", a.NetNSPath, err)
		}
		if err := n.Detach(ctx, a.ID, a.NetNSPath); err != nil {
			t.Errorf("second Detach(%s) = %v, want nil (idempotent)", a.ID, err)
		}
	}
	// Addresses were given back.
	left, _ := filepath.Glob(filepath.Join(n.cfg.StateDir, "ipam", "paas-test", "10.*"))
	if len(left) != 0 {
		t.Errorf("address reservations left after detach: %v", left)
	}
}

func TestConfigChecks(t *testing.T) {
	for _, c := range []Config{
		{StateDir: ""},
		{StateDir: "/tmp/x", Bridge: "a-bridge-name-too-long"},
		{StateDir: "/tmp/x", Subnet: "10.0.0.0"},
		{StateDir: "/tmp/x", PluginDirs: []string{"/nonexistent"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", c)
		}
	}
}

// BenchmarkAttachDetach times one Attach and its Detach (CNI bridge and
// host-local, and the isolation rules), with 5 attachments of the same
// app already on the bridge.
func BenchmarkAttachDetach(b *testing.B) {
	testenv.Root(b)
	n, err := New(Config{Name: "paas-bench", Bridge: fmt.Sprintf("ptstn%d", os.Getpid()%100000), Subnet: "10.231.0.0/24", StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer n.DeleteBridge()
	ctx := context.Background()
	labels := map[string]string{"paas.app": "bench"}
	for i := range 5 {
		a, err := n.Attach(ctx, fmt.Sprintf("base-%d", i), labels)
		if err != nil {
			b.Fatal(err)
		}
		defer n.Detach(ctx, a.ID, a.NetNSPath)
	}
	var attach, detach time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		a, err := n.Attach(ctx, fmt.Sprintf("bench-%d", i), labels)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := n.Detach(ctx, a.ID, a.NetNSPath); err != nil {
			b.Fatal(err)
		}
		attach += t1.Sub(t0)
		detach += time.Since(t1)
	}
	b.ReportMetric(float64(attach.Microseconds())/float64(b.N)/1000, "ms/attach")
	b.ReportMetric(float64(detach.Microseconds())/float64(b.N)/1000, "ms/detach")
}
