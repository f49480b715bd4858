// Package buildtest holds the builder's test helpers that need the real
// containerd: a namespace of the test's own, emptied at the end, and checks
// that a build left nothing behind. Only tests import it.
package buildtest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"paas/builder/testimage"
	"paas/internal/testenv"
)

// Client connects to the test containerd (see testenv.Containerd).
func Client(t testing.TB) *containerd.Client {
	t.Helper()
	testenv.Root(t)
	sock := testenv.Containerd(t)
	c, err := containerd.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var unsafeRE = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace returns a context in a fresh containerd namespace named after the
// test. Everything left in it is deleted when the test ends.
func Namespace(t testing.TB, c *containerd.Client) context.Context {
	t.Helper()
	name := unsafeRE.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	ns := fmt.Sprintf("bt-%s-%d", name, time.Now().UnixNano()%1e9)
	ctx := namespaces.WithNamespace(context.Background(), ns)
	t.Cleanup(func() { Wipe(t, ctx, c) })
	return ctx
}

// Busybox imports testimage's busybox image as name into ctx's namespace.
func Busybox(t testing.TB, ctx context.Context, c *containerd.Client, name string) {
	t.Helper()
	if _, err := testimage.ImportBusybox(ctx, c, name); err != nil {
		t.Fatal(err)
	}
}

// Wipe deletes the containers, images, leases, snapshots and content of
// ctx's namespace, then the namespace.
//
// containerd's garbage collector removes a snapshot without unlinking it from
// its parent's children (core/metadata/gc.go, 1.6 to 2.x). A collection that
// runs while the parent is still held by an image leaves the parent with a
// child that no longer exists, and removing the parent by hand then fails
// ("cannot remove snapshot with child") until the collector takes it too. So
// when removal stalls, Wipe makes the collector run (a lease deleted with
// SynchronousDelete) rather than waiting for it to be scheduled.
func Wipe(t testing.TB, ctx context.Context, c *containerd.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	ns, _ := namespaces.Namespace(ctx)
	if cs, err := c.Containers(ctx); err == nil {
		for _, ctr := range cs {
			if task, err := ctr.Task(ctx, nil); err == nil {
				_, _ = task.Delete(ctx, containerd.WithProcessKill)
			}
			_ = ctr.Delete(ctx)
		}
	}
	if imgs, err := c.ImageService().List(ctx); err == nil {
		for _, i := range imgs {
			_ = c.ImageService().Delete(ctx, i.Name)
		}
	}
	if ls, err := c.LeasesService().List(ctx); err == nil {
		for _, l := range ls {
			_ = c.LeasesService().Delete(ctx, l)
		}
	}
	collect(ctx, c)
	sn := c.SnapshotService("overlayfs")
	var stuck map[string]error
	for range 3 {
		if stuck = removeSnapshots(ctx, sn); len(stuck) == 0 {
			break
		}
		collect(ctx, c)
	}
	cs := c.ContentStore()
	var infos []content.Info
	_ = cs.Walk(ctx, func(i content.Info) error { infos = append(infos, i); return nil })
	for _, i := range infos {
		_ = cs.Delete(ctx, i.Digest)
	}
	var err error
	for i := range 50 {
		if err = c.NamespaceService().Delete(ctx, ns); err == nil {
			return
		}
		if i%10 == 9 {
			collect(ctx, c)
			stuck = removeSnapshots(ctx, sn)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var left []string
	_ = sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		left = append(left, fmt.Sprintf("%s (%v, parent %s): %v", i.Name, i.Kind, i.Parent, stuck[i.Name]))
		return nil
	})
	t.Errorf("delete namespace %s: %v; snapshots left: %v", ns, err, left)
}

// removeSnapshots removes every snapshot of sn, children before parents, and
// returns the ones it could not remove with the last error for each.
func removeSnapshots(ctx context.Context, sn snapshots.Snapshotter) map[string]error {
	for {
		stuck := map[string]error{}
		removed := 0
		err := sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			stuck[i.Name] = nil
			return nil
		})
		if err != nil {
			return map[string]error{"(walk)": err}
		}
		for k := range stuck {
			if err := sn.Remove(ctx, k); err != nil && !errdefs.IsNotFound(err) {
				stuck[k] = err
			} else {
				delete(stuck, k)
				removed++
			}
		}
		if len(stuck) == 0 || removed == 0 {
			return stuck
		}
	}
}

// collect makes containerd's garbage collector run now: deleting a lease
// with SynchronousDelete returns after a collection.
func collect(ctx context.Context, c *containerd.Client) {
	ls := c.LeasesService()
	l, err := ls.Create(ctx, leases.WithRandomID())
	if err != nil {
		return
	}
	_ = ls.Delete(ctx, l, leases.SynchronousDelete)
}

// Leftovers lists what a finished build must not leave in ctx's namespace:
// containers, leases and active (uncommitted) snapshots.
func Leftovers(ctx context.Context, c *containerd.Client) ([]string, error) {
	var out []string
	cs, err := c.Containers(ctx)
	if err != nil {
		return nil, err
	}
	for _, ctr := range cs {
		out = append(out, "container "+ctr.ID())
	}
	ls, err := c.LeasesService().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		out = append(out, "lease "+l.ID)
	}
	err = c.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		if i.Kind != snapshots.KindCommitted {
			out = append(out, "snapshot "+i.Name)
		}
		return nil
	})
	return out, err
}

// AssertClean fails the test if Leftovers finds anything.
func AssertClean(t testing.TB, ctx context.Context, c *containerd.Client, except ...string) {
	t.Helper()
	left, err := Leftovers(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{}
	for _, e := range except {
		skip[e] = true
	}
	for _, l := range left {
		if !skip[l] {
			t.Errorf("left behind: %s", l)
		}
	}
}

// SyncBuffer is a bytes buffer safe for a writer and a reader at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor polls cond every 50ms for up to 60s.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
