package network

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
)

// ResolvConfSources are the host files WriteResolvConf reads, in turn:
// the first with a name server that a container can reach wins. With
// systemd-resolved, /etc/resolv.conf names only its stub on 127.0.0.53,
// and the second file has the real servers.
var ResolvConfSources = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

// WriteResolvConf writes the resolv.conf that containers get to dst: the
// host's name servers (loopback ones dropped: in a container they are the
// container itself) and search domains, with the options
// single-request-reopen (glibc's parallel A and AAAA queries from one
// socket can lose an answer in the host's connection tracking for the
// masqueraded traffic, and the lookup then fails with EAI_AGAIN after its
// time-outs) and short time-outs with more attempts.
func WriteResolvConf(dst string, sources ...string) error {
	if len(sources) == 0 {
		sources = ResolvConfSources
	}
	var cfg *dns.ClientConfig
	var servers []string
	var tried []string
	for _, src := range sources {
		c, err := dns.ClientConfigFromFile(src)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		servers = servers[:0]
		for _, s := range c.Servers {
			a, err := netip.ParseAddr(s)
			if err != nil || a.IsLoopback() {
				continue
			}
			servers = append(servers, a.String())
		}
		if len(servers) > 0 {
			cfg = c
			break
		}
		tried = append(tried, src+" names no name server a container can reach")
	}
	if cfg == nil {
		return fmt.Errorf("no name servers for containers: %s", strings.Join(tried, "; "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by paas from the host's resolver configuration.\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(cfg.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(cfg.Search, " "))
	}
	ndots := ""
	if cfg.Ndots != 1 {
		ndots = fmt.Sprintf(" ndots:%d", cfg.Ndots)
	}
	fmt.Fprintf(&b, "options single-request-reopen timeout:2 attempts:3%s\n", ndots)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
