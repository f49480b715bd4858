package runtime_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paas/internal/testenv"
	"paas/runtime"
)

// TestInstanceContained: inside an instance and a one-off, root is root of
// a user namespace mapped to an unprivileged host range, with reduced
// capabilities, seccomp and no_new_privs, and a user namespace, a raw
// socket and a device node are refused.
func TestInstanceContained(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := testenv.ContainmentWant("uid=0(root) gid=0(root) groups=0(root)")

	// An instance: its output goes to its log.
	inst, err := r.Start(ctx, runtime.Spec{App: "probe", Release: 1, Process: "worker", Number: 1, Image: testImage, Command: testenv.ContainmentProbe})
	if err != nil {
		t.Fatal(err)
	}
	code, err := r.Wait(ctx, inst.ID)
	if err != nil || code != 0 {
		t.Errorf("probe in an instance exited %d, %v", code, err)
	}
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if lines, err = r.Logs(inst.ID, 100); err == nil && len(lines) >= strings.Count(want, "\n")+1 {
			break
		}
	}
	if err := r.Stop(ctx, inst.ID); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if got := testenv.ContainmentOutput(strings.Join(lines, "\n")); got != want {
		t.Errorf("probe in an instance printed\n%s\nwant\n%s", got, want)
	}

	// A one-off: its output comes back to the person.
	// The probe writes everything to stdout (2>&1 where it matters).
	var out, stderr bytes.Buffer
	a, err := r.StartAttached(ctx, runtime.Spec{App: "probe", Release: 1, Process: "run", Number: 1, Image: testImage, Command: testenv.ContainmentProbe},
		runtime.Stdio{Stdout: &out, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	code, err = a.Wait(ctx)
	if err := r.Stop(ctx, a.ID); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err != nil || code != 0 {
		t.Errorf("probe in a one-off exited %d, %v", code, err)
	}
	if got := testenv.ContainmentOutput(out.String()); got != want {
		t.Errorf("probe in a one-off printed\n%s\n(stderr %q)\nwant\n%s", got, stderr.String(), want)
	}
}

// TestResolvConfFromPrivateDir: the resolv.conf paas writes lives in its
// data directory (mode 0700), which the container's root, an unprivileged
// host uid, may not enter; the instance still gets it.
func TestResolvConfFromPrivateDir(t *testing.T) {
	private := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(private, "network"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(private, "network", "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\noptions attempts:3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newTestRuntime(t, func(o *runtime.Options) { o.ResolvConf = resolv })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	a, err := r.StartAttached(ctx, runtime.Spec{App: "probe", Release: 1, Process: "run", Number: 1, Image: testImage, Command: "cat /etc/resolv.conf"},
		runtime.Stdio{Stdout: &out, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	code, err := a.Wait(ctx)
	if err := r.Stop(ctx, a.ID); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err != nil || code != 0 || out.String() != "nameserver 192.0.2.53\noptions attempts:3\n" {
		t.Errorf("cat /etc/resolv.conf = %d, %v, %q (stderr %q); want the file", code, err, out.String(), stderr.String())
	}
}
