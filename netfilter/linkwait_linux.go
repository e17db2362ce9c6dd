package netfilter

import (
	"time"

	"github.com/vishvananda/netlink"
)

// activeWait bounds waitLinks: past it the links are used as they are.
const activeWait = 2 * time.Second

// A linkState reads a link's current attributes.
type linkState func() (netlink.Link, error)

// linkOn reads the link index through h, whose socket names the namespace.
func linkOn(h *netlink.Handle, index int) linkState {
	return func() (netlink.Link, error) { return h.LinkByIndex(index) }
}

// waitActive waits for the named link of the calling thread's namespace (waitLinks).
func waitActive(name string) {
	waitLinks(func() (netlink.Link, error) { return netlink.LinkByName(name) })
}

// waitLinks returns once none of links is operationally down. Setting a veth up only
// schedules its activation: linkwatch, a workqueue, sets the operational state and, in
// the same step under the RTNL, replaces the noop qdisc (which drops every packet) with
// the real one. On a loaded host the first packet, a SYN, could otherwise be sent before
// and be dropped, and TCP sends it again only after a second. (The qdisc a dump lists is
// already the real one: the state is what shows the step.) A bridge with a port reports
// "unknown", never "up"; its carrier comes back with its first port the same way. The
// permanent neighbour entries (pinNeighbour) keep ARP out of that window. The links are
// activated side by side, so they are waited for together; the poll starts short, as
// linkwatch runs a veth's change at once.
func waitLinks(links ...linkState) {
	deadline := time.Now().Add(activeWait)
	pause := 50 * time.Microsecond
	for len(links) > 0 && time.Now().Before(deadline) {
		pending := links[:0]
		for _, get := range links {
			l, err := get()
			if err != nil {
				continue // gone: nothing to wait for
			}
			if op := l.Attrs().OperState; op == netlink.OperDown || op == netlink.OperLowerLayerDown {
				pending = append(pending, get)
			}
		}
		links = pending
		if len(links) > 0 {
			time.Sleep(pause)
			pause = min(2*pause, time.Millisecond)
		}
	}
}
