package network

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The firewall keeps tenants apart on a network's bridge with nftables
// rules that paas owns, in two tables named "paas-<bridge>":
//
//   - netdev: one base chain "port-<hash of the attachment ID>" on the
//     ingress of each container's host-side veth. It sees every frame the
//     container sends, before the bridge does, so the container's MAC and
//     IPv4 address are bound to it (ARP included; IPv6, VLAN tags and other
//     ether types are dropped), and within the subnet it reaches only the
//     gateway and the members of its group (the instances of its app, kept
//     in a set "app-<hash of the app>": MAC . IPv4). Other subnet addresses
//     are refused (TCP reset, ICMP administratively prohibited), multicast
//     and broadcast dropped. Attachments without a group (build steps)
//     reach no other attachment.
//   - inet: "input" refuses whatever comes in through the bridge to the
//     host itself (any of its addresses and ports) unless it belongs to a
//     connection the host opened (the router's); "forward" refuses
//     link-local destinations (169.254.0.0/16, the metadata address) and
//     anything routed into the bridge from elsewhere that is not a reply.
//
// The netdev hook, unlike iptables' FORWARD chain, sees traffic between
// ports of one bridge without br_netfilter, so nothing host-wide is
// switched on: the inet chains match only the bridge's own name, and the
// netdev chains only paas's own veths. The state is the kernel's: each
// port chain's first rule carries what Detach needs to undo it, so a
// paas killed with SIGKILL converges on restart (see sweep).

// Rule counts, reported by describe and checked by tests.
const (
	inputRules = 3
	fwdRules   = 4
)

// portNote is kept in the user data of a port chain's first rule.
type portNote struct {
	ID     string `json:"id"`
	Device string `json:"dev"`
	Set    string `json:"set,omitempty"`
	MAC    string `json:"mac"`
	IP     string `json:"ip"`
}

type firewall struct {
	bridge  string
	subnet  *net.IPNet
	gateway net.IP
	// dir keeps a copy of each port chain's note, so that the chains can
	// be rebuilt when something else flushed the ruleset (nftables.service
	// restarted, say); "": no copies.
	dir string
	mu  sync.Mutex
}

func newFirewall(bridge, subnet, dir string) (*firewall, error) {
	_, n, err := net.ParseCIDR(subnet)
	if err != nil {
		return nil, err
	}
	if n.IP.To4() == nil {
		return nil, fmt.Errorf("subnet %s is not IPv4", subnet)
	}
	gw := make(net.IP, 4)
	copy(gw, n.IP.To4())
	gw[3]++ // host-local's default gateway: the subnet's first address
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return &firewall{bridge: bridge, subnet: n, gateway: gw, dir: dir}, nil
}

func (f *firewall) tableName() string { return "paas-" + f.bridge }
func (f *firewall) inet() *nftables.Table {
	return &nftables.Table{Name: f.tableName(), Family: nftables.TableFamilyINet}
}
func (f *firewall) netdev() *nftables.Table {
	return &nftables.Table{Name: f.tableName(), Family: nftables.TableFamilyNetdev}
}

func chainName(id string) string { return "port-" + shortHash(id) }

// GroupSet is the name of the set that holds the members of group (an
// app) on a network.
func GroupSet(group string) string { return "app-" + shortHash(group) }

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

func conn() (*nftables.Conn, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// ensure creates the tables and the host-side chains, replacing their
// rules (so a restart converges without duplicates), and removes the port
// chains of attachments whose veth is gone.
func (f *firewall) ensure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := conn()
	if err != nil {
		return err
	}
	ti := c.AddTable(f.inet())
	accept := nftables.ChainPolicyAccept
	in := c.AddChain(&nftables.Chain{Name: "input", Table: ti, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	fw := c.AddChain(&nftables.Chain{Name: "forward", Table: ti, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	c.FlushChain(in)
	c.FlushChain(fw)
	br := ifname(f.bridge)
	fromBridge := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: br},
	}
	// input: the host answers nothing that comes in through the bridge
	// but the replies of connections it opened.
	c.AddRule(&nftables.Rule{Table: ti, Chain: in, Exprs: cat(fromBridge, ctReply(true), verdict(expr.VerdictAccept))})
	for _, r := range refuse(fromBridge) {
		c.AddRule(&nftables.Rule{Table: ti, Chain: in, Exprs: r})
	}
	// forward: no link-local destination (the metadata address) ...
	linkLocal := cat(fromBridge,
		[]expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		},
		inPrefix(16, net.IPNet{IP: net.IPv4(169, 254, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}))
	for _, r := range refuse(linkLocal) {
		c.AddRule(&nftables.Rule{Table: ti, Chain: fw, Exprs: r})
	}
	// ... and nothing routed into the bridge from elsewhere (another
	// network of paas, the LAN) but replies. Bridged traffic, which
	// br_netfilter may show here, has the bridge as both interfaces.
	intoBridge := cat(
		[]expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: br},
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: br},
		}, ctReply(false))
	for _, r := range refuse(intoBridge) {
		c.AddRule(&nftables.Rule{Table: ti, Chain: fw, Exprs: r})
	}
	c.AddTable(f.netdev())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: set up table %s: %w", f.tableName(), err)
	}
	return f.sweep(c)
}

// sweep removes the port chains whose veth no longer exists: attachments
// that were never detached (paas was killed, the namespace went), and
// group members and groups that no port chain stands for.
func (f *firewall) sweep(c *nftables.Conn) error {
	notes, err := f.ports(c)
	if err != nil {
		return err
	}
	// Chains that are gone from the kernel but not from the state
	// directory were flushed by someone else: rebuilt below.
	saved, err := f.savedNotes()
	if err != nil {
		return err
	}
	for chain, n := range saved {
		if _, ok := notes[chain]; !ok {
			notes[chain] = n
		}
	}
	var errs []error
	for chain, n := range notes {
		if _, err := net.InterfaceByName(n.Device); err == nil {
			// Live: its rules as this version makes them.
			mac, _ := net.ParseMAC(n.MAC)
			ip4 := net.ParseIP(n.IP).To4()
			if len(mac) != 6 || ip4 == nil {
				continue // not paas's note: described as broken, left alone
			}
			if n.Set != "" {
				set := f.groupSet(n.Set)
				if err := c.AddSet(set, nil); err != nil {
					return err
				}
				if err := c.SetAddElements(set, []nftables.SetElement{{Key: memberKey(mac, ip4)}}); err != nil {
					return err
				}
			}
			f.portChain(c, chain, n)
			if err := c.Flush(); err != nil {
				errs = append(errs, fmt.Errorf("nftables: rules of %s: %w", chain, err))
			}
			continue
		}
		if err := f.remove(c, chain, n); err != nil {
			errs = append(errs, err)
		}
		delete(notes, chain)
	}
	return errors.Join(append(errs, f.prune(c, notes))...)
}

// prune removes the group members that no port chain in notes stands for
// (a kernel may delete a netdev chain with its device), and empty groups.
func (f *firewall) prune(c *nftables.Conn, notes map[string]portNote) error {
	sets, err := c.GetSets(f.netdev())
	if err != nil {
		return fmt.Errorf("nftables: sets of %s: %w", f.tableName(), err)
	}
	live := map[string]bool{}
	for _, n := range notes {
		mac, _ := net.ParseMAC(n.MAC)
		if ip := net.ParseIP(n.IP).To4(); len(mac) == 6 && ip != nil {
			live[n.Set+"/"+string(memberKey(mac, ip))] = true
		}
	}
	for _, s := range sets {
		if !strings.HasPrefix(s.Name, "app-") {
			continue
		}
		set := f.groupSet(s.Name)
		els, err := c.GetSetElements(set)
		if err != nil {
			return fmt.Errorf("nftables: elements of %s: %w", s.Name, err)
		}
		var stale []nftables.SetElement
		for _, e := range els {
			if !live[s.Name+"/"+string(e.Key)] {
				stale = append(stale, nftables.SetElement{Key: e.Key})
			}
		}
		if len(stale) > 0 {
			if err := c.SetDeleteElements(set, stale); err != nil {
				return err
			}
		}
		if len(stale) == len(els) {
			c.DelSet(set)
		}
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("nftables: prune %s: %w", s.Name, err)
		}
	}
	return nil
}

// ports reads the port chains of the netdev table and their notes.
func (f *firewall) ports(c *nftables.Conn) (map[string]portNote, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	out := map[string]portNote{}
	for _, ch := range chains {
		if ch.Table.Name != f.tableName() || !strings.HasPrefix(ch.Name, "port-") {
			continue
		}
		rules, err := c.GetRules(f.netdev(), ch)
		if err != nil {
			return nil, fmt.Errorf("nftables: rules of %s: %w", ch.Name, err)
		}
		var n portNote
		if len(rules) > 0 {
			_ = json.Unmarshal(rules[0].UserData, &n)
		}
		out[ch.Name] = n
	}
	return out, nil
}

// attach binds mac and ip to the host-side veth dev and puts the
// attachment in group ("" for none).
func (f *firewall) attach(id, group, dev string, mac net.HardwareAddr, ip net.IP) error {
	ip4 := ip.To4()
	if ip4 == nil || len(mac) != 6 {
		return fmt.Errorf("firewall: attachment %s has no IPv4 or MAC address (%v, %v)", id, ip, mac)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := conn()
	if err != nil {
		return err
	}
	c.AddTable(f.netdev())
	note := portNote{ID: id, Device: dev, MAC: mac.String(), IP: ip4.String()}
	if group != "" {
		set := f.groupSet(GroupSet(group))
		if err := c.AddSet(set, nil); err != nil {
			return err
		}
		if err := c.SetAddElements(set, []nftables.SetElement{{Key: memberKey(mac, ip4)}}); err != nil {
			return err
		}
		note.Set = set.Name
	}
	if err := f.saveNote(chainName(id), note); err != nil {
		return err
	}
	f.portChain(c, chainName(id), note)
	if err := c.Flush(); err != nil {
		f.forgetNote(chainName(id))
		return fmt.Errorf("nftables: rules for %s on %s: %w", id, dev, err)
	}
	return nil
}

func (f *firewall) noteFile(chain string) string { return filepath.Join(f.dir, chain+".json") }

// saveNote keeps a copy of a port chain's note in the state directory.
func (f *firewall) saveNote(chain string, n portNote) error {
	if f.dir == "" {
		return nil
	}
	b, _ := json.Marshal(n)
	tmp := f.noteFile(chain) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("firewall: save note of %s: %w", chain, err)
	}
	return os.Rename(tmp, f.noteFile(chain))
}

func (f *firewall) forgetNote(chain string) {
	if f.dir != "" {
		_ = os.Remove(f.noteFile(chain))
	}
}

// savedNotes reads the copies of the port chains' notes.
func (f *firewall) savedNotes() (map[string]portNote, error) {
	out := map[string]portNote{}
	if f.dir == "" {
		return out, nil
	}
	files, err := filepath.Glob(filepath.Join(f.dir, "port-*.json"))
	if err != nil {
		return nil, err
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var n portNote
		if err := json.Unmarshal(b, &n); err != nil {
			_ = os.Remove(p) // a torn write of a crashed paas: its chain is swept
			continue
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = n
	}
	return out, nil
}

// intact reports whether the host chains and every saved port chain are
// in the kernel.
func (f *firewall) intact() bool {
	r := f.describe()
	saved, err := f.savedNotes()
	return err == nil && len(r.Problems) == 0 && r.Ports == len(saved)
}

// portChain queues the port chain of note: created if missing, its rules
// replaced.
func (f *firewall) portChain(c *nftables.Conn, name string, note portNote) {
	t := f.netdev()
	mac, _ := net.ParseMAC(note.MAC)
	ip4 := net.ParseIP(note.IP).To4()
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookIngress, Priority: nftables.ChainPriorityFilter, Device: note.Device, Policy: &accept})
	c.FlushChain(ch)
	ud, _ := json.Marshal(note)
	for i, r := range f.portRules(mac, ip4, note.Set) {
		rule := &nftables.Rule{Table: t, Chain: ch, Exprs: r}
		if i == 0 {
			rule.UserData = ud
		}
		c.AddRule(rule)
	}
}

// detach removes what attach made for id; what is already gone is not an
// error.
func (f *firewall) detach(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := conn()
	if err != nil {
		return err
	}
	name := chainName(id)
	rules, err := c.GetRules(f.netdev(), &nftables.Chain{Name: name, Table: f.netdev()})
	if errors.Is(err, unix.ENOENT) {
		// Gone already, maybe with its device: its group membership
		// may be left.
		f.forgetNote(name)
		notes, err := f.ports(c)
		if err != nil {
			return err
		}
		return f.prune(c, notes)
	} else if err != nil {
		return fmt.Errorf("nftables: rules of %s: %w", name, err)
	}
	var n portNote
	if len(rules) > 0 {
		_ = json.Unmarshal(rules[0].UserData, &n)
	}
	return f.remove(c, name, n)
}

func (f *firewall) remove(c *nftables.Conn, chain string, n portNote) error {
	t := f.netdev()
	set := f.groupSet(n.Set)
	mac, _ := net.ParseMAC(n.MAC)
	ip := net.ParseIP(n.IP).To4()
	member := n.Set != "" && len(mac) == 6 && ip != nil
	// One transaction for the chain and the membership; if the member
	// is gone already (the batch fails as a whole), the chain alone.
	c.DelChain(&nftables.Chain{Name: chain, Table: t})
	if member {
		if err := c.SetDeleteElements(set, []nftables.SetElement{{Key: memberKey(mac, ip)}}); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("nftables: delete chain %s: %w", chain, err)
		}
		c.DelChain(&nftables.Chain{Name: chain, Table: t})
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("nftables: delete chain %s: %w", chain, err)
		}
	}
	f.forgetNote(chain)
	if n.Set == "" {
		return nil
	}
	// The group's last member takes its set along (the app is gone from
	// this network). A set still in use by a rule is kept.
	if els, err := c.GetSetElements(set); err == nil && len(els) == 0 {
		c.DelSet(set)
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("nftables: delete set %s: %w", n.Set, err)
		}
	}
	return nil
}

// deleteTables deletes both tables, for DeleteBridge.
func (f *firewall) deleteTables() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := conn()
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range []*nftables.Table{f.inet(), f.netdev()} {
		c.DelTable(t)
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("nftables: delete table %s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (f *firewall) groupSet(name string) *nftables.Set {
	return &nftables.Set{Table: f.netdev(), Name: name, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeEtherAddr, nftables.TypeIPAddr)}
}

// memberKey is a group set's key: the MAC (padded to 8 bytes) and IPv4.
func memberKey(mac net.HardwareAddr, ip4 net.IP) []byte {
	k := make([]byte, 12)
	copy(k, mac)
	copy(k[8:], ip4)
	return k
}

// portRules are the rules on a container's veth ingress, in order; the
// chain's policy accepts what is left (traffic to the gateway and out of
// the subnet, which the inet chains judge).
func (f *firewall) portRules(mac net.HardwareAddr, ip4 net.IP, set string) [][]expr.Any {
	etherType := func(op expr.CmpOp, t uint16) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
			&expr.Cmp{Op: op, Register: 1, Data: binaryutil.BigEndian.PutUint16(t)},
		}
	}
	field := func(base expr.PayloadBase, off, n uint32, op expr.CmpOp, v []byte) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: n},
			&expr.Cmp{Op: op, Register: 1, Data: v},
		}
	}
	drop, accept := verdict(expr.VerdictDrop), verdict(expr.VerdictAccept)
	isARP := etherType(expr.CmpOpEq, unix.ETH_P_ARP)
	rules := [][]expr.Any{
		// The container's own MAC, ...
		cat(field(expr.PayloadBaseLLHeader, 6, 6, expr.CmpOpNeq, mac), drop),
		// ... in ARP too (sender hardware and protocol addresses) ...
		cat(isARP, field(expr.PayloadBaseNetworkHeader, 8, 6, expr.CmpOpNeq, mac), drop),
		cat(isARP, field(expr.PayloadBaseNetworkHeader, 14, 4, expr.CmpOpNeq, ip4), drop),
		cat(isARP, accept),
		// ... IPv4 only, from its own address.
		cat(etherType(expr.CmpOpNeq, unix.ETH_P_IP), drop),
		cat(field(expr.PayloadBaseNetworkHeader, 12, 4, expr.CmpOpNeq, ip4), drop),
		// The gateway: the inet chains decide.
		cat(field(expr.PayloadBaseNetworkHeader, 16, 4, expr.CmpOpEq, f.gateway.To4()), accept),
	}
	if set != "" {
		// A member of its group, at the member's own MAC.
		rules = append(rules, cat([]expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 0, Len: 6},
			&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: set},
		}, accept))
	}
	// Anything else in the subnet is refused; multicast and broadcast
	// (224.0.0.0/3) dropped.
	rules = append(rules, refuse(inPrefix(16, *f.subnet))...)
	rules = append(rules, cat(inPrefix(16, net.IPNet{IP: net.IPv4(224, 0, 0, 0).To4(), Mask: net.CIDRMask(3, 32)}), drop))
	return rules
}

// refuse is two rules: a TCP reset for TCP (connect fails with
// ECONNREFUSED), ICMP administratively prohibited for the rest
// (EHOSTUNREACH).
func refuse(match []expr.Any) [][]expr.Any {
	return [][]expr.Any{
		cat(match, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
		}),
		cat(match, []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}}),
	}
}

// inPrefix matches an IPv4 header field at off (16: destination) in n.
func inPrefix(off uint32, n net.IPNet) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.To4().Mask(n.Mask)},
	}
}

// ctReply matches (or, with want false, does not match) packets of
// connections in state established or related.
func ctReply(want bool) []expr.Any {
	op := expr.CmpOpNeq
	if !want {
		op = expr.CmpOpEq
	}
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: op, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ifname is an interface name as the kernel compares it (IFNAMSIZ,
// zero-padded).
func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

// Rules describes the isolation rules in effect on the network's bridge.
type Rules struct {
	Table       string   // the tables' name, in the inet and netdev families
	Present     bool     // the inet table exists
	Input       int      // rules in the inet table's input chain
	Forward     int      // rules in the inet table's forward chain
	Ports       int      // attachments with a port chain
	Groups      []string // group sets (apps) with members
	Problems    []string // what is missing or wrong
	PortsBroken []string // port chains whose rules are not all there
}

// describe reads what is in effect.
func (f *firewall) describe() Rules {
	r := Rules{Table: f.tableName()}
	c, err := conn()
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	if _, err := c.ListTableOfFamily(r.Table, nftables.TableFamilyINet); err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("no table inet %s: %v", r.Table, err))
		return r
	}
	r.Present = true
	for _, ch := range []struct {
		name string
		want int
		n    *int
	}{{"input", inputRules, &r.Input}, {"forward", fwdRules, &r.Forward}} {
		rules, err := c.GetRules(f.inet(), &nftables.Chain{Name: ch.name, Table: f.inet()})
		if errors.Is(err, unix.ENOENT) {
			r.Problems = append(r.Problems, fmt.Sprintf("no chain %s in table inet %s", ch.name, r.Table))
			continue
		} else if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("inet %s %s: %v", r.Table, ch.name, err))
			continue
		}
		*ch.n = len(rules)
		if len(rules) != ch.want {
			r.Problems = append(r.Problems, fmt.Sprintf("inet %s %s has %d rules, want %d", r.Table, ch.name, len(rules), ch.want))
		}
	}
	notes, err := f.ports(c)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	r.Ports = len(notes)
	for chain, n := range notes {
		if n.Device == "" {
			r.PortsBroken = append(r.PortsBroken, chain)
		}
	}
	sets, err := c.GetSets(f.netdev())
	if err == nil {
		for _, s := range sets {
			r.Groups = append(r.Groups, s.Name)
		}
	}
	sort.Strings(r.Groups)
	sort.Strings(r.PortsBroken)
	return r
}

// Inspect describes the isolation rules in effect for the network on
// bridge, without creating anything; Rules.Problems says what is missing
// (the tables, when no paas server has started on this machine).
func Inspect(bridge string) Rules {
	f := &firewall{bridge: bridge}
	return f.describe()
}

// Probe checks that the kernel has what the isolation rules need
// (nf_tables with the inet and netdev families, connection tracking and
// reject), by loading a sample of them in a network namespace of its own
// that is thrown away after.
func Probe() error {
	errc := make(chan error, 1)
	go func() {
		// The thread stays locked: it ends with the goroutine, and the
		// namespace with it.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("new network namespace: %w", err)
			return
		}
		errc <- probe()
	}()
	return <-errc
}

func probe() error {
	f, err := newFirewall("lo", "10.0.0.0/24", "")
	if err != nil {
		return err
	}
	if err := f.ensure(); err != nil {
		return err
	}
	return f.attach("probe", "probe", "lo", net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.IPv4(10, 0, 0, 2))
}
