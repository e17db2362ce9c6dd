package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// uplinkPeerName is the uplink's end inside the bridge namespace.
const uplinkPeerName = "uplink0"

// DefaultUplinkPool is where uplinks take their /30s: the top of the shared address
// space (RFC 6598), which a host rarely routes. CONFINE_UPLINK_POOL overrides it.
const DefaultUplinkPool = "100.127.0.0/16"

// uplinkLogBase is the first NFLOG group of the host tables' drops: one group per slot,
// since a group has one listener per namespace and stacks share the host's.
const uplinkLogBase = 0x8000

func uplinkPool() netip.Prefix {
	if p, err := netip.ParsePrefix(os.Getenv("CONFINE_UPLINK_POOL")); err == nil && p.Addr().Is4() && p.Bits() <= 30 {
		return p.Masked()
	}
	return netip.MustParsePrefix(DefaultUplinkPool)
}

// Uplink is a stack's veth from its bridge namespace to the host namespace (the one
// confine runs in), and what it changed there.
type Uplink struct {
	// Link is the host's end; Gateway its address, which `host` reaches; Peer the
	// bridge namespace's end, behind which the stack is masqueraded.
	Link          string
	Gateway, Peer netip.Addr
	// LogGroup receives the host table's drops (ListenLog in the host namespace).
	LogGroup uint16
	// Warning says what on the host will keep egress from working, or "".
	Warning string
	dir     string
	// lone: the peer is a component's own eth0, whose traffic the host filters too.
	lone   bool
	rec    *uplinkRecord
	holder *os.File
}

// CreateUplink gives the stack b a way out, as its Plan's Uplink asks: it allocates a
// /30, makes the veth (the peer created directly in the bridge namespace), routes the
// bridge namespace through it, enables forwarding where replies and requests enter the
// host (recorded first, put back by Remove or, after a crash, by SweepUplinks), and
// loads the host table and the bridge namespace's NAT. All or nothing.
func CreateUplink(b *Bridge, n plan.Network) (_ *Uplink, err error) {
	u, err := reserveUplink(b.Stack)
	if err != nil {
		return nil, err
	}
	unlock, err := transition(u.dir)
	if err != nil {
		u.Remove()
		return nil, fmt.Errorf("uplink: %w", err)
	}
	defer func() {
		unlock()
		if err != nil {
			u.Remove()
		}
	}()
	if err := u.makeLink(b); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	if err := u.openHost(n); err != nil {
		return nil, err
	}
	if err := applyBridgeNAT(b.NSPath, n, u.Gateway, u.Peer); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	b.gateway = netip.MustParseAddr(n.BridgeAddress)
	return u, nil
}

// reserveUplink takes a /30 and the holder lock for name (a stack, or a lone run), and
// records them, removing first what a dead supervisor of the same name left. Nothing
// on the host changes yet; Remove gives it all back.
func reserveUplink(name string) (*Uplink, error) {
	dir, err := hostState(true)
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	unlock, err := transition(dir)
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	defer unlock()
	holder, err := takeHolder(dir, name)
	if err != nil {
		return nil, err
	}
	if old, err := readRecord(dir, name); err == nil {
		teardownRecord(dir, old)
	}
	pool := uplinkPool()
	slot, err := allocSlot(dir, name, 1<<(30-pool.Bits()))
	if err != nil {
		holder.Close()
		os.Remove(filepath.Join(dir, name+".holder"))
		return nil, err
	}
	u := &Uplink{Link: fmt.Sprintf("cfu%d", slot), LogGroup: uint16(uplinkLogBase + slot%0x7fff), dir: dir, holder: holder,
		rec: &uplinkRecord{Stack: name, Slot: slot, Link: fmt.Sprintf("cfu%d", slot), Table: uplinkTableName(name)}}
	base := binary.BigEndian.Uint32(pool.Addr().AsSlice()) + uint32(4*slot)
	u.Gateway, u.Peer = addr4(base+1), addr4(base+2)
	if err := writeRecord(dir, u.rec); err != nil {
		teardownRecord(dir, u.rec)
		holder.Close()
		os.Remove(filepath.Join(dir, name+".holder"))
		return nil, err
	}
	return u, nil
}

// openHost enables forwarding where the uplink's flows enter the host (recorded first)
// and loads the host table; the caller holds the transition lock.
func (u *Uplink) openHost(n plan.Network) error {
	if pubs := kernelPublished(n); len(n.Uplink.Outside)+len(n.Uplink.Names)+len(pubs) > 0 {
		// Forwarding is per ingress interface: the uplink for requests out and replies
		// in, the host's interfaces towards the destinations for replies, those of the
		// published addresses for clients (kernel ip-sysctl.rst).
		keys := []string{"net.ipv4.conf." + u.Link + ".forwarding"}
		links := replyLinks(n.Uplink.Outside, u.Link)
		for _, l := range publishLinks(pubs, u.Link) {
			if !slices.Contains(links, l) {
				links = append(links, l)
			}
		}
		for _, l := range links {
			keys = append(keys, "net.ipv4.conf."+l+".forwarding")
		}
		if err := holdSysctls(u.dir, u.rec, keys, "1"); err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		u.Warning = forwardDropWarning(u.rec.Table)
	}
	if err := applyHostTable(u.rec, u.Gateway, u.Peer, n, u.LogGroup, u.lone); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	return nil
}

// makeLink creates the veth and addresses both ends; the bridge namespace's default
// route goes through it, with forwarding on there (that namespace is the stack's own).
//
// The bridge namespace's own connections (the supervisor's checks, the proxy) take their
// ports from a range apart from the host's: the host's connections to a published port
// arrive SNAT'd to the bridge address with their port kept, and one that met a
// TIME_WAIT left by a bridge connection on the same tuple, its timestamps from another
// clock offset, would have its SYN dropped by PAWS and wait a second to retry.
func (u *Uplink) makeLink(b *Bridge) error {
	ports := apartPortRange()
	return u.makeVeth(b.NSPath, uplinkPeerName, func() error {
		if ports != "" {
			if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte(ports), 0); err != nil {
				return err
			}
		}
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	})
}

// apartPortRange is an ephemeral port range outside the calling namespace's (below it,
// else above it), or "" when it leaves too little room (fewer than 4096 ports).
func apartPortRange() string {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return ""
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(data), &lo, &hi); err != nil {
		return ""
	}
	switch {
	case lo-1024 >= 4096:
		return fmt.Sprintf("1024 %d", lo-1)
	case 65535-hi >= 4096:
		return fmt.Sprintf("%d 65535", hi+1)
	}
	return ""
}

// makeVeth creates the uplink's veth with its peer, named peerName, in the namespace
// nsPath: both ends addressed and up, IPv6 off, a permanent neighbour entry on each
// side (pinNeighbour) and a default route through the gateway there, then inside, in
// that namespace, before the peer is waited for.
func (u *Uplink) makeVeth(nsPath, peerName string, inside func() error) error {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return err
	}
	defer target.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: u.Link}, PeerName: peerName, PeerNamespace: netlink.NsFd(int(target))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s: %w", u.Link, err)
	}
	if err := disableIPv6(u.Link); err != nil {
		return err
	}
	if err := addrUp(u.Link, u.Gateway); err != nil {
		return err
	}
	host, err := netlink.LinkByName(u.Link)
	if err != nil {
		return err
	}
	var peerMAC net.HardwareAddr
	err = InNamespace(nsPath, func() error {
		if err := disableIPv6(peerName); err != nil {
			return err
		}
		if err := addrUp(peerName, u.Peer); err != nil {
			return err
		}
		l, err := netlink.LinkByName(peerName)
		if err != nil {
			return err
		}
		peerMAC = l.Attrs().HardwareAddr
		if err := pinNeighbour(l, u.Gateway, host.Attrs().HardwareAddr); err != nil {
			return err
		}
		gw := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: u.Gateway.AsSlice()}
		if err := netlink.RouteAdd(gw); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
		if err := inside(); err != nil {
			return err
		}
		waitActive(peerName)
		return nil
	})
	if err != nil {
		return fmt.Errorf("in %s: %w", nsPath, err)
	}
	waitActive(u.Link)
	return pinNeighbour(host, u.Peer, peerMAC)
}

func addrUp(link string, a netip.Addr) error {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return err
	}
	ip := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(30, 32)}}
	if err := netlink.AddrAdd(l, ip); err != nil {
		return fmt.Errorf("%s address: %w", link, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", link, err)
	}
	return nil
}

// replyLinks are the host's links that replies from the declared destinations come in
// by: those of the default routes and of the routes to each destination.
func replyLinks(outside []plan.Flow, own string) []string {
	idx := map[int]bool{}
	if routes, err := netlink.RouteList(nil, netlink.FAMILY_V4); err == nil {
		for _, r := range routes {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() && r.Dst.Mask[0] == 0 {
				idx[r.LinkIndex] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range outside {
		if seen[f.Dst] || len(seen) >= 1024 { // the rest go by the default route
			continue
		}
		seen[f.Dst] = true
		p, err := netip.ParsePrefix(f.Dst)
		if err != nil {
			continue
		}
		a := p.Masked().Addr()
		if p.Bits() < 32 {
			a = a.Next()
		}
		if routes, err := netlink.RouteGet(a.AsSlice()); err == nil {
			for _, r := range routes {
				idx[r.LinkIndex] = true
			}
		}
	}
	var names []string
	for i := range idx {
		if l, err := netlink.LinkByIndex(i); err == nil && l.Attrs().Name != own && l.Attrs().Name != "lo" {
			names = append(names, l.Attrs().Name)
		}
	}
	sort.Strings(names)
	return names
}

// Remove takes the uplink away: the host table, the veth, the slot, and every setting
// no other stack still holds, put back.
func (u *Uplink) Remove() error {
	unlock, err := transition(u.dir)
	if err != nil {
		return err
	}
	defer unlock()
	err = teardownRecord(u.dir, u.rec)
	u.holder.Close()
	os.Remove(filepath.Join(u.dir, u.rec.Stack+".holder"))
	return err
}

// teardownRecord undoes what rec says, under the transition lock; what is already gone
// is fine.
func teardownRecord(dir string, rec *uplinkRecord) error {
	var errs []error
	if err := deleteTable(rec.Table); err != nil {
		errs = append(errs, err)
	}
	if l, err := netlink.LinkByName(rec.Link); err == nil {
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("removing %s: %w", rec.Link, err))
		}
	}
	os.Remove(filepath.Join(dir, rec.Stack+".json"))
	if err := releaseSysctls(dir); err != nil {
		errs = append(errs, err)
	}
	os.Remove(filepath.Join(dir, fmt.Sprintf("slot-%d", rec.Slot)))
	return errors.Join(errs...)
}

// deleteTable removes a table of the host namespace, if there is one.
func deleteTable(name string) error {
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
	if ok, err := hasTable(conn, t); err != nil || !ok {
		return err
	}
	conn.DelTable(t)
	return conn.Flush()
}

// SweepUplinks removes the uplinks of supervisors that died (their holder lock can be
// taken) in the caller's host namespace, and puts back what only they held. `up`,
// `down` and `run` call it; with no uplinks it reads one directory.
func SweepUplinks() error {
	dir, err := hostState(false)
	if err != nil {
		return err
	}
	holders, _ := filepath.Glob(filepath.Join(dir, "*.holder"))
	if len(holders) == 0 {
		return nil
	}
	unlock, err := transition(dir)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, h := range holders {
		stack := strings.TrimSuffix(filepath.Base(h), ".holder")
		f, err := takeHolder(dir, stack)
		if err != nil {
			continue // alive
		}
		if rec, err := readRecord(dir, stack); err == nil {
			errs = append(errs, teardownRecord(dir, rec))
		}
		os.Remove(h)
		f.Close()
	}
	return errors.Join(errs...)
}

func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
