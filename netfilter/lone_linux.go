package netfilter

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/confine-sandbox/confine/policy/plan"
)

// A lone `confine run` has no bridge: its uplink's peer is the component's own eth0,
// the host table masquerades it as a stack's bridge namespace is, and its published
// ports are DNAT'd straight to the component, port and all.

// LoneLink is a lone component's end of its uplink, inside its namespace.
const LoneLink = "eth0"

// ReserveLoneUplink takes the /30 and the holder lock of a lone run's uplink (name is
// unique to the run, "run.PID"), before the component starts: the gateway is what
// `host` means to it, which its firewall and /etc/hosts need. Nothing on the host
// changes until AttachLone; Remove gives it all back.
func ReserveLoneUplink(name string) (*Uplink, error) {
	u, err := reserveUplink(name)
	if err == nil {
		u.lone = true
	}
	return u, err
}

// AttachLone wires the component's namespace nsPath to the host: a veth whose peer is
// made directly there as eth0 with the uplink's peer address and a default route
// through the gateway, a permanent neighbour entry on each side (pinNeighbour), and
// then forwarding and the host table as n asks. n.Published must name the component by
// the uplink's peer address.
func (u *Uplink) AttachLone(nsPath string, n plan.Network) error {
	unlock, err := transition(u.dir)
	if err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	defer unlock()
	if n.Uplink == nil {
		n.Uplink = &plan.Uplink{}
	}
	if err := u.makeLoneLink(nsPath); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	return u.openHost(n)
}

// makeLoneLink makes the veth with the component's end as eth0, and its loopback up.
func (u *Uplink) makeLoneLink(nsPath string) error {
	return u.makeVeth(nsPath, LoneLink, func() error { return linkUp("lo") })
}

// pinNeighbour adds a permanent ARP entry for addr on link, in the calling thread's
// namespace. Both ends of a fresh veth are known when it is made: without the entry the
// first packet waits for ARP, and on a loaded host a fresh link sometimes leaves that
// first lookup unanswered for longer than a SYN's first retransmission (1 s).
func pinNeighbour(link netlink.Link, addr netip.Addr, mac net.HardwareAddr) error {
	return pinNeighbourOn(&netlink.Handle{}, link, addr, mac)
}

// pinNeighbourOn is pinNeighbour in the namespace of h's socket (a zero Handle: the
// calling thread's).
func pinNeighbourOn(h *netlink.Handle, link netlink.Link, addr netip.Addr, mac net.HardwareAddr) error {
	err := h.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: netlink.FAMILY_V4,
		State: netlink.NUD_PERMANENT, IP: addr.AsSlice(), HardwareAddr: mac})
	if err != nil {
		return fmt.Errorf("neighbour %s on %s: %w", addr, link.Attrs().Name, err)
	}
	return nil
}
