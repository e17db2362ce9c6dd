package netfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// uplinkTableName is the stack's table in the host namespace (nft identifiers take no
// hyphen). One table per stack: created and deleted whole, so stacks never share a
// chain or wait on each other.
func uplinkTableName(stack string) string {
	return "confine_up_" + replaceHyphens(stack)
}

// bridgeNATTable is the uplink's table inside the bridge namespace.
const bridgeNATTable = "confine_uplink"

func replaceHyphens(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// applyHostTable loads the stack's table into the caller's (the host's) namespace:
//   - input: from the uplink, only replies and the declared host:PORT flows to the
//     gateway; the host's other addresses and ports are dropped and logged;
//   - forward: into the uplink, only replies and confine's DNAT, so that neighbours
//     routing through this host cannot reach the stack (moby/moby#49325);
//   - postrouting: what the bridge namespace forwarded out is masqueraded.
//
// A lone run's table also filters what the component sends (addLoneEgress).
//
// Every chain has policy accept: the host's own traffic is not confine's to judge. So
// input's and forward's first rule accepts every established or related packet, the
// same verdict the rules for the uplink would give it and the policy gives the rest:
// a published stream's packets meet one rule in each direction, not an interface
// name compared per rule (docs/BENCHMARKS.md, issue 13).
func applyHostTable(rec *uplinkRecord, gw, peer netip.Addr, n plan.Network, group uint16, lone bool) error {
	host := n.Uplink.Host
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	t := conn.CreateTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: rec.Table})
	set := &nftables.Set{Table: t, Name: "host_ports", Interval: true, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)}
	var elems []nftables.SetElement
	for _, f := range host {
		p := protoNumber(f.Proto)
		elems = append(elems, nftables.SetElement{Key: hostPortKey(gw, p, f.First), KeyEnd: hostPortKey(gw, p, f.Last)})
	}
	if err := addSetChunked(conn, set, dedupe(elems)); err != nil {
		return err
	}
	accept := nftables.ChainPolicyAccept
	chain := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return conn.AddChain(&nftables.Chain{Table: t, Name: name, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept})
	}
	in := chain("input", nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter)
	rule(conn, in, established(), verdict(expr.VerdictAccept))
	iif := matchIf(expr.MetaKeyIIFNAME, rec.Link)
	rule(conn, in, iif, ipv4(), []expr.Any{
		&expr.Payload{DestRegister: regDst, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regProto},
		&expr.Payload{DestRegister: regPort, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: regDst, SetName: set.Name, SetID: set.ID},
	}, verdict(expr.VerdictAccept))
	if err := dropLoggedSeen(conn, in, iif, group, "uplink"); err != nil {
		return err
	}
	fwd := chain("forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	rule(conn, fwd, established(), verdict(expr.VerdictAccept))
	oif := matchIf(expr.MetaKeyOIFNAME, rec.Link)
	rule(conn, fwd, oif, ctStatus(ipsDstNAT), verdict(expr.VerdictAccept))
	if err := dropLoggedSeen(conn, fwd, oif, group, "into-stack"); err != nil {
		return err
	}
	if lone {
		if err := addLoneEgress(conn, t, fwd, rec.Link, peer, n, group); err != nil {
			return err
		}
	}
	post := chain("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	// iifname is unset in postrouting: match the bridge namespace's masqueraded source.
	rule(conn, post, ipv4(), []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: peer.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(rec.Link)},
		&expr.Masq{},
	})
	addHostDNAT(conn, t, rec, peer, kernelPublished(n), post)
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: host table %s: %w", rec.Table, err)
	}
	return nil
}

// applyBridgeNAT loads the uplink's side in the bridge namespace: connections from a
// component to the bridge address on a declared host port are DNAT'd to the gateway,
// whatever leaves by the uplink is masqueraded behind the uplink's address, and the
// stack firewall's set gains the DNAT'd flows (to the gateway) in the same transaction.
func applyBridgeNAT(nsPath string, n plan.Network, gw, peer netip.Addr) error {
	conn, closeNS, err := connect(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	t := conn.CreateTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: bridgeNATTable})
	flowType := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	set := &nftables.Set{Table: t, Name: "host_flows", Interval: true, Concatenation: true, KeyType: flowType}
	var toBridge, toGateway []nftables.SetElement
	for _, f := range n.Uplink.Host {
		src, err := netip.ParsePrefix(f.Src)
		if err != nil {
			return fmt.Errorf("nftables: flow source %q: %w", f.Src, err)
		}
		dst, err := netip.ParsePrefix(f.Dst)
		if err != nil {
			return fmt.Errorf("nftables: flow destination %q: %w", f.Dst, err)
		}
		p := protoNumber(f.Proto)
		// host_flows' elements share their destination (the bridge address): source
		// first; the stack's flows set is the forward chain's, destination first
		toBridge = append(toBridge, rangeElement(false, src, netip.PrefixFrom(dst.Addr(), 32), p, f.First, f.Last))
		toGateway = append(toGateway, rangeElement(DstFirst(n.Firewall.Chains[0]), src, netip.PrefixFrom(gw, 32), p, f.First, f.Last))
	}
	if err := addSetChunked(conn, set, toBridge); err != nil {
		return err
	}
	accept := nftables.ChainPolicyAccept
	pre := conn.AddChain(&nftables.Chain{Table: t, Name: "prerouting", Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	rule(conn, pre, matchIf(expr.MetaKeyIIFNAME, bridgeName), ipv4(), []expr.Any{
		&expr.Payload{DestRegister: regSrc, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Payload{DestRegister: regDst, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regProto},
		&expr.Payload{DestRegister: regPort, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: regSrc, SetName: set.Name, SetID: set.ID},
		&expr.Immediate{Register: 1, Data: gw.AsSlice()},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	})
	post := conn.AddChain(&nftables.Chain{Table: t, Name: "postrouting", Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	rule(conn, post, matchIf(expr.MetaKeyOIFNAME, uplinkPeerName), []expr.Any{&expr.Masq{}})
	toGateway = append(toGateway, addBridgeDNAT(conn, pre, post, n, gw, peer)...)
	if len(toGateway) > 0 {
		stack := &nftables.Table{Family: nftables.TableFamilyINet, Name: n.Firewall.Table}
		flows := &nftables.Set{Table: stack, Name: n.Firewall.Chains[0].FlowsSet, Interval: true, Concatenation: true, KeyType: flowType}
		if err := addElementsChunked(conn, flows, dedupe(toGateway)); err != nil {
			return err
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: uplink table in the bridge namespace: %w", err)
	}
	return nil
}

// forwardDropWarning names a forward chain of another table whose policy is drop (an
// iptables FORWARD policy of DROP, as Docker sets): an nftables drop is final in any
// table, so egress through the uplink would be dropped there. The legacy x_tables
// filter table is read apart (legacy_linux.go).
func forwardDropWarning(own string) string {
	if drop, err := legacyForwardDrop(); err == nil && drop {
		return "the host's legacy iptables (iptables-legacy, invisible to nft) drops forwarded packets by its FORWARD policy, so egress through the uplink is dropped there: accept traffic from and to the confine uplink (cfu*) in it, e.g. iptables-legacy -I FORWARD -i cfu+ -j ACCEPT; iptables-legacy -I FORWARD -o cfu+ -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
	}
	conn, err := nftables.New()
	if err != nil {
		return ""
	}
	chains, err := conn.ListChains()
	if err != nil {
		return ""
	}
	for _, c := range chains {
		if c.Table.Name == own || c.Hooknum == nil || *c.Hooknum != *nftables.ChainHookForward ||
			c.Policy == nil || *c.Policy != nftables.ChainPolicyDrop || c.Table.Family == nftables.TableFamilyBridge {
			continue
		}
		return fmt.Sprintf("the host's chain %s of table %s drops forwarded packets by policy (iptables -P FORWARD DROP, as Docker sets), so egress through the uplink is dropped there: accept traffic from and to the confine uplink (iifname/oifname cfu*) in that chain, e.g. iptables -I FORWARD -i cfu+ -j ACCEPT; iptables -I FORWARD -o cfu+ -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT", c.Name, c.Table.Name)
	}
	return ""
}

func rule(conn *nftables.Conn, c *nftables.Chain, parts ...[]expr.Any) {
	var exprs []expr.Any
	for _, p := range parts {
		exprs = append(exprs, p...)
	}
	conn.AddRule(&nftables.Rule{Table: c.Table, Chain: c, Exprs: exprs})
}

func matchIf(k expr.MetaKey, name string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: k, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)}}
}

func ipv4() []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}}}
}

func established() []expr.Any {
	return ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

func ctStatus(bits uint32) []expr.Any { return ctBits(expr.CtKeySTATUS, bits) }

func ctBits(k expr.CtKey, bits uint32) []expr.Any {
	mask := binary.NativeEndian.AppendUint32(nil, bits)
	return []expr.Any{
		&expr.Ct{Key: k, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

// dropLoggedSeen is dropLogged as chain, with chain's own seen set.
func dropLoggedSeen(conn *nftables.Conn, c *nftables.Chain, match []expr.Any, group uint16, chain string) error {
	seen, err := addSeenSet(conn, c.Table, chain)
	if err != nil {
		return err
	}
	dropLogged(conn, c, seen, match, group, DropPrefix+chain+": ")
	return nil
}

// logDrop logs at most at LogRate and drops; dropLogged adds the rule that drops the rest.
func logDrop(group uint16, prefix string) []expr.Any {
	return []expr.Any{
		logLimit(),
		&expr.Counter{},
		&expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX, Group: group, Data: []byte(prefix)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func protoNumber(p string) byte {
	return map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}[p]
}

// hostPortKey is gateway . proto . port, each field padded to 4 bytes.
func hostPortKey(a netip.Addr, proto byte, port uint16) []byte {
	k := make([]byte, 12)
	copy(k[0:4], a.AsSlice())
	k[4] = proto
	binary.BigEndian.PutUint16(k[8:10], port)
	return k
}

// dedupe drops repeated elements: two components may declare the same host port, and
// an interval set refuses overlapping elements.
func dedupe(elems []nftables.SetElement) []nftables.SetElement {
	seen := map[string]bool{}
	var out []nftables.SetElement
	for _, e := range elems {
		k := string(e.Key) + "|" + string(e.KeyEnd)
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// ipsDstNAT is IPS_DST_NAT of linux/netfilter/nf_conntrack_common.h: the connection was
// DNAT'd (ct status dnat).
const ipsDstNAT = 1 << 5
