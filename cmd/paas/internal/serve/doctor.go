package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"paas/builder"
	"paas/runtime"
	"paas/runtime/network"
)

// check is one line of paas doctor: what was checked, and how to fix it
// when it failed.
type check struct {
	name string
	ok   bool
	warn bool // a failure that does not stop paas from working
	info string
	fix  string
}

// DoctorCommand returns "paas doctor": it checks what paas server needs
// on this machine and says what to fix.
func DoctorCommand(lookupEnv func(string) (string, bool)) *cobra.Command {
	var s Settings
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine for what paas server needs, and say what to fix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.resolve(cmd.Flags(), lookupEnv); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			checks := doctor(cmd.Context(), s)
			failed := report(cmd.OutOrStdout(), checks)
			if failed > 0 {
				return fmt.Errorf("%d problem(s) to fix", failed)
			}
			return nil
		},
	}
	s.register(cmd.Flags())
	return cmd
}

func report(w io.Writer, checks []check) int {
	failed := 0
	for _, c := range checks {
		mark := "ok  "
		switch {
		case !c.ok && c.warn:
			mark = "warn"
		case !c.ok:
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "[%s] %-19s %s\n", mark, c.name, c.info)
		if !c.ok && c.fix != "" {
			fmt.Fprintf(w, "       %-19s fix: %s\n", "", c.fix)
		}
	}
	return failed
}

func doctor(ctx context.Context, s Settings) []check {
	var out []check
	add := func(c check) { out = append(out, c) }

	// containerd
	rt := runtime.New(runtime.Options{Address: s.Containerd, Namespace: s.Namespace})
	defer rt.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	v, err := rt.Ping(cctx)
	cancel()
	if err != nil {
		add(check{name: "containerd", info: err.Error(), fix: "install containerd (apt-get install containerd) and start it (systemctl start containerd), or point --containerd at its socket"})
	} else {
		add(check{name: "containerd", ok: true, info: fmt.Sprintf("%s answers at %s", v, s.Containerd)})
	}

	// runc
	if b, err := exec.Command("runc", "--version").Output(); err != nil {
		add(check{name: "runc", info: "runc not found", fix: "apt-get install runc"})
	} else {
		add(check{name: "runc", ok: true, info: strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)[0]})
	}

	// CNI plugins
	var missing []string
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(s.CNIPluginDir, p)); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		add(check{name: "cni", info: fmt.Sprintf("missing in %s: %s", s.CNIPluginDir, strings.Join(missing, ", ")), fix: "apt-get install containernetworking-plugins, or point --cni-plugin-dir at the plugins"})
	} else {
		add(check{name: "cni", ok: true, info: "bridge, host-local and loopback in " + s.CNIPluginDir})
	}

	// cgroups
	switch {
	case fileExists("/sys/fs/cgroup/cgroup.controllers"):
		b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		ok := strings.Contains(string(b), "memory") && strings.Contains(string(b), "pids")
		add(check{name: "cgroups", ok: ok, info: "v2: " + strings.TrimSpace(string(b)), fix: "enable the memory and pids controllers (kernel cgroup_enable=memory)"})
	case fileExists("/sys/fs/cgroup/memory") && fileExists("/sys/fs/cgroup/pids"):
		add(check{name: "cgroups", ok: true, info: "v1 with memory, cpu and pids controllers"})
	default:
		add(check{name: "cgroups", info: "no memory or pids cgroup controller under /sys/fs/cgroup", fix: "mount cgroups (systemd does) and enable the memory controller"})
	}

	// Isolation: what every container gets, and the kernel features the
	// user namespace needs.
	add(check{name: "seccomp", ok: true, info: "containerd's default profile in every app, one-off and build container"})
	add(check{name: "capabilities", ok: true, info: fmt.Sprintf("containerd's defaults without %s (CapEff %#x)",
		strings.Join(runtime.DroppedCapabilities, ", "), runtime.CapEff())})
	add(check{name: "no_new_privs", ok: true, info: "set in every container"})
	if !isRoot() {
		add(check{name: "userns", warn: true, info: "not checked: run paas doctor as root", fix: "sudo paas doctor"})
	} else if cont, err := checkContainment(s); err != nil {
		add(check{name: "userns", info: err.Error(), fix: "set userns-range to HOST:SIZE, e.g. " + runtime.DefaultUserNS.String()})
	} else {
		for _, f := range cont.features {
			c := check{name: f.Name, ok: f.OK, info: f.Info}
			if !f.OK {
				c.fix = "a kernel with seccomp, user namespaces and overlayfs on id-mapped mounts (Linux 5.19 or newer)"
				if s.AllowUncontained {
					c.warn = true
					c.fix += "; allow-uncontained is set: apps and builds run as the host's root meanwhile"
				}
			}
			add(c)
		}
		switch {
		case cont.contained():
			add(check{name: "userns", ok: true, info: "apps, one-offs and builds run in a user namespace: their uid 0 is host uid " + strconv.FormatUint(uint64(cont.userNS.Host), 10)})
		case s.AllowUncontained:
			add(check{name: "userns", warn: true, info: "NONE: allow-uncontained is set, so apps and builds run as the host's root",
				fix: "only if every user is trusted; otherwise unset allow-uncontained and fix the kernel"})
		default:
			add(check{name: "userns", info: "none possible: untrusted builds are refused", fix: "fix the kernel (above), or set allow-uncontained if every user is trusted"})
		}
	}

	// IP forwarding, for containers to reach out through the bridge
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil && strings.TrimSpace(string(b)) != "1" {
		add(check{name: "forwarding", warn: true, info: "net.ipv4.ip_forward is 0 (the CNI bridge plugin turns it on when it starts)", fix: "sysctl -w net.ipv4.ip_forward=1"})
	} else {
		add(check{name: "forwarding", ok: true, info: "net.ipv4.ip_forward is on"})
	}

	// network isolation: what the kernel offers, and the rules in effect
	if err := network.Probe(); err != nil {
		add(check{name: "nftables", info: "the isolation rules cannot be loaded: " + err.Error(),
			fix: "a kernel with nf_tables and its inet and netdev families, conntrack and reject (CONFIG_NF_TABLES_INET, CONFIG_NF_TABLES_NETDEV, CONFIG_NFT_CT, CONFIG_NFT_REJECT_NETDEV; modules nf_tables, nft_ct, nft_reject_netdev)"})
	} else {
		add(check{name: "nftables", ok: true, info: "nf_tables with inet and netdev families, conntrack and reject"})
	}
	for _, b := range []struct{ name, bridge string }{{"isolation", s.Bridge}, {"build isol.", s.BuildBridge}} {
		add(isolationCheck(b.name, network.Inspect(b.bridge)))
	}
	add(resolverCheck())

	// tools
	for _, tool := range []struct{ name, pkg, why string }{
		{"git", "git", "clones of app repositories"},
		{"debootstrap", "debootstrap", "paas stack build"},
		{"iptables", "iptables", "outbound traffic of apps (masquerade)"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			add(check{name: tool.name, info: "not found; needed for " + tool.why, fix: "apt-get install " + tool.pkg})
		} else {
			add(check{name: tool.name, ok: true, info: "found"})
		}
	}

	// stacks
	if err == nil {
		b, berr := builder.New(builder.Options{Address: s.Containerd, Namespace: s.Namespace})
		if berr == nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			st, serr := b.Stacks(sctx)
			cancel()
			b.Close()
			switch {
			case serr != nil:
				add(check{name: "stacks", info: serr.Error(), fix: "paas stack build"})
			case len(st) == 0:
				add(check{name: "stacks", info: "no base images in namespace " + s.Namespace, fix: "paas stack build (a few minutes, once)"})
			default:
				add(check{name: "stacks", ok: true, info: fmt.Sprintf("%d stack images", len(st))})
			}
		}
	}

	// ports: free, or held by a paas server that answers
	for _, p := range []struct{ name, addr string }{{"http port", s.Listen}, {"ssh port", s.SSHListen}} {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			ln.Close()
			add(check{name: p.name, ok: true, info: p.addr + " is free"})
			continue
		}
		if p.name == "http port" && answersHealthz(p.addr) {
			add(check{name: p.name, ok: true, info: p.addr + " is served by a running paas server"})
			continue
		}
		add(check{name: p.name, warn: p.name == "ssh port", info: fmt.Sprintf("cannot listen on %s: %v", p.addr, err), fix: "stop what uses the port, or choose another with --listen / --ssh-listen"})
	}

	// disk
	dir := s.DataDir
	for !fileExists(dir) && dir != "/" {
		dir = filepath.Dir(dir)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil {
		free := int64(fs.Bavail) * int64(fs.Bsize)
		ok := free >= 5<<30
		add(check{name: "disk", ok: ok, warn: !ok && free >= 1<<30, info: fmt.Sprintf("%.1f GiB free for %s", float64(free)/(1<<30), s.DataDir), fix: "free some space: images, builds and logs need a few GiB"})
	}
	return out
}

// resolverCheck warns when a name server containers are given is an
// address of this host: the isolation rules refuse containers the host.
func resolverCheck() check {
	tmp, err := os.MkdirTemp("", "paas-doctor-")
	if err != nil {
		return check{name: "resolvers", warn: true, info: err.Error()}
	}
	defer os.RemoveAll(tmp)
	f := filepath.Join(tmp, "resolv.conf")
	if err := network.WriteResolvConf(f); err != nil {
		return check{name: "resolvers", info: err.Error(), fix: "name a name server that is not on loopback in /etc/resolv.conf"}
	}
	b, _ := os.ReadFile(f)
	local := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				local[n.IP.String()] = true
			}
		}
	}
	var servers, onHost []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
			if local[f[1]] {
				onHost = append(onHost, f[1])
			}
		}
	}
	if len(onHost) > 0 {
		return check{name: "resolvers", warn: true, info: "containers are given name servers on this host, which they cannot reach: " + strings.Join(onHost, ", "),
			fix: "point the host's resolver configuration at name servers off this host"}
	}
	return check{name: "resolvers", ok: true, info: "containers resolve names with " + strings.Join(servers, ", ") + " (off this host)"}
}

// isolationCheck reports the isolation rules of one network.
func isolationCheck(name string, r network.Rules) check {
	if !r.Present {
		return check{name: name, ok: false, warn: true, info: fmt.Sprintf("no rules yet (tables inet and netdev %s): paas server creates them when it starts", r.Table)}
	}
	info := fmt.Sprintf("tables inet and netdev %s: input %d rules (the host refuses what comes through the bridge but replies), forward %d (link-local and routed-in refused), %d containers bound to their veth (MAC, IPv4; nothing but their app's instances in the subnet), %d app groups",
		r.Table, r.Input, r.Forward, r.Ports, len(r.Groups))
	if len(r.Problems) > 0 || len(r.PortsBroken) > 0 {
		return check{name: name, info: info + "; " + strings.Join(append(r.Problems, r.PortsBroken...), "; "), fix: "restart paas server: it puts the rules back"}
	}
	return check{name: name, ok: true, info: info}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func answersHealthz(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.Header.Get("Content-Type") != ""
}
