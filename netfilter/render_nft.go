// Package netfilter applies the network part of a Plan: namespaces, veths, a bridge and one
// nftables table per namespace. This file is its pure half: a plan.Firewall as `nft -f` text,
// which `confine compile --format nft` prints and the tests load with the nft tool.
package netfilter

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// The set keys chains look packets up by: one lookup per packet, whatever the number of
// flows (DESIGN.md invariant 6). The field that tells elements apart comes first: the
// kernel's concatenated interval sets (pipapo) walk every element the first field
// matches, and an egress set's elements share their source (a component's egress, the
// bridge's flows, the names sets) as an ingress set's share their destination
// (docs/BENCHMARKS.md, issue 13: 10,000 egress CIDRs source first cost 0.73-0.78x of 10).
const (
	srcFirstKey = "ip saddr . ip daddr . meta l4proto . th dport"
	dstFirstKey = "ip daddr . ip saddr . meta l4proto . th dport"
)

// DstFirst reports whether a chain's sets are keyed destination first: every chain but
// a component's input. The bridge's one flows set needs no split: its elements are the
// members' egress flows and the bridge's or gateway's flows to a member (published and
// host ports, health checks), so their sources are few and their destinations vary;
// outside clients named by listen.from are only in the member's own ingress set.
func DstFirst(c plan.Chain) bool { return c.Hook != "input" }

// hasFlows reports whether any flow is in c's flows set. Only the uplink adds to one
// after the load (applyBridgeNAT: the stack's flows to the host, DNAT'd to the
// gateway), and compile puts each of those flows in that set already; the names set is
// the one filled at run time. So an empty one and its lookup are left out: a lookup in
// an empty set matches no packet, and a chain without it drops and logs the same
// packets, at one set and one rule less to load on every start (a lone run without
// listen or egress has two such chains).
func hasFlows(flows []plan.Flow, c plan.Chain) bool {
	for _, f := range flows {
		if f.Set == c.FlowsSet {
			return true
		}
	}
	return false
}

func flowKey(c plan.Chain) string {
	if DstFirst(c) {
		return dstFirstKey
	}
	return srcFirstKey
}

// Render returns the firewall as an nft script. The script first creates and deletes the
// table, so loading it replaces any earlier version in one transaction.
func Render(fw plan.Firewall) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s\ndelete table %s %s\n\n", fw.Family, fw.Table, fw.Family, fw.Table)
	fmt.Fprintf(&b, "table %s %s {\n", fw.Family, fw.Table)
	for _, c := range fw.Chains {
		if hasFlows(fw.Flows, c) {
			renderSet(&b, c, fw.Flows)
		}
		if c.NamesSet != "" {
			// Filled at run time by the stack's resolver, each element for its TTL.
			fmt.Fprintf(&b, "\tset %s {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n\t\tflags interval,timeout\n\t}\n\n", c.NamesSet)
		}
		if !fw.Audit {
			// the flow keys the chain's drop logged in the last SeenTimeout
			fmt.Fprintf(&b, "\tset %s%s {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n\t\tsize %d\n\t\tflags dynamic,timeout\n\t\ttimeout %ds\n\t}\n\n",
				SeenPrefix, c.Name, SeenSize, int(SeenTimeout.Seconds()))
		}
	}
	for _, c := range fw.Chains {
		renderChain(&b, fw, c)
	}
	for _, u := range untracked(fw.Chains) {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority raw; policy accept;\n", u.name, u.hook)
		fmt.Fprintf(&b, "\t\t%s \"lo\" notrack\n\t}\n", u.iface)
	}
	b.WriteString("}\n")
	return b.String()
}

func renderSet(b *strings.Builder, c plan.Chain, flows []plan.Flow) {
	name := c.FlowsSet
	fmt.Fprintf(b, "\tset %s {\n", name)
	b.WriteString("\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n")
	b.WriteString("\t\tflags interval\n")
	var elems []string
	for _, f := range flows {
		if f.Set != name {
			continue
		}
		a, z := cidr(f.Src), cidr(f.Dst)
		if DstFirst(c) {
			a, z = z, a
		}
		elems = append(elems, fmt.Sprintf("%s . %s . %s . %s", a, z, f.Proto, portRange(f.First, f.Last)))
	}
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = {\n\t\t\t%s\n\t\t}\n", strings.Join(elems, ",\n\t\t\t"))
	}
	b.WriteString("\t}\n\n")
}

func renderChain(b *strings.Builder, fw plan.Firewall, c plan.Chain) {
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	fmt.Fprintf(b, "\t\ttype filter hook %s priority filter; policy drop;\n", c.Hook)
	if c.AcceptLoopback {
		// by index (lo is 1 in every namespace): a name would be copied and compared
		// for every packet
		iface := map[string]string{"input": "iif", "output": "oif"}[c.Hook]
		fmt.Fprintf(b, "\t\t%s \"lo\" accept\n", iface)
	}
	b.WriteString("\t\tct state established,related accept\n")
	if hasFlows(fw.Flows, c) {
		fmt.Fprintf(b, "\t\t%s @%s accept\n", flowKey(c), c.FlowsSet)
	}
	if c.NamesSet != "" {
		fmt.Fprintf(b, "\t\t%s @%s accept\n", flowKey(c), c.NamesSet)
	}
	for _, a := range fw.AuditAddrs {
		for _, dir := range []string{"saddr", "daddr"} {
			fmt.Fprintf(b, "\t\tip %s %s counter log prefix \"confine-audit %s: \" group %d accept\n", dir, a, c.Name, fw.LogGroup)
		}
	}
	if fw.Audit {
		fmt.Fprintf(b, "\t\tcounter log prefix \"confine-audit %s: \" group %d accept\n", c.Name, fw.LogGroup)
	} else {
		// each key's first drop in a window logged; then at most LogRate; the rest
		// counted unlogged (suppress_linux.go)
		fmt.Fprintf(b, "\t\t%s != @%s%s add @%[2]s%[3]s { %[1]s } counter log prefix \"confine-drop %[3]s: \" group %d drop\n", srcFirstKey, SeenPrefix, c.Name, fw.LogGroup)
		fmt.Fprintf(b, "\t\t%s counter log prefix \"confine-drop %s: \" group %d drop\n", LogLimit, c.Name, fw.LogGroup)
		fmt.Fprintf(b, "\t\tcounter drop comment \"%s%s\"\n", SuppressedPrefix, c.Name)
	}
	b.WriteString("\t}\n")
}

// loopbackRaw is the raw-priority chain that exempts a chain's loopback traffic from
// connection tracking: the chain accepts loopback before any ct rule, so the lookup and
// the entry conntrack makes for each loopback connection serve nothing, yet cost every
// packet over lo (measured in docs/BENCHMARKS.md). Other interfaces stay tracked.
type loopbackRaw struct{ name, hook, iface string }

// untracked are the notrack chains of chains: output's when it accepts loopback, and
// input's only when no output chain does. A packet on lo was sent in this namespace, so
// it passed output first, and conntrack at prerouting leaves a packet alone that
// carries an entry or the untracked mark already (lo keeps it): output's notrack
// covers both ways, and one chain fewer is loaded on every start and run for every
// packet received.
func untracked(chains []plan.Chain) []loopbackRaw {
	var out []loopbackRaw
	outputs := false
	for _, c := range chains {
		if c.AcceptLoopback && c.Hook == "output" {
			out, outputs = append(out, loopbackRaw{c.Name + "_lo", "output", "oif"}), true
		}
	}
	for _, c := range chains {
		if c.AcceptLoopback && c.Hook == "input" && !outputs {
			// input's packets are tracked at prerouting, before input
			out = append(out, loopbackRaw{c.Name + "_lo", "prerouting", "iif"})
		}
	}
	return out
}

// cidr writes a /32 as a bare address, as nft lists it.
func cidr(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil && p.IsSingleIP() {
		return p.Addr().String()
	}
	return s
}

func portRange(first, last uint16) string {
	if first == last {
		return fmt.Sprint(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// The NFLOG prefixes: "confine-drop CHAIN: " for a drop, "confine-audit CHAIN: " for
// what audit mode let through instead.
const (
	DropPrefix  = "confine-drop "
	AuditPrefix = "confine-audit "
)

// LogChain is the chain a log prefix names, and whether it is audit mode's.
func LogChain(prefix string) (chain string, audit bool) {
	rest, audit := strings.CutPrefix(prefix, AuditPrefix)
	if !audit {
		rest = strings.TrimPrefix(prefix, DropPrefix)
	}
	return strings.TrimSpace(strings.TrimSuffix(rest, ": ")), audit
}
