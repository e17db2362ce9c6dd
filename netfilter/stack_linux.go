package netfilter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// NetnsDir holds the pinned network namespaces of running stacks, one file per stack.
const NetnsDir = "/run/confine/netns"

// bridgeName is the stack's bridge inside the stack's own namespace.
const bridgeName = "confine0"

// Bridge is a stack's network: a bridge in a network namespace of its own, pinned by a
// bind mount at NSPath, so the host's namespace is left as it was.
type Bridge struct {
	Stack  string
	NSPath string
	subnet netip.Prefix
	// address is the bridge's own, whose neighbour entry every component gets (Attach).
	address netip.Addr
	// gateway is the bridge address once the stack has an uplink: components route
	// through it (CreateUplink), otherwise they have no default route at all.
	gateway netip.Addr
	// index and mac are the bridge's, fixed at CreateBridge: Attach needs no lookup.
	index int
	mac   net.HardwareAddr
}

// StackNSPath is where the namespace of stack name is pinned.
func StackNSPath(name string) string { return filepath.Join(NetnsDir, name) }

// CreateBridge makes the stack's namespace with loopback up, the bridge holding the
// stack's first address, and the stack firewall, which filters every packet crossing the
// bridge (bridge-nf-call-iptables sends bridged IPv4 through the inet forward hook). It
// is all-or-nothing: on error nothing of it is left.
func CreateBridge(stack string, n plan.Network) (_ *Bridge, err error) {
	subnet, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		return nil, fmt.Errorf("stack network: subnet %q: %w", n.Subnet, err)
	}
	addr, err := netip.ParseAddr(n.BridgeAddress)
	if err != nil {
		return nil, fmt.Errorf("stack network: bridge address %q: %w", n.BridgeAddress, err)
	}
	b := &Bridge{Stack: stack, NSPath: StackNSPath(stack), subnet: subnet, address: addr}
	if err := pinNewNamespace(b.NSPath); err != nil {
		return nil, fmt.Errorf("stack network: namespace: %w", err)
	}
	defer func() {
		if err != nil {
			b.Remove()
		}
	}()
	err = InNamespace(b.NSPath, func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		// Links made here from now on, the bridge and the components' ports, are born
		// without IPv6 (disableIPv6), so Attach needs no thread in this namespace, and
		// the bridge sends no router solicitations, listener reports or DAD to the ports.
		if err := disableIPv6("default"); err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		ip := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
		if err := netlink.AddrAdd(br, ip); err != nil {
			return fmt.Errorf("bridge address: %w", err)
		}
		if err := netlink.LinkSetUp(br); err != nil {
			return fmt.Errorf("bridge up: %w", err)
		}
		// Set explicitly, the bridge's MAC no longer follows the lowest of its ports'
		// (br_stp_recalculate_bridge_id), so the components' pinned neighbour entries
		// for it stay true as components come and go.
		made, err := netlink.LinkByName(bridgeName)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetHardwareAddr(made, made.Attrs().HardwareAddr); err != nil {
			return fmt.Errorf("bridge address: %w", err)
		}
		b.index, b.mac = made.Attrs().Index, made.Attrs().HardwareAddr
		// /proc/sys/net is this thread's namespace's: the setting is the stack's alone.
		if err := os.WriteFile("/proc/sys/net/bridge/bridge-nf-call-iptables", []byte("1"), 0); err != nil {
			return fmt.Errorf("bridge-nf-call-iptables (CONFIG_BRIDGE_NETFILTER): %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stack network: %w", err)
	}
	if err := Apply(b.NSPath, n.Firewall); err != nil {
		return nil, fmt.Errorf("stack network: %w", err)
	}
	return b, nil
}

// Attach wires the component whose network namespace is nsPath to the bridge: a veth
// created with its peer directly inside that namespace (moving a link in costs tens of
// milliseconds), named eth0 there and holding address. port names the bridge side and
// must be unique among the stack's live links. The link goes with the component's
// namespace. Both namespaces are worked through netlink sockets bound to them; only
// eth0's IPv6 switch, a sysctl of the calling thread's namespace, needs a thread in the
// component's (the bridge's ports are born without IPv6: CreateBridge). The links go up
// first and the wait for them comes last, so that the kernel activates them meanwhile.
func (b *Bridge) Attach(nsPath, port string, address string) error {
	addr, err := netip.ParseAddr(address)
	if err != nil {
		return fmt.Errorf("attach: address %q: %w", address, err)
	}
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer target.Close()
	bh, err := handleAt(b.NSPath)
	if err != nil {
		return fmt.Errorf("attach: stack namespace: %w", err)
	}
	defer bh.Close()
	ch, err := netlink.NewHandleAt(target, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer ch.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: b.index, Flags: net.FlagUp},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(target)),
	}
	if err := bh.LinkAdd(veth); err != nil {
		return fmt.Errorf("attach: veth %s: %w", port, err)
	}
	// eth0 stays down until IPv6 is off on it; the rest goes meanwhile.
	noV6 := make(chan error, 1)
	go func() { noV6 <- InNamespace(nsPath, func() error { return disableIPv6("eth0") }) }()
	eth, lo, err := componentLinks(ch)
	if err == nil {
		err = b.configureEth(ch, bh, eth, lo, addr)
	}
	if v6 := <-noV6; err == nil && v6 != nil {
		err = fmt.Errorf("eth0: %w", v6)
	}
	if err == nil {
		err = b.raiseEth(ch, eth)
	}
	if err != nil {
		return fmt.Errorf("attach: in the component's namespace: %w", err)
	}
	waitLinks(linkOn(ch, eth.Attrs().Index), linkOn(bh, veth.Index), linkOn(bh, b.index))
	return nil
}

// componentLinks finds eth0 and lo in one dump of the component's namespace.
func componentLinks(ch *netlink.Handle) (eth, lo netlink.Link, err error) {
	links, err := ch.LinkList()
	if err != nil {
		return nil, nil, err
	}
	for _, l := range links {
		switch l.Attrs().Name {
		case "eth0":
			eth = l
		case "lo":
			lo = l
		}
	}
	if eth == nil || lo == nil {
		return nil, nil, fmt.Errorf("eth0 or lo missing")
	}
	return eth, lo, nil
}

// configureEth gives eth0 its address, brings loopback up and pins the bridge side's
// neighbour entry for the component (its replies need no ARP either), all while eth0 is
// still down.
func (b *Bridge) configureEth(ch, bh *netlink.Handle, eth, lo netlink.Link, addr netip.Addr) error {
	ip := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(b.subnet.Bits(), 32)}}
	if err := ch.AddrAdd(eth, ip); err != nil {
		return fmt.Errorf("eth0 address: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		if err := ch.LinkSetUp(lo); err != nil {
			return fmt.Errorf("lo up: %w", err)
		}
	}
	br := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, Index: b.index}}
	return pinNeighbourOn(bh, br, addr, eth.Attrs().HardwareAddr)
}

// raiseEth sets eth0 up, then adds what needs it up: the neighbour entry for the bridge
// and the default route through the gateway.
func (b *Bridge) raiseEth(ch *netlink.Handle, eth netlink.Link) error {
	if err := ch.LinkSetUp(eth); err != nil {
		return fmt.Errorf("eth0 up: %w", err)
	}
	if err := pinNeighbourOn(ch, eth, b.address, b.mac); err != nil {
		return err
	}
	if b.gateway.IsValid() {
		if err := ch.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: b.gateway.AsSlice()}); err != nil {
			return fmt.Errorf("eth0 default route: %w", err)
		}
	}
	return nil
}

// handleAt is a netlink handle whose socket lives in the namespace pinned at nsPath.
func handleAt(nsPath string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
}

// Remove takes the stack's network down: unpinning the namespace ends it (and its bridge
// and firewall) once no component holds it.
func (b *Bridge) Remove() error { return RemoveBridge(b.Stack) }

// RemoveBridge unpins the namespace of stack name; a stack without one is fine. The next
// `up` or `down` calls it for a supervisor that was killed (DESIGN.md invariant 7).
func RemoveBridge(name string) error {
	path := StackNSPath(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpinning %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// DialFrom connects from inside the network namespace at nsPath: the socket is made
// there and keeps that namespace wherever it is used afterwards.
func DialFrom(nsPath, network, address string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := InNamespace(nsPath, func() error {
		var err error
		conn, err = net.DialTimeout(network, address, timeout)
		return err
	})
	return conn, err
}

// InNamespace runs fn on an OS thread of its own that has joined the network namespace
// at nsPath. The thread goes back to its own namespace before Go has it again
// (lockThread); one that cannot is never handed back: it exits with the goroutine, so no
// other goroutine can inherit its namespace.
func InNamespace(nsPath string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- inNamespace(nsPath, fn) }()
	return <-done
}

// inNamespace is InNamespace's goroutine: it returns once the thread is back and the
// namespace's handle closed, so that the caller never sees either still there.
func inNamespace(nsPath string, fn func() error) error {
	back, err := lockThread()
	if err != nil {
		return err
	}
	defer back()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("setns %s: %w", nsPath, err)
	}
	return fn()
}

// lockThread locks the calling goroutine to its thread, which may then leave its network
// namespace: back returns it there and unlocks it. A goroutine that ends locked ends its
// thread, except Go's main thread, which the runtime parks for good instead: it would
// stay in the namespace it was left in, and keep it alive (a component's, with its link
// on the bridge and its address), for the process's life. A thread back fails to move
// stays locked, and ends (or parks) with the goroutine.
func lockThread() (back func(), err error) {
	runtime.LockOSThread()
	own, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread() // it has not moved
		return nil, err
	}
	return func() {
		if netns.Set(own) == nil {
			runtime.UnlockOSThread()
		}
		own.Close()
	}, nil
}

// pinNewNamespace makes a new network namespace and bind-mounts it at path, on a thread
// that is then thrown away.
func pinNewNamespace(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: the stack is up, or a killed supervisor left it (confine down removes it)", path)
		}
		return err
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		back, err := lockThread() // this thread leaves the host's namespace, and comes back
		if err != nil {
			done <- err
			return
		}
		defer back()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		done <- unix.Mount(self, path, "", unix.MS_BIND, "")
	}()
	if err := <-done; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// disableIPv6 turns IPv6 off on a link of the calling thread's namespace: stacks are
// IPv4 only, and a link coming up would otherwise send router and multicast listener
// solicitations that the firewall drops and logs.
func disableIPv6(link string) error {
	err := os.WriteFile("/proc/sys/net/ipv6/conf/"+link+"/disable_ipv6", []byte("1"), 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a kernel without IPv6
	}
	return err
}

// linkUp sets the named link of the calling thread's namespace up.
func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	return nil
}

// PortName is the bridge side of a component's veth: the component's index in the stack
// and a generation, so a restarted component never meets its previous link, which the
// kernel removes asynchronously with the old namespace.
func PortName(index, generation int) string {
	return fmt.Sprintf("vc%d.%d", index%10000, generation%100000) // at most 12 of IFNAMSIZ's 15
}
