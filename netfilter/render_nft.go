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

// flowKey is the set key every chain looks packets up by: one lookup per packet, whatever
// the number of flows (DESIGN.md invariant 6).
const flowKey = "ip saddr . ip daddr . meta l4proto . th dport"

// Render returns the firewall as an nft script. The script first creates and deletes the
// table, so loading it replaces any earlier version in one transaction.
func Render(fw plan.Firewall) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s\ndelete table %s %s\n\n", fw.Family, fw.Table, fw.Family, fw.Table)
	fmt.Fprintf(&b, "table %s %s {\n", fw.Family, fw.Table)
	for _, c := range fw.Chains {
		renderSet(&b, c.FlowsSet, fw.Flows)
		if c.NamesSet != "" {
			// Filled at run time by the stack's resolver, each element for its TTL.
			fmt.Fprintf(&b, "\tset %s {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n\t\tflags interval,timeout\n\t}\n\n", c.NamesSet)
		}
	}
	for _, c := range fw.Chains {
		renderChain(&b, fw, c)
	}
	b.WriteString("}\n")
	return b.String()
}

func renderSet(b *strings.Builder, name string, flows []plan.Flow) {
	fmt.Fprintf(b, "\tset %s {\n", name)
	b.WriteString("\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n")
	b.WriteString("\t\tflags interval\n")
	var elems []string
	for _, f := range flows {
		if f.Set != name {
			continue
		}
		elems = append(elems, fmt.Sprintf("%s . %s . %s . %s", cidr(f.Src), cidr(f.Dst), f.Proto, portRange(f.First, f.Last)))
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
		iface := map[string]string{"input": "iifname", "output": "oifname"}[c.Hook]
		fmt.Fprintf(b, "\t\t%s \"lo\" accept\n", iface)
	}
	b.WriteString("\t\tct state established,related accept\n")
	fmt.Fprintf(b, "\t\t%s @%s accept\n", flowKey, c.FlowsSet)
	if c.NamesSet != "" {
		fmt.Fprintf(b, "\t\t%s @%s accept\n", flowKey, c.NamesSet)
	}
	for _, a := range fw.AuditAddrs {
		for _, dir := range []string{"saddr", "daddr"} {
			fmt.Fprintf(b, "\t\tip %s %s counter log prefix \"confine-audit %s: \" group %d accept\n", dir, a, c.Name, fw.LogGroup)
		}
	}
	if fw.Audit {
		fmt.Fprintf(b, "\t\tcounter log prefix \"confine-audit %s: \" group %d accept\n", c.Name, fw.LogGroup)
	} else {
		fmt.Fprintf(b, "\t\tcounter log prefix \"confine-drop %s: \" group %d drop\n", c.Name, fw.LogGroup)
	}
	b.WriteString("\t}\n")
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
