package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// LogGroup is the NFLOG group every confine drop is logged to.
const LogGroup = 7

const anyV4 = "0.0.0.0/0"

// compileComponentNet builds the component's addresses, /etc/hosts and the firewall for its
// own network namespace, applied by netfilter.Apply. In a stack, peers resolve to their
// bridge addresses; a single component has loopback only, so only outside addresses count.
func compileComponentNet(c *Component, cp *plan.Component, addrs map[string]netip.Addr) {
	self := anyV4
	if a, ok := addrs[c.Name]; ok {
		self = a.String() + "/32"
		cp.Net.Address = a.String()
	}
	fw := plan.Firewall{
		Family:   "inet",
		Table:    "confine",
		LogGroup: LogGroup,
		Chains: []plan.Chain{
			{Name: "ingress", Hook: "input", AcceptLoopback: true, FlowsSet: "ingress"},
			{Name: "egress", Hook: "output", AcceptLoopback: true, FlowsSet: "egress"},
		},
		Flows: []plan.Flow{},
	}
	hosts := map[string]string{}
	for i, l := range c.Network.Listen {
		pr := l.ports.v
		cp.Net.Listen = append(cp.Net.Listen, plan.Port{Proto: pr.Proto, First: pr.First, Last: pr.Last})
		for j, from := range l.From {
			src, ok := resolvePeer(l.from[j], addrs)
			if !ok {
				if from != "host" {
					cp.Net.Unresolved = append(cp.Net.Unresolved, fmt.Sprintf("listen %s from %s", pr, from))
				}
				continue
			}
			why := fmt.Sprintf("%s network.listen[%d].from[%d] %s", c.pos.at(fmt.Sprintf("network.listen[%d].from[%d]", i, j)), i, j, from)
			fw.Flows = append(fw.Flows, flow("ingress", src, self, pr, why))
		}
	}
	for i, conn := range c.Network.Connect {
		if conn.Unix != "" {
			continue // compileChannels
		}
		ep := conn.to.v
		if ep.Peer.Name != "" {
			addName(c, cp, i, ep, self, addrs)
			continue
		}
		dst, ok := resolvePeer(parsed[Peer]{ep.Peer, conn.to.err}, addrs)
		if a, inStack := addrs[HostPeer]; ep.Peer.Component == HostPeer && inStack && conn.to.err == nil {
			dst, ok = a.String()+"/32", true // compileUplink: DNAT'd to the uplink's gateway
		}
		if !ok {
			cp.Net.Unresolved = append(cp.Net.Unresolved, "connect "+conn.To)
			continue
		}
		if ep.Peer.Component != "" {
			hosts[ep.Peer.Component] = addrs[ep.Peer.Component].String()
		}
		why := fmt.Sprintf("%s network.connect[%d] %s", c.pos.at(fmt.Sprintf("network.connect[%d].to", i)), i, conn.To)
		fw.Flows = append(fw.Flows, flow("egress", self, dst, ep.Ports, why))
	}
	compileResolver(cp, &fw, self, addrs)
	sortFlows(fw.Flows)
	cp.Net.Firewall = fw
	for name, a := range hosts {
		cp.Net.Hosts = append(cp.Net.Hosts, plan.HostEntry{Name: name, Address: a})
	}
	sort.Slice(cp.Net.Hosts, func(i, j int) bool { return cp.Net.Hosts[i].Name < cp.Net.Hosts[j].Name })
	if cp.Net.Address != "" {
		// The supervisor mounts the stack's /etc/hosts; the resolver must be able to read it.
		cp.Landlock.Paths = append(cp.Landlock.Paths, plan.PathRule{Path: "/etc/hosts", Access: []string{"read_file"}, Why: "built-in: the stack peers this component may reach, by name"})
	}
}

// resolvePeer turns a peer into a CIDR: a component's address (known only in a stack), an
// address, or a CIDR. "host" is the bridge side, where published traffic enters.
func resolvePeer(pp parsed[Peer], addrs map[string]netip.Addr) (string, bool) {
	p := pp.v
	if p.Component == "host" {
		return "", false // published traffic: allowed on the bridge, see compileStackFirewall
	}
	if pp.err != nil {
		return "", false
	}
	if p.Component == "" {
		return p.Prefix.String(), true
	}
	a, ok := addrs[p.Component]
	if !ok {
		return "", false // a component outside any stack: nothing to reach
	}
	return a.String() + "/32", true
}

func flow(set, src, dst string, pr PortRange, why string) plan.Flow {
	return plan.Flow{Set: set, Src: src, Dst: dst, Proto: pr.Proto, First: pr.First, Last: pr.Last, Why: why}
}

func sortFlows(f []plan.Flow) {
	sort.SliceStable(f, func(i, j int) bool {
		a, b := f[i], f[j]
		if a.Set != b.Set {
			return a.Set < b.Set
		}
		if a.Src != b.Src {
			return a.Src < b.Src
		}
		if a.Dst != b.Dst {
			return a.Dst < b.Dst
		}
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		return a.First < b.First
	})
}

// compileStackFirewall builds the bridge's firewall: frames between components pass only
// for flows both sides declared, and published ports reach only callees whose listen.from
// names "host". It lives in the bridge's namespace, out of every component's reach. It is
// an inet table on the forward hook, not a bridge table: bridge-family conntrack
// (nf_conntrack_bridge) is missing from many kernels, these included, so apply turns on
// net.bridge.bridge-nf-call-iptables in that namespace and bridged IPv4 crosses the inet
// hooks, with conntrack.
func compileStackFirewall(p *plan.Plan, s *Stack, effective map[string]*Component, addrs map[string]netip.Addr) {
	fw := plan.Firewall{
		Family:   "inet",
		Table:    "confine_" + strings.ReplaceAll(s.Name, "-", "_"), // nft identifiers take no hyphen
		LogGroup: LogGroup,
		Chains:   []plan.Chain{{Name: "forward", Hook: "forward", FlowsSet: "flows"}},
		Flows:    []plan.Flow{},
	}
	bridge := p.Network.BridgeAddress + "/32"
	// Every egress flow crosses the bridge: to a member, or out towards an address
	// outside the stack.
	for _, c := range p.Components {
		for _, f := range c.Net.Firewall.Flows {
			if f.Set == "egress" {
				f.Set = "flows"
				fw.Flows = append(fw.Flows, f)
			}
		}
	}
	byName := map[string]int{} // member names are unique (validateStack)
	for k, c := range p.Components {
		byName[c.Name] = k
	}
	stackFlows := newPublishFlows(fw.Flows)
	callees := map[int]*publishFlows{}
	for i, raw := range s.Publish {
		pub := s.publish[i].v
		name := pub.Target.Peer.Component
		dst := addrs[name].String()
		why := fmt.Sprintf("%s publish[%d] %s", s.pos.at(fmt.Sprintf("publish[%d]", i)), i, raw)
		stackFlows.add(flow("flows", bridge, dst+"/32", pub.Target.Ports, why))
		p.Network.Published = append(p.Network.Published, plan.Publish{
			HostAddress: pub.Host.Addr().String(), HostPort: pub.Host.Port(),
			Component: name, Address: dst, Port: pub.Target.Ports.First, Proto: pub.Target.Ports.Proto,
		})
		// The callee's own firewall must let the bridge in too.
		if k, ok := byName[name]; ok {
			if callees[k] == nil {
				callees[k] = newPublishFlows(p.Components[k].Net.Firewall.Flows)
			}
			callees[k].add(flow("ingress", bridge, dst+"/32", pub.Target.Ports, why))
		}
	}
	fw.Flows = stackFlows.flows
	compileHealthFlows(p, effective, callees)
	for k, pf := range callees {
		p.Components[k].Net.Firewall.Flows = pf.flows
		sortFlows(pf.flows)
	}
	for _, c := range p.Components {
		if len(c.Net.Names) > 0 {
			fw.Chains[0].NamesSet = NamesSet
		}
		if c.Mode == ModeAudit && c.Net.Address != "" {
			fw.AuditAddrs = append(fw.AuditAddrs, c.Net.Address) // logged and let through
		}
	}
	sortFlows(fw.Flows)
	p.Network.Firewall = fw
}

// compileHealthFlows lets the bridge address through each callee's firewall to its TCP
// health check's port, and nothing else: the supervisor dials from the stack's namespace,
// the way a caller's packets arrive (supervisor/health_exec.go), so a listener bound to
// 127.0.0.1 never counts as healthy. A flow already covering it (a publish, a listen.from
// CIDR holding the bridge) is the one that admits the check.
func compileHealthFlows(p *plan.Plan, effective map[string]*Component, callees map[int]*publishFlows) {
	bridge := p.Network.BridgeAddress + "/32"
	for k, c := range p.Components {
		h, eff := c.Supervise.Health, effective[c.Name]
		if h == nil || h.Port == 0 || c.Net.Address == "" || eff == nil {
			continue
		}
		if callees[k] == nil {
			callees[k] = newPublishFlows(c.Net.Firewall.Flows)
		}
		why := fmt.Sprintf("%s run.health.tcp %d: %s", eff.pos.at("run.health.tcp"), h.Port, plan.HealthWhy)
		callees[k].add(flow("ingress", bridge, c.Net.Address+"/32", PortRange{Proto: "tcp", First: h.Port, Last: h.Port}, why))
	}
}
