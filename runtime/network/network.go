// Package network gives containers a network namespace of their own on a
// CNI bridge, with host-local addresses and masquerade for outbound
// traffic, using containerd's go-cni and the standard CNI plugins (Debian's
// containernetworking-plugins in /usr/lib/cni). Both the runtime (app
// instances) and the builder (RUN steps, buildpacks) use it.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/containerd/containerd/v2/pkg/netns"
	gocni "github.com/containerd/go-cni"
	"github.com/vishvananda/netlink"
)

// Config describes one network. Zero values are documented per field.
type Config struct {
	// Name names the CNI network; if empty, "paas".
	Name string
	// Bridge is the Linux bridge; at most 15 characters; if empty,
	// "paas0". One bridge serves one subnet: use a bridge of its own for
	// each network on a machine.
	Bridge string
	// Subnet is the CIDR addresses are taken from; if empty, 10.77.0.0/16.
	Subnet string
	// PluginDirs hold the CNI plugin binaries; if empty, /usr/lib/cni
	// and /opt/cni/bin.
	PluginDirs []string
	// StateDir keeps the address allocations and network namespaces.
	// Required.
	StateDir string
}

// Network attaches and detaches network namespaces. It is safe for
// concurrent use.
type Network struct {
	cfg Config
	cni gocni.CNI
	fw  *firewall
}

// GroupLabel is the Attach label that names an attachment's group (an
// app): attachments of one group reach each other, and nothing else on
// the network reaches them but the host. Without it an attachment (a
// build step) reaches no other.
const GroupLabel = "paas.app"

// Attachment is a network namespace attached to the network.
type Attachment struct {
	ID        string // the caller's name for it, e.g. a container ID
	NetNSPath string // bind-mounted namespace, to give to the container
	IP        net.IP
}

var bridgeRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)

// New checks cfg and prepares the network: the bridge itself is created
// by the first Attach, the firewall tables (see firewall.go) now, and
// what an earlier run left of them is brought back in line.
func New(cfg Config) (*Network, error) {
	if cfg.Name == "" {
		cfg.Name = "paas"
	}
	if cfg.Bridge == "" {
		cfg.Bridge = "paas0"
	}
	if cfg.Subnet == "" {
		cfg.Subnet = "10.77.0.0/16"
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.StateDir == "" {
		return nil, errors.New("network: no state directory")
	}
	if !bridgeRE.MatchString(cfg.Bridge) {
		return nil, fmt.Errorf("network: invalid bridge name %q: up to 15 letters, digits, '.', '-' or '_'", cfg.Bridge)
	}
	if _, _, err := net.ParseCIDR(cfg.Subnet); err != nil {
		return nil, fmt.Errorf("network: invalid subnet %q: %w", cfg.Subnet, err)
	}
	found := false
	for _, d := range cfg.PluginDirs {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("network: no CNI bridge plugin in %v (install containernetworking-plugins)", cfg.PluginDirs)
	}
	for _, d := range []string{"ipam", "netns"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o700); err != nil {
			return nil, err
		}
	}
	conf, err := confList(cfg)
	if err != nil {
		return nil, err
	}
	c, err := gocni.New(
		gocni.WithPluginDir(cfg.PluginDirs),
		gocni.WithMinNetworkCount(2),
		gocni.WithLoNetwork,
		gocni.WithConfListBytes(conf),
	)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	fw, err := newFirewall(cfg.Bridge, cfg.Subnet, filepath.Join(cfg.StateDir, "firewall"))
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := fw.ensure(); err != nil {
		return nil, fmt.Errorf("network %s: isolation rules: %w (paas needs nf_tables with the inet and netdev families)", cfg.Name, err)
	}
	return &Network{cfg: cfg, cni: c, fw: fw}, nil
}

// confList is the CNI configuration: a bridge with host-local addresses,
// the bridge as gateway, and masquerade for traffic leaving the subnet.
func confList(cfg Config) ([]byte, error) {
	return json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"name":       cfg.Name,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      cfg.Bridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": cfg.Subnet}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(cfg.StateDir, "ipam"),
				},
			},
		},
	})
}

// Bridge is the network's bridge name.
func (n *Network) Bridge() string { return n.cfg.Bridge }

// Attach makes a network namespace and connects it to the network. id
// names the attachment for CNI (use the container ID); the labels are
// passed to the plugins. On error nothing is left behind.
func (n *Network) Attach(ctx context.Context, id string, labels map[string]string) (Attachment, error) {
	ns, err := netns.NewNetNS(filepath.Join(n.cfg.StateDir, "netns"))
	if err != nil {
		return Attachment{}, fmt.Errorf("create network namespace: %w", err)
	}
	res, err := n.cni.Setup(ctx, id, ns.GetPath(), gocni.WithLabels(cniLabels(labels)))
	if err != nil {
		_ = n.cni.Remove(context.WithoutCancel(ctx), id, ns.GetPath())
		_ = ns.Remove()
		return Attachment{}, fmt.Errorf("attach %s to network %s: %w", id, n.cfg.Name, err)
	}
	a := Attachment{ID: id, NetNSPath: ns.GetPath()}
	var mac net.HardwareAddr
	var veths []string
	for name, iface := range res.Interfaces {
		if name == "lo" || iface == nil {
			continue
		}
		if iface.Sandbox == "" {
			// The bridge, the host's end of the veth, and go-cni's
			// placeholder for its default interface (no MAC).
			if name != n.cfg.Bridge && iface.Mac != "" {
				veths = append(veths, name)
			}
			continue
		}
		for _, c := range iface.IPConfigs {
			if c.IP.To4() != nil {
				a.IP = c.IP
				mac, _ = net.ParseMAC(iface.Mac)
			}
		}
	}
	veth, err := n.hostVeth(veths)
	if a.IP == nil || err != nil {
		_ = n.Detach(context.WithoutCancel(ctx), id, ns.GetPath())
		return Attachment{}, fmt.Errorf("attach %s: CNI gave no IPv4 address or host interface: %v", id, err)
	}
	if err := n.fw.attach(id, labels[GroupLabel], veth, mac, a.IP); err != nil {
		_ = n.Detach(context.WithoutCancel(ctx), id, ns.GetPath())
		return Attachment{}, fmt.Errorf("attach %s: %w", id, err)
	}
	return a, nil
}

// hostVeth checks that the one candidate is a veth on the network's
// bridge: rules bound to it drop what its container does not send.
func (n *Network) hostVeth(names []string) (string, error) {
	if len(names) != 1 {
		return "", fmt.Errorf("host interfaces %v, want one", names)
	}
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		return "", err
	}
	l, err := netlink.LinkByName(names[0])
	if err != nil {
		return "", err
	}
	if l.Type() != "veth" || l.Attrs().MasterIndex != br.Attrs().Index {
		return "", fmt.Errorf("%s is not a veth on bridge %s", names[0], n.cfg.Bridge)
	}
	return names[0], nil
}

// Detach disconnects and removes a network namespace that Attach made. It
// is idempotent: detaching what is already gone succeeds.
func (n *Network) Detach(ctx context.Context, id, netnsPath string) error {
	var errs []error
	if err := n.fw.detach(id); err != nil {
		errs = append(errs, fmt.Errorf("detach %s: %w", id, err))
	}
	if _, err := os.Stat(netnsPath); err == nil {
		if err := n.cni.Remove(ctx, id, netnsPath); err != nil {
			errs = append(errs, fmt.Errorf("detach %s: %w", id, err))
		}
		if err := netns.LoadNetNS(netnsPath).Remove(); err != nil {
			errs = append(errs, fmt.Errorf("remove network namespace of %s: %w", id, err))
		}
	} else {
		// The namespace is gone; still free the address CNI holds for id.
		if err := n.cni.Remove(ctx, id, ""); err != nil {
			errs = append(errs, fmt.Errorf("detach %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// cniLabels adds IgnoreUnknown so plugins accept labels they don't know.
func cniLabels(l map[string]string) map[string]string {
	out := map[string]string{"IgnoreUnknown": "1"}
	for k, v := range l {
		out[k] = v
	}
	return out
}

// Keep puts the isolation rules back whenever they are found missing (a
// "flush ruleset" of nftables.service, an operator's nft), checking every
// interval, until ctx ends.
func (n *Network) Keep(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.fw.intact() {
			continue
		}
		log.Warn("network isolation rules were missing: putting them back", "network", n.cfg.Name, "table", n.fw.tableName())
		if err := n.fw.ensure(); err != nil {
			log.Error("network isolation rules", "network", n.cfg.Name, "err", err)
		}
	}
}

// Rules describes the isolation rules in effect on the network.
func (n *Network) Rules() Rules { return n.fw.describe() }

// DeleteBridge removes the network's bridge and its firewall tables from
// the host, for tests and uninstalls. Detach every attachment first.
func (n *Network) DeleteBridge() error {
	ferr := n.fw.deleteTables()
	l, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return ferr
		}
		return errors.Join(ferr, err)
	}
	return errors.Join(ferr, netlink.LinkDel(l))
}
