package netfilter

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Published ports in the kernel (plan.Publish.Kernel) take two DNATs: the host's table
// sends HOSTADDR:PORT to the uplink's peer, the bridge namespace's sends that on to the
// component. Neither touches the source, so the component sees the client's address and
// its listen.from decides. Connections the host makes itself are masqueraded onto the
// uplink and then SNAT'd to the bridge address, which is what `host` in listen.from
// means, as for the loopback proxy. Loopback is never DNAT'd: that needs route_localnet
// (CVE-2020-8558); the supervisor's proxy serves it.

// kernelPublished are the plan's published ports that go through the kernel.
func kernelPublished(n plan.Network) []plan.Publish {
	var out []plan.Publish
	for _, p := range n.Published {
		if p.Kernel {
			out = append(out, p)
		}
	}
	return out
}

// addHostDNAT adds the host table's prerouting and output DNAT chains, and the
// masquerade of the host's own DNAT'd connections.
func addHostDNAT(conn *nftables.Conn, t *nftables.Table, rec *uplinkRecord, peer netip.Addr, pubs []plan.Publish, post *nftables.Chain) {
	if len(pubs) == 0 {
		return
	}
	accept := nftables.ChainPolicyAccept
	pre := conn.AddChain(&nftables.Chain{Table: t, Name: "prerouting", Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	out := conn.AddChain(&nftables.Chain{Table: t, Name: "output", Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	for _, p := range pubs {
		match := append(ipv4(), hostAddrMatch(p.HostAddress)...)
		match = append(match, portMatch(p.Proto, p.HostPort)...)
		dnat := []expr.Any{
			&expr.Immediate{Register: 1, Data: peer.AsSlice()},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
		}
		if a, err := netip.ParseAddr(p.Address); err == nil && a == peer {
			// A lone component is the peer itself: the port is translated here.
			dnat = []expr.Any{
				&expr.Immediate{Register: 1, Data: peer.AsSlice()},
				&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, p.Port)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
			}
		}
		// Not what the stack itself sends out through the uplink (no hairpin).
		rule(conn, pre, notIf(expr.MetaKeyIIFNAME, rec.Link), match, dnat)
		rule(conn, out, match, dnat)
	}
	rule(conn, post, matchIf(expr.MetaKeyOIFNAME, rec.Link), ctStatus(ipsDstNAT), []expr.Any{
		&expr.Fib{Register: 1, FlagSADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
		&expr.Masq{},
	})
}

// addBridgeDNAT adds the bridge namespace's half: peer:HOSTPORT to the component, the
// host's own connections (from the gateway) SNAT'd to the bridge address, and those
// connections allowed by the stack firewall (the forward hook sees them before SNAT).
func addBridgeDNAT(conn *nftables.Conn, pre, post *nftables.Chain, n plan.Network, gw, peer netip.Addr) []nftables.SetElement {
	pubs := kernelPublished(n)
	var elems []nftables.SetElement
	for _, p := range pubs {
		comp, err := netip.ParseAddr(p.Address)
		if err != nil {
			continue
		}
		port := binary.BigEndian.AppendUint16(nil, p.Port)
		rule(conn, pre, matchIf(expr.MetaKeyIIFNAME, uplinkPeerName), ipv4(), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: peer.AsSlice()},
		}, portMatch(p.Proto, p.HostPort), []expr.Any{
			&expr.Immediate{Register: 1, Data: comp.AsSlice()},
			&expr.Immediate{Register: 2, Data: port},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
		})
		pr := protoNumber(p.Proto)
		elems = append(elems, rangeElement(DstFirst(n.Firewall.Chains[0]), netip.PrefixFrom(gw, 32), netip.PrefixFrom(comp, 32), pr, p.Port, p.Port))
	}
	if len(pubs) > 0 {
		bridge := netip.MustParseAddr(n.BridgeAddress)
		rule(conn, post, matchIf(expr.MetaKeyOIFNAME, bridgeName), ipv4(), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: gw.AsSlice()},
			&expr.Immediate{Register: 1, Data: bridge.AsSlice()},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
		})
	}
	return elems
}

// hostAddrMatch matches the published host address: 0.0.0.0 is every local address but
// loopback (served by the proxy).
func hostAddrMatch(a string) []expr.Any {
	addr, err := netip.ParseAddr(a)
	if err != nil || addr.IsUnspecified() {
		return []expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}},
		}
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()},
	}
}

func portMatch(proto string, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(proto)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
	}
}

func notIf(k expr.MetaKey, name string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: k, Register: 1}, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(name)}}
}

// publishLinks are the host's links clients of the kernel-published ports come in by:
// the one holding each published address, every link with an IPv4 address for 0.0.0.0.
func publishLinks(pubs []plan.Publish, own string) []string {
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	var names []string
	for _, l := range links {
		name := l.Attrs().Name
		if name == "lo" || name == own || strings.HasPrefix(name, "cfu") {
			continue
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, p := range pubs {
			if slices.ContainsFunc(addrs, func(a netlink.Addr) bool {
				return p.HostAddress == "0.0.0.0" || a.IP.String() == p.HostAddress
			}) && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}
