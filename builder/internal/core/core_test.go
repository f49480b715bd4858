package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"paas/builder/internal/buildtest"
	"paas/builder/internal/core"
	"paas/internal/testenv"
)

// setup connects to the test containerd, in a namespace of the test's own,
// imports busybox and holds a lease for the test.
func setup(t *testing.T) (context.Context, *core.Store, core.Image) {
	t.Helper()
	c := buildtest.Client(t)
	ctx := buildtest.Namespace(t, c)
	buildtest.Busybox(t, ctx, c, "busybox")
	s := core.New(c, "", nil, nil)
	lctx, done, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := done(); err != nil {
			t.Error(err)
		}
		buildtest.AssertClean(t, ctx, c)
	})
	img, err := s.Load(lctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	return lctx, s, img
}

// assertNoContainers checks that no build container is left; snapshots
// and leases are checked when the test ends.
func assertNoContainers(t *testing.T, ctx context.Context, s *core.Store) {
	t.Helper()
	cs, err := s.Client().Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		t.Errorf("container %s left behind", c.ID())
	}
}

func TestRunCommitsLayer(t *testing.T) {
	ctx, s, base := setup(t)
	var out bytes.Buffer
	st, err := s.Run(ctx, base.State, core.RunSpec{
		Args:   []string{"/bin/sh", "-c", "echo hello; echo oops >&2; mkdir -p /app && echo data > /app/f && rm /etc/hostname"},
		Env:    []string{"PATH=/bin:/usr/bin"},
		Output: &out,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	// stdout and stderr are separate streams: their order is not kept.
	if got := out.String(); got != "hello\noops\n" && got != "oops\nhello\n" {
		t.Errorf("Run output = %q, want hello and oops", got)
	}
	if got, want := len(st.Layers), 2; got != want {
		t.Fatalf("layers = %d, want %d", got, want)
	}
	err = s.View(ctx, st, func(root string) error {
		b, err := os.ReadFile(filepath.Join(root, "app/f"))
		if err != nil {
			return err
		}
		if string(b) != "data\n" {
			return fmt.Errorf("/app/f = %q", b)
		}
		if _, err := os.Lstat(filepath.Join(root, "etc/hostname")); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("/etc/hostname still there: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	// A second layer through a host-side fill, then an image.
	st2, err := s.AddLayer(ctx, st, "COPY", func(root string) error {
		return os.WriteFile(filepath.Join(root, "app/g"), []byte("g"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Commit(ctx, "result", st2, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Load(ctx, "result")
	if err != nil {
		t.Fatal(err)
	}
	if again.Manifest.Digest != img.Manifest.Digest || again.ChainID() != st2.ChainID() {
		t.Errorf("Load(result) = %s chain %s, want %s chain %s", again.Manifest.Digest, again.ChainID(), img.Manifest.Digest, st2.ChainID())
	}
	assertNoContainers(t, ctx, s)
}

func TestRunExitStatus(t *testing.T) {
	ctx, s, base := setup(t)
	_, err := s.Run(ctx, base.State, core.RunSpec{Args: []string{"/bin/sh", "-c", "exit 3"}})
	var ee *core.ExitError
	if !errors.As(err, &ee) || ee.Status != 3 {
		t.Errorf("Run(exit 3) = %v, want exit status 3", err)
	}
	assertNoContainers(t, ctx, s)
}

func TestRunCancel(t *testing.T) {
	ctx, s, base := setup(t)
	cctx, cancel := context.WithCancel(ctx)
	var out buildtest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(cctx, base.State, core.RunSpec{Args: []string{"/bin/sh", "-c", "echo started; sleep 300"}, Output: &out})
		done <- err
	}()
	buildtest.WaitFor(t, func() bool { return strings.Contains(out.String(), "started") })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Run took %s to stop after cancel", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after cancel")
	}
	assertNoContainers(t, ctx, s)
}

func TestRunTimeout(t *testing.T) {
	ctx, s, base := setup(t)
	_, err := s.Run(ctx, base.State, core.RunSpec{Args: []string{"sleep", "300"}, Env: []string{"PATH=/bin"},
		Limits: core.Limits{Timeout: time.Second}})
	if !errors.Is(err, core.ErrTimeout) {
		t.Errorf("Run(sleep 300, timeout 1s) = %v, want ErrTimeout", err)
	}
	assertNoContainers(t, ctx, s)
}

func TestRunUser(t *testing.T) {
	ctx, s, base := setup(t)
	var out bytes.Buffer
	if _, err := s.Run(ctx, base.State, core.RunSpec{Args: []string{"id"}, User: "app", Output: &out, Dir: "/home/app"}); err != nil {
		t.Fatalf("Run: %v: %s", err, out.String())
	}
	if got := out.String(); !strings.HasPrefix(got, "uid=1000(app) gid=1000(app)") {
		t.Errorf("id as app = %q", got)
	}
}

// TestRunContained: a RUN step is contained as an instance is (see
// testenv.ContainmentProbe), and the layer it makes carries the uids the
// step saw, not the host's remapped ones: root's files are uid 0 on disk,
// app's 1000.
func TestRunContained(t *testing.T) {
	ctx, s, base := setup(t)
	var out bytes.Buffer
	st, err := s.Run(ctx, base.State, core.RunSpec{
		Args:   []string{"/bin/sh", "-c", testenv.ContainmentProbe + "\ntouch /by-root && mkdir /home/app/made && chown app:app /home/app/made && echo x > /etc/hostname"},
		Output: &out,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if got, want := testenv.ContainmentOutput(out.String()), testenv.ContainmentWant("uid=0(root) gid=0(root)"); got != want {
		t.Errorf("probe in a RUN step printed\n%s\nwant\n%s", got, want)
	}
	out.Reset()
	st, err = s.Run(ctx, st, core.RunSpec{Args: []string{"/bin/sh", "-c", "id; touch /home/app/by-app /home/app/made/too"}, User: "app", Output: &out})
	if err != nil {
		t.Fatalf("Run as app: %v\n%s", err, out.String())
	}
	if got := out.String(); got != "uid=1000(app) gid=1000(app) groups=1000(app)\n" {
		t.Errorf("id as app = %q", got)
	}
	err = s.View(ctx, st, func(root string) error {
		for name, want := range map[string]uint32{"by-root": 0, "etc/hostname": 0, "home/app/made": 1000, "home/app/by-app": 1000, "home/app/made/too": 1000, "bin/busybox": 0} {
			fi, err := os.Lstat(filepath.Join(root, name))
			if err != nil {
				return err
			}
			sys := fi.Sys().(*syscall.Stat_t)
			if sys.Uid != want || sys.Gid != want {
				t.Errorf("/%s on disk is owned by %d:%d, want %d:%d", name, sys.Uid, sys.Gid, want, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	assertNoContainers(t, ctx, s)
}

// TestRunManyLayers: a step on a deep chain of layers starts (the id-mapped
// root's overlay options once outgrew what the kernel takes in one
// fsconfig string, 256 bytes, at five layers).
func TestRunManyLayers(t *testing.T) {
	ctx, s, base := setup(t)
	st := base.State
	for i := 0; i < 12; i++ {
		var out bytes.Buffer
		layers := len(st.Layers)
		var err error
		st, err = s.Run(ctx, st, core.RunSpec{Args: []string{"/bin/sh", "-c", fmt.Sprintf("echo %d > /layer%d && ls / | grep -c layer", i, i)}, Output: &out})
		if err != nil {
			t.Fatalf("Run on %d layers: %v\n%s", layers, err, out.String())
		}
		if got, want := out.String(), fmt.Sprintf("%d\n", i+1); got != want {
			t.Errorf("step %d sees %q layer files, want %q", i, got, want)
		}
	}
	assertNoContainers(t, ctx, s)
}
