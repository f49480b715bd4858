package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"

	"github.com/containerd/containerd/v2/pkg/netns"
	cnins "github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Outside makes a network namespace that stands in for the internet and
// the cloud's metadata service, so that tests never send traffic off the
// machine: a veth named link to the host, with 10.230.n.1/30 on the
// host's side and 10.230.n.2/30 and 169.254.169.254/32 on the far side
// (the host routes the metadata address there, with metric 1000+n so
// that two such namespaces can exist at once), and a TCP listener on port
// 80 of both, which serves handler over HTTP (nil: accepts and closes).
// It returns "10.230.n.2:80" and removes everything at the end of the
// test. Traffic from paas's networks arrives masqueraded, from
// 10.230.n.1.
func Outside(t testing.TB, link string, n int, handler http.Handler) string {
	t.Helper()
	Root(t)
	ns, err := netns.NewNetNS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = link
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: link + "p"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(link); err == nil {
			_ = netlink.LinkDel(l) // the route goes with it
		}
		_ = ns.Remove()
	})
	peer, err := netlink.LinkByName(link + "p")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := os.Open(ns.GetPath())
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if err := netlink.LinkSetNsFd(peer, int(fd.Fd())); err != nil {
		t.Fatal(err)
	}
	host, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(s string) *netlink.Addr { a, _ := netlink.ParseAddr(s); return a }
	near, far := net.IPv4(10, 230, byte(n), 1), net.IPv4(10, 230, byte(n), 2)
	if err := netlink.AddrAdd(host, addr(near.String()+"/30")); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		t.Fatal(err)
	}
	metadata := &net.IPNet{IP: net.IPv4(169, 254, 169, 254), Mask: net.CIDRMask(32, 32)}
	if err := netlink.RouteAdd(&netlink.Route{Dst: metadata, Gw: far, LinkIndex: host.Attrs().Index, Priority: 1000 + n}); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		errc <- cnins.WithNetNSPath(ns.GetPath(), func(cnins.NetNS) error {
			p, err := netlink.LinkByName(link + "p")
			if err != nil {
				return err
			}
			for _, a := range []string{far.String() + "/30", "169.254.169.254/32"} {
				if err := netlink.AddrAdd(p, addr(a)); err != nil {
					return err
				}
			}
			if err := netlink.LinkSetUp(p); err != nil {
				return err
			}
			if lo, err := netlink.LinkByName("lo"); err == nil {
				_ = netlink.LinkSetUp(lo)
			}
			if err := netlink.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: near}); err != nil {
				return err
			}
			ln, err = net.Listen("tcp", ":80")
			return err
		})
	}()
	if err := <-errc; err != nil {
		t.Fatalf("outside namespace: %v", err)
	}
	if handler != nil {
		srv := &http.Server{Handler: handler}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	} else {
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
	}
	return fmt.Sprintf("%s:80", far)
}
