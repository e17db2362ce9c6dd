package export

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// peerIndex names the components behind the Plan's flow addresses.
type peerIndex struct {
	byAddr map[string]string // "10.88.0.3/32" → component
	bridge string            // the stack bridge: published traffic comes from it
}

func newPeerIndex(p *plan.Plan) *peerIndex {
	idx := &peerIndex{byAddr: map[string]string{}}
	for _, c := range p.Components {
		if c.Net.Address != "" {
			idx.byAddr[c.Net.Address+"/32"] = c.Name
		}
	}
	if p.Network.BridgeAddress != "" {
		idx.bridge = p.Network.BridgeAddress + "/32"
	}
	return idx
}

// flowSets names the sets of a component's ingress (input hook) and egress (output) flows.
func flowSets(fw plan.Firewall) (in, out string) {
	for _, ch := range fw.Chains {
		switch ch.Hook {
		case "input":
			in = ch.FlowsSet
		case "output":
			out = ch.FlowsSet
		}
	}
	return in, out
}

// KubeDNS selects the cluster DNS pods that components calling peers by name may reach.
var (
	KubeDNSNamespace = map[string]string{"kubernetes.io/metadata.name": "kube-system"}
	KubeDNSPods      = map[string]string{"k8s-app": "kube-dns"}
)

// componentNetpol is one component's two-sided flows: ingress from its callers' pods on
// the declared ports, egress to its callees' pods and to ipBlocks outside, DNS when it
// calls by name. policyTypes are always written: an engine reading the file (not the API
// server, which defaults them) may otherwise take the policy for ingress only, or panic.
func componentNetpol(p *plan.Plan, c *plan.Component, name string, idx *peerIndex, f *findings) *kNetworkPolicy {
	inSet, outSet := flowSets(c.Net.Firewall)
	np := &kNetworkPolicy{
		kTypeMeta:  kTypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: kObjectMeta{Name: name, Labels: podLabels(p, c.Name)},
		Spec: kNetworkPolicySpec{
			PodSelector: kLabelSelector{MatchLabels: podLabels(p, c.Name)},
			PolicyTypes: []kPolicyType{kPolicyTypeIngress, kPolicyTypeEgress},
		},
	}
	for _, fl := range c.Net.Firewall.Flows {
		switch fl.Set {
		case inSet:
			if peer, ok := netpolPeer(p, c, fl.Src, fl, idx, f); ok {
				np.Spec.Ingress = append(np.Spec.Ingress, kNetworkPolicyIngressRule{From: []kNetworkPolicyPeer{peer}, Ports: netpolPorts(fl.Proto, fl.First, fl.Last)})
			}
		case outSet:
			if peer, ok := netpolPeer(p, c, fl.Dst, fl, idx, f); ok {
				np.Spec.Egress = append(np.Spec.Egress, kNetworkPolicyEgressRule{To: []kNetworkPolicyPeer{peer}, Ports: netpolPorts(fl.Proto, fl.First, fl.Last)})
			}
		}
	}
	if len(c.Net.Names) > 0 {
		f.add(c, "dns_egress", "connects to %s by DNS name; core NetworkPolicy has no name-based egress, so these connections are denied in the cluster: allow their addresses with an ipBlock of your own, or use a CNI policy with FQDN rules", nameList(c.Net.Names))
	}
	if len(c.Net.Hosts) > 0 || len(c.Net.Names) > 0 {
		// Both protocols: NodeLocal DNSCache and large answers use TCP 53
		// (zero-to-jupyterhub-k8s#3179).
		np.Spec.Egress = append(np.Spec.Egress, kNetworkPolicyEgressRule{
			To: []kNetworkPolicyPeer{{
				NamespaceSelector: &kLabelSelector{MatchLabels: KubeDNSNamespace},
				PodSelector:       &kLabelSelector{MatchLabels: KubeDNSPods},
			}},
			Ports: append(netpolPorts("udp", 53, 53), netpolPorts("tcp", 53, 53)...),
		})
	}
	if len(c.Net.Hosts) > 0 {
		var names []string
		for _, h := range c.Net.Hosts {
			names = append(names, fmt.Sprintf("%s (Service %s-%s)", h.Name, p.Name, h.Name))
		}
		f.add(c, "names", "calls %s: under confine these names come from /etc/hosts; in the cluster they resolve through kube-dns, to which egress on port 53 is allowed", strings.Join(names, ", "))
	}
	return np
}

// netpolPeer is the pods or addresses at addr; false when NetworkPolicy has no equivalent.
func netpolPeer(p *plan.Plan, c *plan.Component, addr string, fl plan.Flow, idx *peerIndex, f *findings) (kNetworkPolicyPeer, bool) {
	if name, ok := idx.byAddr[addr]; ok {
		return kNetworkPolicyPeer{PodSelector: &kLabelSelector{MatchLabels: podLabels(p, name)}}, true
	}
	if addr == idx.bridge && strings.HasSuffix(fl.Why, plan.HealthWhy) {
		return kNetworkPolicyPeer{}, false // the readinessProbe: the kubelet's, from the node
	}
	if addr == idx.bridge {
		f.add(c, "publish", "%s: a port published on the host has no NetworkPolicy equivalent; expose the Service (NodePort, LoadBalancer, Ingress) and admit that path in a policy of your own", fl.Why)
		return kNetworkPolicyPeer{}, false
	}
	return kNetworkPolicyPeer{IPBlock: &kIPBlock{CIDR: addr}}, true
}

func netpolPorts(proto string, first, last uint16) []kNetworkPolicyPort {
	pr := k8sProto(proto)
	port := kIntOrString(int32(first))
	np := kNetworkPolicyPort{Protocol: &pr, Port: &port}
	if last != first {
		end := int32(last)
		np.EndPort = &end
	}
	return []kNetworkPolicyPort{np}
}

// defaultDeny selects every pod of the stack with no rule: what no policy allows is denied.
func defaultDeny(p *plan.Plan) *kNetworkPolicy {
	return &kNetworkPolicy{
		kTypeMeta:  kTypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: kObjectMeta{Name: p.Name + "-default-deny", Labels: map[string]string{LabelStack: p.Name}},
		Spec: kNetworkPolicySpec{
			PodSelector: kLabelSelector{MatchLabels: map[string]string{LabelStack: p.Name}},
			PolicyTypes: []kPolicyType{kPolicyTypeIngress, kPolicyTypeEgress},
		},
	}
}

// sortedKeys is a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nameList is the DNS names of a component's egress, each once, in order.
func nameList(flows []plan.NameFlow) string {
	var names []string
	for _, n := range flows {
		names = append(names, n.Name+":"+plan.PortString(n.Proto, n.First, n.Last))
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}
