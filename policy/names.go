package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// isDNSName reports whether s is a DNS name as connect may declare one: lowercase
// labels of letters, digits and inner hyphens, at least two, at most 253 characters in
// all, and a last label that is not a number (which would read as an address).
func isDNSName(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// NamesSet is the set, in the component's table and the bridge's, that the resolver
// fills with the answers for declared names.
const NamesSet = "names"

// resolverWhy marks the flows to the stack's resolver, which confine adds itself.
const resolverWhy = plan.ResolverWhy

// addName records connect[i], a DNS name: no address is known before the resolver
// answers, so it becomes a NameFlow rather than a Flow.
func addName(c *Component, cp *plan.Component, i int, ep Endpoint, self string) {
	why := fmt.Sprintf("%s network.connect[%d] %s", c.pos.at(fmt.Sprintf("network.connect[%d].to", i)), i, c.Network.Connect[i].To)
	cp.Net.Names = append(cp.Net.Names, plan.NameFlow{Name: ep.Peer.Name, Src: self, Proto: ep.Ports.Proto, First: ep.Ports.First, Last: ep.Ports.Last, Why: why})
}

// compileResolver lets a component with names reach its resolver (a stack's on the
// bridge address, a lone run's on its uplink's gateway; port 53 over UDP and TCP), read the /etc/resolv.conf that points at it, and
// look packets up in the names set its answers fill.
func compileResolver(cp *plan.Component, fw *plan.Firewall, self string, addrs map[string]netip.Addr) {
	if len(cp.Net.Names) == 0 {
		return
	}
	for _, proto := range []string{"tcp", "udp"} {
		ports := PortRange{Proto: proto, First: 53, Last: 53}
		if a, inStack := addrs[HostPeer]; inStack {
			fw.Flows = append(fw.Flows, flow("egress", self, a.String()+"/32", ports, resolverWhy))
		} else {
			// A lone run's resolver listens on its uplink's gateway, known at run time.
			cp.Net.Gateway = append(cp.Net.Gateway, flow("egress", self, "", ports, resolverWhy))
		}
	}
	for i := range fw.Chains {
		if fw.Chains[i].Name == "egress" {
			fw.Chains[i].NamesSet = NamesSet
		}
	}
	cp.Landlock.Paths = append(cp.Landlock.Paths, plan.PathRule{Path: "/etc/resolv.conf", Access: []string{"read_file"}, Why: resolverWhy})
	if !slices.Contains(cp.Landlock.ConnectTCP, 53) {
		cp.Landlock.ConnectTCP = append(cp.Landlock.ConnectTCP, 53)
		slices.Sort(cp.Landlock.ConnectTCP)
	}
}
