package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"

	cnins "github.com/containernetworking/plugins/pkg/ns"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"paas/internal/testenv"
)

// inNS runs fn on a thread in the network namespace at path; sockets fn
// makes stay in that namespace.
func inNS(t *testing.T, path string, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		errc <- cnins.WithNetNSPath(path, func(cnins.NetNS) error { return fn() })
	}()
	return <-errc
}

// dialFrom opens a TCP connection from inside the namespace at path, with
// source address src if not empty, and reports the error.
func dialFrom(t *testing.T, path, src, dst string) error {
	t.Helper()
	return inNS(t, path, func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		c, err := d.Dial("tcp", dst)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// listenHost opens a TCP listener on the host at ip, as paas's API or SSH
// port would be, and returns its address.
func listenHost(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestIsolation: on the instances' network, an instance reaches the other
// instances of its app, the gateway only as far as the host lets it (not
// at all) and the internet, but not another app's instance, the host's
// ports (on the gateway or any other of its addresses) or the metadata
// address: each refused at once (ECONNREFUSED). On the build network, a
// build step reaches nothing but the internet. The host reaches every
// instance. On the old code every connection succeeded.
func TestIsolation(t *testing.T) {
	n := testNetwork(t)
	b := testNetworkOn(t, fmt.Sprintf("ptsto%d", os.Getpid()%100000), "10.229.0.0/24")
	ctx := context.Background()
	internet := testenv.Outside(t, fmt.Sprintf("ptsti%d", os.Getpid()%100000), 0, nil)
	attach := func(nw *Network, id string, labels map[string]string) Attachment {
		a, err := nw.Attach(ctx, id, labels)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := nw.Detach(ctx, a.ID, a.NetNSPath); err != nil {
				t.Errorf("Detach(%s) = %v", a.ID, err)
			}
		})
		serveIn(t, a.NetNSPath, id)
		return a
	}
	a1 := attach(n, "shop-1", map[string]string{GroupLabel: "shop"})
	a2 := attach(n, "shop-2", map[string]string{GroupLabel: "shop"})
	b1 := attach(n, "blog-1", map[string]string{GroupLabel: "blog"})
	s1 := attach(b, "step-1", map[string]string{"paas.build": "step-1"})
	s2 := attach(b, "step-2", map[string]string{"paas.build": "step-2"})
	api := listenHost(t, "10.231.0.1")      // paas's ports on the instances' gateway
	buildAPI := listenHost(t, "10.229.0.1") // ... on the build network's gateway
	other := listenHost(t, "10.230.0.1")    // ... on another address of the host
	at := func(a Attachment) string { return net.JoinHostPort(a.IP.String(), "8080") }

	refused := syscall.ECONNREFUSED
	timedOut := func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	for _, c := range []struct {
		name string
		from Attachment
		to   string
		want error // nil: connects
	}{
		{"instance to an instance of its app", a1, at(a2), nil},
		{"instance to the other way", a2, at(a1), nil},
		{"instance to another app's instance", a1, at(b1), refused},
		{"instance to another app, reverse", b1, at(a2), refused},
		{"instance to the host on its gateway", a1, api, refused},
		{"instance to the host on the build gateway", a1, buildAPI, refused},
		{"instance to the host on another address", a1, other, refused},
		{"instance to the metadata address", a1, "169.254.169.254:80", refused},
		{"instance to a build step", a1, at(s1), refused},
		{"instance to the internet", a1, internet, nil},
		{"build step to another build step", s1, at(s2), refused},
		{"build step to the host on its gateway", s1, buildAPI, refused},
		{"build step to the host on the instances' gateway", s1, api, refused},
		{"build step to an instance", s1, at(a1), refused},
		{"build step to the metadata address", s1, "169.254.169.254:80", refused},
		{"build step to the internet", s1, internet, nil},
	} {
		err := dialFrom(t, c.from.NetNSPath, "", c.to)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s (%s): %v, want a connection", c.name, c.to, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s (%s): %v, want %v", c.name, c.to, err, c.want)
		}
	}
	// IPv6: the host's port on every address, through the bridge's
	// link-local address (which the old code let through). Nothing but
	// IPv4 and ARP leaves a container: dropped, the dial times out.
	br, err := netlink.LinkByName(n.Bridge())
	if err != nil {
		t.Fatal(err)
	}
	ll, err := netlink.AddrList(br, netlink.FAMILY_V6)
	if err != nil || len(ll) == 0 {
		t.Fatalf("no IPv6 link-local address on the bridge: %v", err)
	}
	_, port, _ := net.SplitHostPort(listenHost(t, "::"))
	to := net.JoinHostPort(ll[0].IP.String()+"%eth1", port) // go-cni names the container's interface eth1
	if err := dialFrom(t, a1.NetNSPath, "", to); !timedOut(err) {
		t.Errorf("instance to the host at %s: %v, want a time-out (dropped)", to, err)
	}
	client := &http.Client{Timeout: 3 * time.Second}
	for _, a := range []Attachment{a1, a2, b1} {
		resp, err := client.Get("http://" + at(a))
		if err != nil {
			t.Errorf("the host (router) to %s: %v", a.ID, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != a.ID {
			t.Errorf("the host to %s: %q", a.ID, body)
		}
	}
}

// testNetworkOn is testNetwork on another bridge and subnet.
func testNetworkOn(t *testing.T, bridge, subnet string) *Network {
	t.Helper()
	n, err := New(Config{Name: "paas-test-" + bridge, Bridge: bridge, Subnet: subnet, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.DeleteBridge(); err != nil {
			t.Errorf("delete bridge %s: %v", bridge, err)
		}
	})
	return n
}

// TestAntiSpoofing: an instance (root in its namespace here, with
// NET_RAW and NET_ADMIN) cannot send with an address that is not its
// own: a second IPv4 address, another MAC, or an ARP reply claiming
// another app's instance's address (which on the old code took over the
// host's neighbour entry, and with it the router's traffic for that
// instance). Each is dropped at its veth.
func TestAntiSpoofing(t *testing.T) {
	n := testNetwork(t)
	ctx := context.Background()
	attach := func(id, group string) Attachment {
		a, err := n.Attach(ctx, id, map[string]string{GroupLabel: group})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Detach(ctx, a.ID, a.NetNSPath) })
		serveIn(t, a.NetNSPath, id)
		return a
	}
	a1, a2, b1 := attach("shop-1", "shop"), attach("shop-2", "shop"), attach("blog-1", "blog")
	at := func(a Attachment) string { return net.JoinHostPort(a.IP.String(), "8080") }
	timedOut := func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	// The container's interface: its only one but lo.
	iface := func(a Attachment) (l netlink.Link) {
		if err := inNS(t, a.NetNSPath, func() error {
			links, err := netlink.LinkList()
			for _, k := range links {
				if k.Attrs().Name != "lo" {
					l = k
				}
			}
			return err
		}); err != nil || l == nil {
			t.Fatalf("interface of %s: %v", a.ID, err)
		}
		return l
	}
	if err := dialFrom(t, a1.NetNSPath, "", at(a2)); err != nil {
		t.Fatalf("shop-1 to shop-2 from its own address: %v", err)
	}

	// Another IPv4 address, in the subnet.
	if err := inNS(t, a1.NetNSPath, func() error {
		ad, _ := netlink.ParseAddr("10.231.0.77/32")
		return netlink.AddrAdd(iface(a1), ad)
	}); err != nil {
		t.Fatal(err)
	}
	if err := dialFrom(t, a1.NetNSPath, "10.231.0.77", at(a2)); !timedOut(err) {
		t.Errorf("shop-1 to shop-2 from 10.231.0.77: %v, want a time-out (dropped)", err)
	}

	// An ARP reply to the host: b1's address is at a1's MAC.
	b1MAC := iface(b1).Attrs().HardwareAddr
	client := &http.Client{Timeout: 3 * time.Second}
	get := func(a Attachment) string {
		resp, err := client.Get("http://" + at(a))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if got := get(b1); got != "blog-1" {
		t.Fatalf("the host to blog-1: %q", got)
	}
	time.Sleep(1200 * time.Millisecond) // past the neighbour entry's locktime
	br, err := netlink.LinkByName(n.Bridge())
	if err != nil {
		t.Fatal(err)
	}
	l1 := iface(a1)
	if err := inNS(t, a1.NetNSPath, func() error {
		return sendARPReply(l1, br.Attrs().HardwareAddr, b1.IP, net.IPv4(10, 231, 0, 1))
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	neighs, err := netlink.NeighList(br.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, nb := range neighs {
		if nb.IP.Equal(b1.IP) && nb.HardwareAddr.String() != b1MAC.String() {
			t.Errorf("after shop-1's forged ARP reply, the host has %v at %v, want %v", b1.IP, nb.HardwareAddr, b1MAC)
		}
	}
	if got := get(b1); got != "blog-1" {
		t.Errorf("after shop-1's forged ARP reply, the host to blog-1's address got %q", got)
	}

	// Another MAC: nothing a1 sends passes any more.
	if err := inNS(t, a1.NetNSPath, func() error {
		mac, _ := net.ParseMAC("02:00:00:00:00:77")
		return netlink.LinkSetHardwareAddr(iface(a1), mac)
	}); err != nil {
		t.Fatal(err)
	}
	if err := dialFrom(t, a1.NetNSPath, "", at(a2)); !timedOut(err) {
		t.Errorf("shop-1 to shop-2 with another MAC: %v, want a time-out (dropped)", err)
	}
}

// sendARPReply sends, on l, an ARP reply from l's MAC to dst saying that
// ip is at l's MAC, addressed to target.
func sendARPReply(l netlink.Link, dst net.HardwareAddr, ip, target net.IP) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	src := l.Attrs().HardwareAddr
	f := make([]byte, 0, 42)
	f = append(f, dst...)
	f = append(f, src...)
	f = append(f, 0x08, 0x06)             // ARP
	f = append(f, 0, 1, 8, 0, 6, 4, 0, 2) // Ethernet, IPv4, reply
	f = append(f, src...)
	f = append(f, ip.To4()...)
	f = append(f, dst...)
	f = append(f, target.To4()...)
	sa := &unix.SockaddrLinklayer{Protocol: 0x0608, Ifindex: l.Attrs().Index, Halen: 6}
	copy(sa.Addr[:], dst)
	return unix.Sendto(fd, f, 0, sa)
}

// TestRulesConverge: a second New on the same network (paas server
// restarted, even after SIGKILL) leaves one copy of every rule, and
// removes what is left of attachments whose veth went while nobody was
// there to detach them: the port chain, the group member, the group.
// Detach and DeleteBridge leave nothing of paas's in nftables.
func TestRulesConverge(t *testing.T) {
	n := testNetwork(t)
	ctx := context.Background()
	var atts []Attachment
	for _, c := range []struct{ id, group string }{{"shop-1", "shop"}, {"shop-2", "shop"}, {"blog-1", "blog"}} {
		a, err := n.Attach(ctx, c.id, map[string]string{GroupLabel: c.group})
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, a)
	}
	restart := func() Rules {
		t.Helper()
		n2, err := New(n.cfg)
		if err != nil {
			t.Fatal(err)
		}
		return n2.Rules()
	}
	check := func(what string, r Rules, ports int, groups ...string) {
		t.Helper()
		sort.Strings(groups)
		want := Rules{Table: "paas-" + n.Bridge(), Present: true, Input: inputRules, Forward: fwdRules, Ports: ports, Groups: groups}
		if fmt.Sprint(r) != fmt.Sprint(want) {
			t.Errorf("%s: Rules() = %+v, want %+v", what, r, want)
		}
	}
	check("attached", n.Rules(), 3, GroupSet("blog"), GroupSet("shop"))
	check("restarted", restart(), 3, GroupSet("blog"), GroupSet("shop"))
	check("restarted twice", restart(), 3, GroupSet("blog"), GroupSet("shop"))
	// A port chain that lost a rule (an operator's nft, an older paas)
	// gets its rules back.
	nc, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	port := &nftables.Chain{Name: chainName("shop-1"), Table: &nftables.Table{Name: "paas-" + n.Bridge(), Family: nftables.TableFamilyNetdev}}
	countDropLast := func() int { // queues the deletion of the last rule
		rules, err := nc.GetRules(port.Table, port)
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) > 0 {
			if err := nc.DelRule(rules[len(rules)-1]); err != nil {
				t.Fatal(err)
			}
		}
		return len(rules)
	}
	if got := countDropLast(); got != 11 {
		t.Errorf("shop-1's port chain has %d rules, want 11", got)
	}
	if err := nc.Flush(); err != nil { // deletes the last one
		t.Fatal(err)
	}
	check("restarted after a port chain lost a rule", restart(), 3, GroupSet("blog"), GroupSet("shop"))
	if got := countDropLast(); got != 11 {
		t.Errorf("after the restart, shop-1's port chain has %d rules, want 11", got)
	}
	// The veths of shop-2 and blog-1 go while paas is down.
	for _, a := range atts[1:] {
		if err := inNS(t, a.NetNSPath, func() error {
			links, err := netlink.LinkList()
			for _, l := range links {
				if l.Attrs().Name != "lo" {
					err = errors.Join(err, netlink.LinkDel(l))
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("with two veths gone, before the restart: %+v", n.Rules())
	check("restarted after two veths went", restart(), 1, GroupSet("shop"))
	for _, a := range atts {
		if err := n.Detach(ctx, a.ID, a.NetNSPath); err != nil {
			t.Errorf("Detach(%s) = %v", a.ID, err)
		}
	}
	check("detached", n.Rules(), 0)
	if left, _ := filepath.Glob(filepath.Join(n.cfg.StateDir, "firewall", "*")); len(left) != 0 {
		t.Errorf("after Detach, saved notes are left: %v", left)
	}
	if err := n.DeleteBridge(); err != nil {
		t.Fatal(err)
	}
	out, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := out.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == "paas-"+n.Bridge() {
			t.Errorf("after DeleteBridge, table %s (family %d) is left", tb.Name, tb.Family)
		}
	}
}

// BenchmarkFirewall times the isolation rules alone: attach (port chain,
// group member) and detach of one veth, with 5 members in the group.
func BenchmarkFirewall(b *testing.B) {
	testenv.Root(b)
	f, err := newFirewall(fmt.Sprintf("ptstn%d", os.Getpid()%100000), "10.231.0.0/24", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := f.ensure(); err != nil {
		b.Fatal(err)
	}
	defer f.deleteTables()
	la := netlink.NewLinkAttrs()
	la.Name = fmt.Sprintf("ptstv%d", os.Getpid()%100000)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: la.Name + "p"}); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if l, err := netlink.LinkByName(la.Name); err == nil {
			_ = netlink.LinkDel(l)
		}
	}()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for i := range 5 {
		if err := f.attach(fmt.Sprintf("base-%d", i), "bench", la.Name, mac, net.IPv4(10, 231, 0, byte(10+i))); err != nil {
			b.Fatal(err)
		}
	}
	var attach, detach time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := f.attach("bench", "bench", la.Name, mac, net.IPv4(10, 231, 0, 99)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := f.detach("bench"); err != nil {
			b.Fatal(err)
		}
		attach += t1.Sub(t0)
		detach += time.Since(t1)
	}
	b.ReportMetric(float64(attach.Microseconds())/float64(b.N)/1000, "ms/attach")
	b.ReportMetric(float64(detach.Microseconds())/float64(b.N)/1000, "ms/detach")
}

// TestRulesRestoredAfterFlush: when something else deletes paas's tables
// (nftables.service's "flush ruleset"), Keep puts every rule back, the
// containers' port chains and app groups included, and another app's
// instance is refused again.
func TestRulesRestoredAfterFlush(t *testing.T) {
	n := testNetwork(t)
	ctx := context.Background()
	var atts []Attachment
	for _, c := range []struct{ id, group string }{{"shop-1", "shop"}, {"shop-2", "shop"}, {"blog-1", "blog"}} {
		a, err := n.Attach(ctx, c.id, map[string]string{GroupLabel: c.group})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Detach(ctx, a.ID, a.NetNSPath) })
		serveIn(t, a.NetNSPath, c.id)
		atts = append(atts, a)
	}
	at := func(a Attachment) string { return net.JoinHostPort(a.IP.String(), "8080") }
	want := fmt.Sprint(n.Rules())
	nc, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyNetdev} {
		nc.DelTable(&nftables.Table{Name: "paas-" + n.Bridge(), Family: fam})
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := dialFrom(t, atts[0].NetNSPath, "", at(atts[2])); err != nil {
		t.Fatalf("with the tables deleted, shop-1 to blog-1: %v, want a connection (the test's premise)", err)
	}
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { n.Keep(kctx, 50*time.Millisecond, slog.Default()); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(n.Rules()) != want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := fmt.Sprint(n.Rules()); got != want {
		t.Fatalf("after Keep: Rules() = %s, want %s", got, want)
	}
	if err := dialFrom(t, atts[0].NetNSPath, "", at(atts[2])); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after Keep, shop-1 to blog-1: %v, want %v", err, syscall.ECONNREFUSED)
	}
	if err := dialFrom(t, atts[0].NetNSPath, "", at(atts[1])); err != nil {
		t.Errorf("after Keep, shop-1 to shop-2: %v", err)
	}
}
