package netfilter

import (
	"time"

	"github.com/vishvananda/netlink"
)

// activeWait bounds waitActive: past it the link is used as it is.
const activeWait = 2 * time.Second

// waitActive returns once the link of the calling thread's namespace is not down and has left
// the noop qdisc, which drops every packet. Setting a veth up only schedules its activation
// (linkwatch, a workqueue: dev_activate replaces noop with the real qdisc), so on a
// loaded host the first packet, a SYN, can be sent before and be dropped, and TCP waits
// a second to send it again. A bridge whose carrier comes back with its first port is
// activated the same way. The permanent neighbour entries (pinNeighbour) keep ARP
// out of that window; this closes the rest.
func waitActive(name string) {
	deadline := time.Now().Add(activeWait)
	for time.Now().Before(deadline) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return
		}
		qs, err := netlink.QdiscList(l)
		if err != nil {
			return
		}
		// A bridge reports "unknown", never "up": only down is not ready.
		op := l.Attrs().OperState
		noop := len(qs) == 0 || op == netlink.OperDown || op == netlink.OperLowerLayerDown
		for _, q := range qs {
			noop = noop || q.Type() == "noop"
		}
		if !noop {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
