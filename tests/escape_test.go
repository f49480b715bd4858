package tests

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"paas/controller"
	"paas/internal/testenv"
)

// probeScript tries, in turn, each way out of a container that a hostile
// tenant would try, and prints one line per attempt: "probe WHERE NAME:
// RESULT", RESULT being the errno's name when the attempt was denied,
// ALLOWED when it was not, or what was seen. It runs as root in the
// container (the image has no USER), as an attacker's build step or
// instance would.
const probeScript = `import ctypes, errno, os, socket, sys

def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if getattr(e, "errno", None) else type(e).__name__

def unshare_user():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER
        return "ALLOWED"
    return errno.errorcode.get(ctypes.get_errno(), "?")

def raw_socket():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return "ALLOWED"
    except OSError as e:
        return ename(e)

def mknod():
    try:
        os.mknod("/tmp/probe-null", 0o600 | 0o020000, os.makedev(1, 3))
        return "ALLOWED"
    except OSError as e:
        return ename(e)

def connect(addr):
    if not addr:
        return "NO-TARGET"
    host, port = addr.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect((host, int(port)))
        return "ALLOWED"
    except socket.timeout:
        return "TIMEOUT"
    except OSError as e:
        return ename(e)
    finally:
        s.close()

def gateway():
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[1] == "00000000":
                return socket.inet_ntoa(bytes.fromhex(p[2])[::-1])
    return ""

def proc1_root(marker):
    try:
        with open("/proc/1/root" + marker) as f:
            return "READ " + f.read().strip()
    except OSError as e:
        return ename(e)

def symlink_write(marker):
    link = "/tmp/probe-escape"
    try:
        os.unlink(link)
    except OSError:
        pass
    os.symlink(marker, link)
    try:
        with open(link, "w") as f:
            f.write("pwned")
        return "WROTE"
    except OSError as e:
        return ename(e)

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    return "?"

def uid_map():
    with open("/proc/self/uid_map") as f:
        return " ".join(f.read().split())

def probes(where):
    gw = gateway()
    marker = os.environ.get("PROBE_MARKER", "")
    out = [
        ("uid", str(os.getuid())),
        ("uid_map", uid_map()),
        ("CapEff", status("CapEff")),
        ("Seccomp", status("Seccomp")),
        ("NoNewPrivs", status("NoNewPrivs")),
        ("unshare-user", unshare_user()),
        ("raw-socket", raw_socket()),
        ("mknod", mknod()),
        ("other-app", connect(os.environ.get("PROBE_VICTIM", ""))),
        ("gateway-port", connect(gw + ":" + os.environ.get("PROBE_HOST_PORT", "")) if gw else "NO-GATEWAY"),
        ("metadata", connect("169.254.169.254:80")),
        ("outside", connect(os.environ.get("PROBE_OUTSIDE", ""))),
        ("proc1-root", proc1_root(marker)),
        ("symlink-write", symlink_write(marker)),
    ]
    return "".join("probe %s %s: %s\n" % (where, k, v) for k, v in out)

if sys.argv[1] == "build":
    sys.stdout.write(probes("build"))
else:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Probe(BaseHTTPRequestHandler):
        def do_GET(self):
            body = probes("instance").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    HTTPServer(("", int(os.environ["PORT"])), Probe).serve_forever()
`

// probeLineRE is one line of probeScript's output (after git's "remote: ").
var probeLineRE = regexp.MustCompile(`probe (build|instance) ([a-zA-Z0-9_-]+): (.*)`)

// parseProbes maps "where name" to the result, from probeScript's lines
// wherever they stand in out.
func parseProbes(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if p := probeLineRE.FindStringSubmatch(sc.Text()); p != nil {
			m[p[1]+" "+p[2]] = strings.TrimSpace(p[3])
		}
	}
	return m
}

// TestEscapeProbe pushes, as an ordinary user and with real git over
// OpenSSH, an app whose Dockerfile RUN step and whose instance try each
// way out of their container in turn: a user namespace of their own, a
// raw socket, a device node, a TCP connection to another user's instance
// (past the router), to a port the host serves on the bridge's gateway, to
// the cloud metadata address; reading a host file through /proc/1/root;
// writing a host file through a symlink. Each must be denied, and the test
// asserts the denial exactly; the host file is unchanged afterwards, and
// outbound connections (to a stand-in for the internet) still work.
func TestEscapeProbe(t *testing.T) {
	r := newPushRig(t)

	// The victim: another user's app, serving on its instance address.
	victimDir := r.newApp(t, "victim", map[string]string{
		"Dockerfile": "FROM paas/stack-run\nCMD [\"python3\", \"-m\", \"http.server\", \"5000\"]\n",
	})
	if p, err := r.timedPush(t, victimDir); err != nil || !strings.Contains(p.output, "v1 is live") {
		t.Fatalf("git push of the victim: %v\n%s", err, p.output)
	}
	ps := mustCLIJSON[[]controller.Instance](t, r.admin, "ps", "-a", "victim", "--json")
	if len(ps) != 1 || ps[0].Address == "" {
		t.Fatalf("paas ps of the victim = %+v, want one instance with an address", ps)
	}
	victim := ps[0].Address

	// A service of the host's, listening on every address, as the API and
	// git SSH ports are on an install that serves them publicly.
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hostPort := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)

	// The internet and the cloud's metadata service, stood in for by a
	// network namespace of the test's own (169.254.169.254 is routed
	// there), so that no probe leaves this machine.
	outside := testenv.Outside(t, fmt.Sprintf("ptsto%d", os.Getpid()%100000), 4, nil)

	// A host file the probe aims at through /proc/1/root and a symlink.
	marker := filepath.Join(t.TempDir(), "host-marker")
	if err := os.WriteFile(marker, []byte("host secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The attacker: an ordinary user with a key of their own.
	malloryHome, _ := createUser(t, r.s, r.admin, "mallory")
	malloryKey := filepath.Join(t.TempDir(), "id_mallory")
	sshKeygen(t, malloryKey, "-t", "ed25519")
	mustCLI(t, malloryHome, "keys:add", malloryKey+".pub")
	dir := filepath.Join(t.TempDir(), "probe")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runGit(t, dir, "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	mustCLIIn(t, malloryHome, dir, "apps:create", "probe")
	env := fmt.Sprintf("ENV PROBE_VICTIM=%s PROBE_HOST_PORT=%s PROBE_MARKER=%s PROBE_OUTSIDE=%s\n", victim, hostPort, marker, outside)
	writeFiles(t, dir, map[string]string{
		"probe.py": probeScript,
		"Dockerfile": "FROM paas/stack-build\n" + env +
			"COPY probe.py /probe.py\n" +
			"RUN python3 /probe.py build\n" +
			"CMD [\"python3\", \"/probe.py\", \"serve\"]\n",
	})
	commitAll(t, dir, "probe")
	out, err := pushWithKey(t, dir, malloryKey)
	if err != nil || !strings.Contains(out, "v1 is live") {
		t.Fatalf("git push of the probe: %v\n%s", err, out)
	}
	results := parseProbes(out)
	code, body, err := getHost(r.s.url+"/", "probe.localhost")
	if err != nil || code != 200 {
		t.Fatalf("GET probe.localhost = %d %q, %v", code, body, err)
	}
	for k, v := range parseProbes(body) {
		results[k] = v
	}
	t.Logf("what the probe saw:\n%s", formatProbes(results))

	for _, where := range []string{"build", "instance"} {
		want := map[string]string{
			"uid":           "0",
			"Seccomp":       "2",
			"NoNewPrivs":    "1",
			"CapEff":        wantCapEff,
			"unshare-user":  "EPERM",
			"raw-socket":    "EPERM",
			"mknod":         "EPERM",
			"other-app":     wantConnectDenied,
			"gateway-port":  wantConnectDenied,
			"metadata":      wantConnectDenied,
			"proc1-root":    "ENOENT",
			"symlink-write": "ENOENT",
			"outside":       "ALLOWED", // outbound traffic stays as it was
		}
		for name, w := range want {
			if got, ok := results[where+" "+name]; !ok || got != w {
				t.Errorf("probe %s %s = %q, want %q", where, name, got, w)
			}
		}
		// uid 0 inside is not uid 0 outside: the first line of the
		// map is "0 <host uid> <count>" with a host uid other than 0.
		if m := strings.Fields(results[where+" uid_map"]); len(m) < 3 || m[0] != "0" || m[1] == "0" {
			t.Errorf("probe %s uid_map = %q, want uid 0 mapped to an unprivileged host uid", where, results[where+" uid_map"])
		}
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "host secret\n" {
		t.Errorf("the host marker file now holds %q (%v), want it unchanged", b, err)
	}
}

// pushWithKey runs git push paas main in dir with the given SSH key and
// returns git's output.
func pushWithKey(t *testing.T, dir, key string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "push", "paas", "main")
	cmd.Dir = dir
	cmd.Env = append(baseEnv(t.TempDir()),
		"GIT_CEILING_DIRECTORIES="+filepath.Dir(dir),
		"GIT_SSH_COMMAND=ssh -i "+key+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func formatProbes(m map[string]string) string {
	var b strings.Builder
	for _, where := range []string{"build", "instance"} {
		for _, name := range []string{"uid", "uid_map", "CapEff", "Seccomp", "NoNewPrivs", "unshare-user", "raw-socket", "mknod", "other-app", "gateway-port", "metadata", "proc1-root", "symlink-write", "outside"} {
			fmt.Fprintf(&b, "  %s %s: %s\n", where, name, m[where+" "+name])
		}
	}
	return b.String()
}

// What the escape probe must see. CapEff is containerd's default set less
// NET_RAW, MKNOD, AUDIT_WRITE and SETFCAP: CHOWN, DAC_OVERRIDE, FOWNER,
// FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT.
const (
	wantCapEff        = "00000000000405fb"
	wantConnectDenied = "ECONNREFUSED"
)
