package netfilter

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// A lone run's component owns its network namespace: one that keeps NET_ADMIN can
// flush its own firewall, one that keeps NET_RAW can go around it with packet sockets.
// So what it sends through its uplink is filtered again on the host, where it cannot
// reach: only from its own address, and only the declared outside flows (and, on the
// input hook, its host:PORT flows and the resolver's port 53 on the gateway).

// Prefixes of the host table's drops of a lone run's own traffic (forwardDrops).
const (
	spoofedChain = "spoofed"
	fromRunChain = "from-run"
)

// loneFlowsSet and the names set hold dst . src . proto . dport, as a component's
// own egress set does (DstFirst: their elements share the run's address), so PinNames
// fills both alike.
const loneFlowsSet = "outside"

// addLoneEgress adds to the host table the filter on what arrives from the lone run's
// link: a source other than peer is dropped in prerouting at raw priority, before
// conntrack (it could match a reply tuple of the host's own connections) and the
// reverse-path check; in forward, the declared flows are accepted (replies already
// were) and the rest is logged to group and dropped. Input keeps its host-port filter.
func addLoneEgress(conn *nftables.Conn, t *nftables.Table, fwd *nftables.Chain, link string, peer netip.Addr, n plan.Network, group uint16) error {
	flowType := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	flows := &nftables.Set{Table: t, Name: loneFlowsSet, Interval: true, Concatenation: true, KeyType: flowType}
	elems, err := loneElements(n.Uplink.Outside, peer)
	if err != nil {
		return err
	}
	if err := addSetChunked(conn, flows, dedupe(elems)); err != nil {
		return err
	}
	names := &nftables.Set{Table: t, Name: LoneNamesSet, Interval: true, Concatenation: true, HasTimeout: true, KeyType: flowType}
	if err := addSet(conn, names, nil); err != nil {
		return err
	}
	iif := matchIf(expr.MetaKeyIIFNAME, link)
	accept := nftables.ChainPolicyAccept
	pre := conn.AddChain(&nftables.Chain{Table: t, Name: "from_run", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, Policy: &accept})
	seen, err := addSeenSet(conn, t, spoofedChain)
	if err != nil {
		return err
	}
	spoofed := spoofMatch(iif, peer)
	dropLogged(conn, pre, nil, spoofed[0], group, DropPrefix+spoofedChain+": ") // not IPv4: no key to log by
	dropLogged(conn, pre, seen, spoofed[1], group, DropPrefix+spoofedChain+": ")
	// replies are accepted by forward's first rule (applyHostTable)
	rule(conn, fwd, iif, lookupFlow(flows), verdict(expr.VerdictAccept))
	rule(conn, fwd, iif, lookupFlow(names), verdict(expr.VerdictAccept))
	if n.Firewall.Audit {
		// Audit mode enforces nothing: the component's own chain logs what it would
		// drop, and the host lets it pass (as a stack's bridge does).
		rule(conn, fwd, iif, []expr.Any{&expr.Counter{}}, verdict(expr.VerdictAccept))
		return nil
	}
	return dropLoggedSeen(conn, fwd, iif, group, fromRunChain)
}

// spoofMatch matches what comes in on the link from any source but peer; anything but
// IPv4 too (the link has IPv6 disabled, and no rule here lets it through).
func spoofMatch(iif []expr.Any, peer netip.Addr) [][]expr.Any {
	notIPv4 := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}}}
	saddr := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: peer.AsSlice()}}
	return [][]expr.Any{
		slices.Concat(iif, notIPv4),
		slices.Concat(iif, ipv4(), saddr),
	}
}

func lookupFlow(set *nftables.Set) []expr.Any {
	return append(ipv4(),
		// ip daddr . ip saddr: destination first
		&expr.Payload{DestRegister: regSrc, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Payload{DestRegister: regDst, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regProto},
		&expr.Payload{DestRegister: regPort, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: regSrc, SetName: set.Name, SetID: set.ID})
}

// loneElements are the outside flows as the host sees them: from the run's address.
func loneElements(outside []plan.Flow, peer netip.Addr) ([]nftables.SetElement, error) {
	var out []nftables.SetElement
	for _, f := range outside {
		dst, err := netip.ParsePrefix(f.Dst)
		if err != nil {
			return nil, fmt.Errorf("nftables: flow destination %q: %w", f.Dst, err)
		}
		p := protoNumber(f.Proto)
		out = append(out, rangeElement(true, netip.PrefixFrom(peer, 32), dst, p, f.First, f.Last))
	}
	return out, nil
}

// LoneNamesSet is the names set of a lone run's host table (supervisor.NamesSetName).
const LoneNamesSet = "names"

// HostTable is the name of the uplink's table in the host namespace.
func (u *Uplink) HostTable() string { return u.rec.Table }

// PinHostNames pins a lone run's resolver answers into its host table's names set, as
// into the component's own (PinNames): the host lets them through for ttl.
func (u *Uplink) PinHostNames(elems []NameElement, ttl time.Duration) error {
	return PinNames("", u.rec.Table, LoneNamesSet, elems, ttl)
}
