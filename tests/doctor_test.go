package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paas/controller"
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
		"--listen", "127.0.0.1:0", "--ssh-listen", "127.0.0.1:0",
		"--bridge", "ptstd-none", "--build-bridge", "ptstd-nobuild")
	for _, want := range []string{"[ok  ] containerd", "[ok  ] cni", "[ok  ] runc", "[FAIL] stacks", "fix: paas stack build",
		"[ok  ] nftables            nf_tables with inet and netdev families, conntrack and reject",
		"[warn] isolation           no rules yet (tables inet and netdev paas-ptstd-none): paas server creates them when it starts",
		"] resolvers           containers ",
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

// TestDoctorListsIsolation: with a server running two instances of an
// app, paas doctor lists the network rules in effect on both networks;
// after a kill -9 of the server and a restart, the same rules, once;
// once the app is destroyed, none of its own.
func TestDoctorListsIsolation(t *testing.T) {
	r := newAppRig(t)
	mustCLI(t, r.admin, "apps:create", "shop")
	mustCLI(t, r.admin, "releases:create", "-a", "shop", "--image", busyboxImage, "--process", "web="+webCommand)
	mustCLI(t, r.admin, "scale", "-a", "shop", "web=2")
	waitUntil(t, "2 running instances of shop", 40*time.Second, func() (bool, string) {
		out, _, err := cli(t, r.admin, "ps", "-a", "shop", "--json")
		if err != nil {
			return false, err.Error()
		}
		up := 0
		for _, in := range decodeJSON[[]controller.Instance](t, out) {
			if in.State == "running" && in.Healthy {
				up++
			}
		}
		return up == 2, out
	})
	args := []string{"doctor", "--config=", "--containerd", r.s.containerd, "--namespace", r.ns,
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--ssh-listen", "127.0.0.1:0"}
	bridge, build := flagValue(r.s.args, "--bridge"), flagValue(r.s.args, "--build-bridge")
	check := func(when string, containers, groups int) {
		t.Helper()
		stdout, _, _ := runCLI(t, r.admin, cliOptions{}, append(args, r.s.args...)...)
		for _, want := range []string{
			fmt.Sprintf("[ok  ] isolation           tables inet and netdev paas-%s: input 3 rules (the host refuses what comes through the bridge but replies), forward 4 (link-local and routed-in refused), %d containers bound to their veth (MAC, IPv4; nothing but their app's instances in the subnet), %d app groups", bridge, containers, groups),
			fmt.Sprintf("[ok  ] build isol.         tables inet and netdev paas-%s: input 3 rules", build),
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s, paas doctor output lacks %q:\n%s", when, want, stdout)
			}
		}
	}
	check("running", 2, 1)
	r.s.kill9(t)
	r.s = restartServer(t, r.s, r.s.dataDir, r.ns)
	login(t, r.s, r.admin, "admin", r.token)
	time.Sleep(2 * time.Second) // a reconcile or two
	check("after kill -9 and a restart", 2, 1)
	r.destroy(t, "shop") // before the restarted server's clean-up stops it
	check("after the app was destroyed", 0, 0)
}

func flagValue(args []string, name string) string {
	for i := range args[:len(args)-1] {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
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
