package policy

import (
	"fmt"
	"net/netip"

	"github.com/confine-sandbox/confine/policy/plan"
)

// HostPeer is the name a component connects to for the host's own services
// (`connect: host:PORT/PROTO`); in listen.from it names published traffic.
const HostPeer = "host"

// compileUplink collects the flows that leave the stack: to addresses outside its
// subnet (not loopback, which is the component's own), to the host, and the ports
// published in the kernel. A stack with none of them gets no uplink, and its host stays
// as it was.
func compileUplink(p *plan.Plan, s *Stack, addrs map[string]netip.Addr) {
	subnet, err := netip.ParsePrefix(p.Network.Subnet)
	if err != nil {
		return
	}
	kernel := compileKernelPublish(p, s, addrs)
	bridge := p.Network.BridgeAddress + "/32"
	u := &plan.Uplink{}
	for _, c := range p.Components {
		for _, f := range c.Net.Firewall.Flows {
			if f.Set != "egress" {
				continue
			}
			dst, err := netip.ParsePrefix(f.Dst)
			switch {
			case err != nil || f.Why == resolverWhy:
			case f.Dst == bridge:
				u.Host = append(u.Host, f)
			case dst.Overlaps(subnet) || dst.Addr().IsLoopback() && dst.Bits() >= 8:
			default:
				u.Outside = append(u.Outside, f)
			}
		}
	}
	for _, c := range p.Components {
		u.Names = append(u.Names, c.Net.Names...)
	}
	if len(u.Outside)+len(u.Host)+len(u.Names) > 0 || kernel {
		p.Network.Uplink = u
	}
}

// compileKernelPublish marks the published ports whose host address is not loopback
// for DNAT in the kernel, and lets the clients the callee's listen.from names by
// address or CIDR across the bridge to it: DNAT keeps their addresses.
func compileKernelPublish(p *plan.Plan, s *Stack, addrs map[string]netip.Addr) bool {
	any := false
	pf := newPublishFlows(p.Network.Firewall.Flows)
	for i := range p.Network.Published {
		pub := &p.Network.Published[i]
		a, err := netip.ParseAddr(pub.HostAddress)
		if err != nil || a.IsLoopback() {
			continue
		}
		pub.Kernel, any = true, true
		var callee *Component
		for _, c := range s.Members {
			if c.Name == pub.Component {
				callee = c
			}
		}
		ports := PortRange{Proto: pub.Proto, First: pub.Port, Last: pub.Port}
		j, l := listenFor(callee, ports)
		if l == nil {
			continue
		}
		for k, from := range l.From {
			peer, err := ParsePeer(from)
			if from == HostPeer || err != nil || peer.Component != "" {
				continue
			}
			why := fmt.Sprintf("%s network.listen[%d].from[%d] %s, published by %s", callee.pos.at(fmt.Sprintf("network.listen[%d].from[%d]", j, k)), j, k, from, s.pos.at(fmt.Sprintf("publish[%d]", i)))
			pf.add(flow("flows", peer.Prefix.String(), addrs[callee.Name].String()+"/32", ports, why))
		}
	}
	p.Network.Firewall.Flows = pf.flows
	sortFlows(p.Network.Firewall.Flows)
	return any
}

// compileLoneUplink is compileUplink for a component run on its own: its egress flows to
// addresses other than loopback, and its connect: host:PORT (plan.ComponentNet.Gateway),
// leave through an uplink from its own namespace; `confine run -p` adds published ports
// at run time. Without them, a lone run changes nothing on the host.
func compileLoneUplink(p *plan.Plan) {
	if len(p.Components) != 1 {
		return
	}
	c := &p.Components[0]
	u := &plan.Uplink{}
	for _, f := range c.Net.Firewall.Flows {
		dst, err := netip.ParsePrefix(f.Dst)
		if f.Set == "egress" && err == nil && !(dst.Addr().IsLoopback() && dst.Bits() >= 8) {
			u.Outside = append(u.Outside, f)
		}
	}
	for _, f := range c.Net.Gateway {
		if f.Set == "egress" {
			u.Host = append(u.Host, f) // the resolver's port 53 too
		}
	}
	u.Names = c.Net.Names
	if len(u.Outside)+len(u.Host)+len(u.Names) > 0 {
		p.Network.Uplink = u
	}
}
