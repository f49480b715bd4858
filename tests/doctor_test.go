package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"paas/internal/testenv"
)

// TestDoctor: paas doctor checks the real machine and says what to fix —
// here the containerd answers and a namespace without stacks is reported
// with its fix, and the exit status says a problem remains.
func TestDoctor(t *testing.T) {
	sock := testenv.Containerd(t)
	home := newHome(t, "operator")
	stdout, _, err := runCLI(t, home, cliOptions{}, "doctor", "--config=", "--containerd", sock,
		"--namespace", "paas-e2e-doctor-"+randomHex(4), "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--listen", "127.0.0.1:0", "--ssh-listen", "127.0.0.1:0")
	for _, want := range []string{"[ok  ] containerd", "[ok  ] cni", "[ok  ] runc", "[FAIL] stacks", "fix: paas stack build",
		"[ok  ] seccomp             containerd's default profile in every app, one-off and build container\n",
		"[ok  ] capabilities        containerd's defaults without CAP_NET_RAW, CAP_MKNOD, CAP_SETFCAP, CAP_AUDIT_WRITE (CapEff 0x405fb)\n",
		"[ok  ] no_new_privs        set in every container\n",
		"[ok  ] user namespaces     uid and gid 0… map to 2000000000:65536\n",
		"[ok  ] id-mapped overlayfs overlayfs on id-mapped layers is writable\n",
		"[ok  ] userns              apps, one-offs and builds run in a user namespace: their uid 0 is host uid 2000000000\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("paas doctor output lacks %q:\n%s", want, stdout)
		}
	}
	if exitCode(err) != 1 {
		t.Errorf("paas doctor with a problem exited %d, want 1", exitCode(err))
	}
}

// TestDoctorKernelWithoutIDMap: where overlayfs on id-mapped mounts
// cannot be had (here: a data directory on ramfs, which refuses id-mapped
// mounts as an older kernel would), paas doctor names the missing feature
// and says untrusted builds are refused; with allow-uncontained it warns.
func TestDoctorKernelWithoutIDMap(t *testing.T) {
	sock := testenv.Containerd(t)
	testenv.Root(t)
	data := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ramfs", "ramfs", data).CombinedOutput(); err != nil {
		t.Fatalf("mount ramfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", data).Run() })
	home := newHome(t, "operator")
	args := []string{"doctor", "--config=", "--containerd", sock, "--namespace", "paas-e2e-doctor-" + randomHex(4),
		"--data-dir", data, "--listen", "127.0.0.1:0", "--ssh-listen", "127.0.0.1:0"}
	stdout, _, _ := runCLI(t, home, cliOptions{}, args...)
	for _, want := range []string{"[ok  ] user namespaces", "[FAIL] id-mapped overlayfs id-mapped mount: ",
		"[FAIL] userns              none possible: untrusted builds are refused\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("paas doctor on ramfs lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, _ = runCLI(t, home, cliOptions{}, append(args, "--allow-uncontained")...)
	for _, want := range []string{"[warn] id-mapped overlayfs", "allow-uncontained is set: apps and builds run as the host's root meanwhile",
		"[warn] userns              NONE: allow-uncontained is set, so apps and builds run as the host's root\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("paas doctor --allow-uncontained on ramfs lacks %q:\n%s", want, stdout)
		}
	}
}
