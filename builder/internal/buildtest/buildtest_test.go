package buildtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// TestWipeAfterCollectorOrphanedChild builds the state a full CI run once
// left behind: the collector removed a child snapshot while its parent was
// still held, so the parent keeps a link to a child that no longer exists and
// cannot be removed by hand. Wipe must still empty and delete the namespace.
func TestWipeAfterCollectorOrphanedChild(t *testing.T) {
	c := Client(t)
	ctx := namespaces.WithNamespace(context.Background(), fmt.Sprintf("bt-wipe-%d", time.Now().UnixNano()))
	sn := c.SnapshotService("overlayfs")
	root := map[string]string{"containerd.io/gc.root": time.Now().UTC().Format(time.RFC3339)}

	l, err := c.LeasesService().Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	lctx := leases.WithLease(ctx, l.ID)
	if _, err := sn.Prepare(lctx, "parent-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(lctx, "parent", "parent-active", snapshots.WithLabels(root)); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(lctx, "child-active", "parent"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(lctx, "child", "child-active"); err != nil {
		t.Fatal(err)
	}
	// The lease goes and a collection runs: the child, held by nothing, is
	// collected; the parent, a gc root, stays.
	if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, "child"); !errdefs.IsNotFound(err) {
		t.Fatalf("child after collection: %v, want not found", err)
	}
	// No longer a root: only the collector can take it now.
	if _, err := sn.Update(ctx, snapshots.Info{Name: "parent"}, "labels.containerd.io/gc.root"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Remove(ctx, "parent"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Logf("Remove(parent) = %v: this containerd unlinks collected children; Wipe is checked all the same", err)
	}
	Wipe(t, ctx, c)
	all, err := c.NamespaceService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := namespaces.Namespace(ctx)
	if slices.Contains(all, ns) {
		t.Errorf("namespace %s is still there after Wipe", ns)
	}
}
