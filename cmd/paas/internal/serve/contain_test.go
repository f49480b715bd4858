package serve

import (
	"context"
	"os/exec"
	"testing"

	"paas/controller/server"
	"paas/internal/testenv"
	"paas/runtime"
)

// TestBuildsRefusedWithoutIDMap: where the kernel cannot give containers
// a user namespace (here: a data directory on ramfs, which refuses
// id-mapped mounts as a kernel before 5.19 would), every build is refused
// with a message naming what lacks, unless allow-uncontained is set.
func TestBuildsRefusedWithoutIDMap(t *testing.T) {
	testenv.Root(t)
	data := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ramfs", "ramfs", data).CombinedOutput(); err != nil {
		t.Fatalf("mount ramfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", data).Run() })

	s := Settings{DataDir: data, UserNSRange: runtime.DefaultUserNS.String()}
	c, err := checkContainment(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = "this kernel lacks id-mapped overlayfs, needed to keep a build's root from being the host's root; " +
		"untrusted builds are refused (paas doctor says more; set allow-uncontained only if every user is trusted)"
	if got := c.refusal(s); got != want {
		t.Errorf("refusal on ramfs = %q, want %q", got, want)
	}
	_, err = builderAdapter{refuse: c.refusal(s)}.Build(context.Background(), server.BuildRequest{App: "shop"})
	if err == nil || err.Error() != want {
		t.Errorf("Build on ramfs = %v, want %q", err, want)
	}
	s.AllowUncontained = true
	if got := c.refusal(s); got != "" {
		t.Errorf("refusal with allow-uncontained = %q, want none", got)
	}

	// On the machine's own disk, nothing is refused.
	s = Settings{DataDir: t.TempDir(), UserNSRange: runtime.DefaultUserNS.String()}
	if c, err := checkContainment(s); err != nil || !c.contained() || c.refusal(s) != "" {
		t.Errorf("checkContainment on disk = %+v, %v; want contained", c, err)
	}
}
