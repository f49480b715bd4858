package runtime_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"paas/runtime"
)

// ProbeScript is what an escape probe tries from inside a container, one
// line of output per attempt; ProbeWant is what each must print. The
// builder's tests run it in a RUN step.
const ProbeScript = `grep -E '^(CapEff|Seccomp|NoNewPrivs)' /proc/self/status
echo "uid_map $(cat /proc/self/uid_map)"
echo "gid_map $(cat /proc/self/gid_map)"
unshare -U true 2>&1; echo "unshare=$?"
ping -c1 -W1 127.0.0.1 >/dev/null 2>/tmp/ping.err; echo "ping=$? $(cat /tmp/ping.err)"
mknod /tmp/null c 1 3 2>&1; echo "mknod=$?"
echo "id $(id)"`

// probeWant is the probe's output in a contained container: containerd's
// capabilities without NET_RAW, MKNOD, SETFCAP and AUDIT_WRITE (0x405fb,
// not 0xa80425fb), seccomp filtering, no_new_privs, the user namespace of
// runtime.DefaultUserNS, and each escape denied.
func probeWant(user string) string {
	return `CapEff:	00000000000405fb
NoNewPrivs:	1
Seccomp:	2
Seccomp_filters:	1
uid_map 0 2000000000 65536
gid_map 0 2000000000 65536
unshare: unshare(0x10000000): Operation not permitted
unshare=1
ping=1 ping: permission denied (are you root?)
mknod: /tmp/null: Operation not permitted
mknod=1
id ` + user
}

// normalize squeezes the spaces of the uid_map lines.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(l, "uid_map") || strings.HasPrefix(l, "gid_map") {
			l = strings.Join(strings.Fields(l), " ")
		}
		out = append(out, strings.TrimRight(l, "\r"))
	}
	return strings.Join(out, "\n")
}

// TestInstanceContained: inside an instance and a one-off, root is root of
// a user namespace mapped to an unprivileged host range, with reduced
// capabilities, seccomp and no_new_privs, and a user namespace, a raw
// socket and a device node are refused.
func TestInstanceContained(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := probeWant("uid=0(root) gid=0(root) groups=0(root)")

	// An instance: its output goes to its log.
	inst, err := r.Start(ctx, runtime.Spec{App: "probe", Release: 1, Process: "worker", Number: 1, Image: testImage, Command: ProbeScript})
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
	if got := normalize(strings.Join(lines, "\n")); got != want {
		t.Errorf("probe in an instance printed\n%s\nwant\n%s", got, want)
	}

	// A one-off: its output comes back to the person.
	var out bytes.Buffer
	a, err := r.StartAttached(ctx, runtime.Spec{App: "probe", Release: 1, Process: "run", Number: 1, Image: testImage, Command: ProbeScript},
		runtime.Stdio{Stdout: &out, Stderr: &out})
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
	if got := normalize(out.String()); got != want {
		t.Errorf("probe in a one-off printed\n%s\nwant\n%s", got, want)
	}
}
