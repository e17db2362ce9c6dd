package netfilter

import (
	"time"

	"github.com/vishvananda/netlink"
)

// activeWait bounds waitActive: past it the link is used as it is.
const activeWait = 2 * time.Second

// waitActive returns once the link of the calling thread's namespace is no longer
// operationally down. Setting a veth up only schedules its activation: linkwatch, a
// workqueue, sets the operational state and, in the same step under the RTNL, replaces
// the noop qdisc (which drops every packet) with the real one. On a loaded host the first
// packet, a SYN, could otherwise be sent before and be dropped, and TCP sends it again
// only after a second. (The qdisc a dump lists is already the real one: the state is
// what shows the step.) A bridge with a port reports "unknown", never "up"; its carrier
// comes back with its first port the same way. The permanent neighbour entries
// (pinNeighbour) keep ARP out of that window.
func waitActive(name string) {
	deadline := time.Now().Add(activeWait)
	for time.Now().Before(deadline) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return
		}
		if op := l.Attrs().OperState; op != netlink.OperDown && op != netlink.OperLowerLayerDown {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
