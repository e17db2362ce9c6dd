package policy

import (
	"net/netip"

	"github.com/confine-sandbox/confine/policy/plan"
)

// HostPeer is the name a component connects to for the host's own services
// (`connect: host:PORT/PROTO`); in listen.from it names published traffic.
const HostPeer = "host"

// compileUplink collects the flows that leave the stack: to addresses outside its
// subnet (not loopback, which is the component's own), and to the host. A stack with
// neither gets no uplink, and its host stays as it was.
func compileUplink(p *plan.Plan) {
	subnet, err := netip.ParsePrefix(p.Network.Subnet)
	if err != nil {
		return
	}
	bridge := p.Network.BridgeAddress + "/32"
	u := &plan.Uplink{}
	for _, c := range p.Components {
		for _, f := range c.Net.Firewall.Flows {
			if f.Set != "egress" {
				continue
			}
			dst, err := netip.ParsePrefix(f.Dst)
			switch {
			case err != nil:
			case f.Dst == bridge:
				u.Host = append(u.Host, f)
			case dst.Overlaps(subnet) || dst.Addr().IsLoopback() && dst.Bits() >= 8:
			default:
				u.Outside = append(u.Outside, f)
			}
		}
	}
	if len(u.Outside)+len(u.Host) > 0 {
		p.Network.Uplink = u
	}
}
