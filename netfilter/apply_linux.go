package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Registers of the concatenated flow key: four 32-bit registers in a row, as nft lays out
// ip saddr . ip daddr . meta l4proto . th dport (a key destination first, DstFirst,
// loads daddr into regSrc and saddr into regDst).
const (
	regSrc   = 8 // NFT_REG32_00
	regDst   = 9
	regProto = 10
	regPort  = 11
)

var hooks = map[string]*nftables.ChainHook{
	"input": nftables.ChainHookInput, "output": nftables.ChainHookOutput, "forward": nftables.ChainHookForward,
	"prerouting": nftables.ChainHookPrerouting,
}

// Apply loads fw into the network namespace at nsPath (such as /proc/PID/ns/net), or into
// the caller's own when nsPath is "", in one netlink transaction: the table is replaced
// whole, or nothing changes. It is the netlink twin of Render; tests/nft compares what
// the kernel lists for both.
func Apply(nsPath string, fw plan.Firewall) error { return apply(nsPath, fw, false) }

// ApplyNew is Apply into a network namespace made for the run, which holds no table yet:
// it skips the listing of its tables (a netlink connection and round trip of its own),
// on the path of every start. Should the namespace hold the table after all, the load
// fails with EEXIST and changes nothing.
func ApplyNew(nsPath string, fw plan.Firewall) error { return apply(nsPath, fw, true) }

// ApplyNewPid is ApplyNew into the network namespace of process pid, which the caller
// keeps from being reaped meanwhile (its unreaped child: a spawner's spare). The
// namespace is joined through a pidfd (setns takes one since Linux 5.8, as `confine
// exec` needs), not /proc/PID/ns/net: a fresh pid's /proc entries are looked up and
// made on their first open, which is on every start.
func ApplyNewPid(pid int, fw plan.Firewall) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return ApplyNew(fmt.Sprintf("/proc/%d/ns/net", pid), fw)
	}
	defer unix.Close(fd)
	return applyConn(nftables.WithNetNSFd(fd), fw, true)
}

func apply(nsPath string, fw plan.Firewall, fresh bool) error {
	if nsPath == "" {
		return applyConn(func(*nftables.Conn) {}, fw, fresh)
	}
	ns, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer ns.Close()
	return applyConn(nftables.WithNetNSFd(int(ns.Fd())), fw, fresh)
}

// applyConn is apply over a connection made with netns (a namespace option).
func applyConn(netns nftables.ConnOption, fw plan.Firewall, fresh bool) error {
	if fw.Family != "inet" {
		return fmt.Errorf("nftables: bug: family %q", fw.Family)
	}
	conn, err := nftables.New(netns, nftables.WithSockOptions(bigSendBuffer))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: fw.Table}
	exists := false
	if !fresh {
		if exists, err = hasTable(conn, table); err != nil {
			return fmt.Errorf("nftables: listing tables: %w", err)
		}
	}
	if exists {
		// Add, then delete, then add: replaces the earlier table in the same transaction.
		conn.AddTable(table)
		conn.DelTable(table)
		conn.AddTable(table)
	} else {
		// No table to replace, as in a new namespace: skip the delete, which makes the
		// kernel's commit wait for an RCU grace period (about 15 ms measured on Linux
		// 6.18, against 1 ms for the rest of the transaction; docs/BENCHMARKS.md).
		// Create fails with EEXIST should a table of that name appear in between, so
		// the transaction still replaces whole or changes nothing.
		conn.CreateTable(table)
	}
	sets := map[string]*nftables.Set{}
	flowType := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	for _, c := range fw.Chains {
		elems, err := setElements(fw.Flows, c)
		if err != nil {
			return err
		}
		if len(elems) > 0 { // an empty flows set is left out, with its lookup (hasFlows)
			set := &nftables.Set{Table: table, Name: c.FlowsSet, Interval: true, Concatenation: true, KeyType: flowType}
			if err := addSetChunked(conn, set, elems); err != nil {
				return fmt.Errorf("nftables: set %s: %w", c.FlowsSet, err)
			}
			sets[c.FlowsSet] = set
		}
		if c.NamesSet != "" {
			names := &nftables.Set{Table: table, Name: c.NamesSet, Interval: true, Concatenation: true, HasTimeout: true, KeyType: flowType}
			if err := addSet(conn, names, nil); err != nil {
				return fmt.Errorf("nftables: set %s: %w", c.NamesSet, err)
			}
			sets[c.NamesSet] = names
		}
		if !fw.Audit {
			seen, err := addSeenSet(conn, table, c.Name)
			if err != nil {
				return err
			}
			sets[seen.Name] = seen
		}
	}
	for _, c := range fw.Chains {
		hook, ok := hooks[c.Hook]
		if !ok {
			return fmt.Errorf("nftables: bug: hook %q", c.Hook)
		}
		policy := nftables.ChainPolicyDrop
		chain := conn.AddChain(&nftables.Chain{
			Table: table, Name: c.Name, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &policy,
		})
		for _, exprs := range chainRules(c, sets[c.FlowsSet], sets[c.NamesSet], sets[SeenPrefix+c.Name], fw) {
			conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
		}
		if !fw.Audit {
			conn.AddRule(suppressedRule(table, chain, c.Name, nil))
		}
	}
	for _, u := range untracked(fw.Chains) {
		addUntracked(conn, table, u)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: loading table %s: %w", fw.Table, err)
	}
	return nil
}

// addUntracked adds Render's loopback notrack chain.
func addUntracked(conn *nftables.Conn, table *nftables.Table, u loopbackRaw) {
	accept := nftables.ChainPolicyAccept
	chain := conn.AddChain(&nftables.Chain{
		Table: table, Name: u.name, Type: nftables.ChainTypeFilter,
		Hooknum: hooks[u.hook], Priority: nftables.ChainPriorityRaw, Policy: &accept,
	})
	conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: append(isLoopback(u.iface), &expr.Notrack{})})
}

// loopbackIndex is lo's interface index, the same in every network namespace
// (LOOPBACK_IFINDEX).
const loopbackIndex = 1

// isLoopback matches packets whose input ("iif") or output ("oif") interface is lo.
func isLoopback(iface string) []expr.Any {
	key := expr.MetaKeyIIF
	if iface == "oif" {
		key = expr.MetaKeyOIF
	}
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, loopbackIndex)},
	}
}

// elemChunk bounds the elements of one netlink message: the element list is one
// attribute, whose length is 16 bits, so a list past 64 KiB (about 1,500 concatenated
// interval elements) wraps and the kernel silently keeps only what the length covers.
const elemChunk = 512

// setIDs numbers the sets of this process's batches. google/nftables numbers a set
// without an ID from a package counter it does not lock, and two loads at once (a lone
// run's firewall ahead beside its uplink's host table, a stack's) race on it; a batch
// needs its sets' IDs unique only within itself.
var setIDs atomic.Uint32

// addSet is conn.AddSet with the set numbered by setIDs.
func addSet(conn *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	if set.ID == 0 {
		set.ID = setIDs.Add(1)
	}
	return conn.AddSet(set, elems)
}

// addSetChunked adds set with its elements, in messages of at most elemChunk elements,
// all in the caller's transaction.
func addSetChunked(conn *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	head := elems[:min(len(elems), elemChunk)]
	if err := addSet(conn, set, head); err != nil {
		return err
	}
	return addElementsChunked(conn, set, elems[len(head):])
}

// addElementsChunked adds elements to an existing set in messages of elemChunk.
func addElementsChunked(conn *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		n := min(len(elems), elemChunk)
		if err := conn.SetAddElements(set, elems[:n]); err != nil {
			return err
		}
		elems = elems[n:]
	}
	return nil
}

// hasTable reports whether the namespace holds a table of t's family and name.
func hasTable(conn *nftables.Conn, t *nftables.Table) (bool, error) {
	tables, err := conn.ListTablesOfFamily(t.Family)
	if err != nil {
		return false, err
	}
	for _, have := range tables {
		if have.Name == t.Name {
			return true, nil
		}
	}
	return false, nil
}

// chainRules are Render's rules as expressions, in the same order.
func chainRules(c plan.Chain, set, names, seen *nftables.Set, fw plan.Firewall) [][]expr.Any {
	group := fw.LogGroup
	var rules [][]expr.Any
	if c.AcceptLoopback {
		iface := "iif"
		if c.Hook == "output" {
			iface = "oif"
		}
		rules = append(rules, append(isLoopback(iface), &expr.Verdict{Kind: expr.VerdictAccept}))
	}
	established := binary.NativeEndian.AppendUint32(nil, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
	rules = append(rules, []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: established, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	})
	src, dst := uint32(12), uint32(16) // the first and second field's offset in the IP header
	if DstFirst(c) {
		src, dst = dst, src
	}
	lookup := func(set *nftables.Set) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Payload{DestRegister: regSrc, Base: expr.PayloadBaseNetworkHeader, Offset: src, Len: 4},
			&expr.Payload{DestRegister: regDst, Base: expr.PayloadBaseNetworkHeader, Offset: dst, Len: 4},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regProto},
			&expr.Payload{DestRegister: regPort, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: regSrc, SetName: set.Name, SetID: set.ID},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}
	}
	if set != nil {
		rules = append(rules, lookup(set))
	}
	if names != nil {
		rules = append(rules, lookup(names))
	}
	logAs := func(prefix string, verdict expr.VerdictKind) []expr.Any {
		var limit []expr.Any
		if verdict == expr.VerdictDrop {
			limit = []expr.Any{logLimit()} // the rest: suppressedRule
		}
		return append(limit,
			&expr.Counter{},
			&expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX, Group: group, Data: []byte(prefix + c.Name + ": ")},
			&expr.Verdict{Kind: verdict},
		)
	}
	// Audit mode: what would be dropped from or to an audit-mode component is logged
	// as such and accepted (the bridge's rules; a component's own chain accepts all).
	for _, a := range fw.AuditAddrs {
		addr, err := netip.ParseAddr(a)
		if err != nil || !addr.Is4() {
			continue // compile writes IPv4 addresses only
		}
		for _, offset := range []uint32{12, 16} { // source, destination
			rules = append(rules, append([]expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()},
			}, logAs(AuditPrefix, expr.VerdictAccept)...))
		}
	}
	if fw.Audit {
		return append(rules, logAs(AuditPrefix, expr.VerdictAccept))
	}
	return append(rules, seenRule(seen, nil, group, DropPrefix+c.Name+": "), logAs(DropPrefix, expr.VerdictDrop))
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

// setElements turns a chain's flows into concatenated range elements: each field padded
// to 4 bytes, Key the range's start and KeyEnd its end, in the chain's key order.
func setElements(flows []plan.Flow, c plan.Chain) ([]nftables.SetElement, error) {
	var out []nftables.SetElement
	for _, f := range flows {
		if f.Set != c.FlowsSet {
			continue
		}
		src, err := netip.ParsePrefix(f.Src)
		if err != nil {
			return nil, fmt.Errorf("nftables: flow source %q: %w", f.Src, err)
		}
		dst, err := netip.ParsePrefix(f.Dst)
		if err != nil {
			return nil, fmt.Errorf("nftables: flow destination %q: %w", f.Dst, err)
		}
		proto := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}[f.Proto]
		out = append(out, rangeElement(DstFirst(c), src, dst, proto, f.First, f.Last))
	}
	return out, nil
}

// rangeElement is the element for src to dst with proto on ports [lo, hi], keyed
// destination first when dstFirst.
func rangeElement(dstFirst bool, src, dst netip.Prefix, proto byte, lo, hi uint16) nftables.SetElement {
	if dstFirst {
		src, dst = dst, src
	}
	return nftables.SetElement{Key: key(first(src), first(dst), proto, lo), KeyEnd: key(last(src), last(dst), proto, hi)}
}

// key is a concatenated key: a . b . proto . port, each padded to 4 bytes.
func key(a, b netip.Addr, proto byte, port uint16) []byte {
	k := make([]byte, 16)
	copy(k[0:4], a.AsSlice())
	copy(k[4:8], b.AsSlice())
	k[8] = proto
	binary.BigEndian.PutUint16(k[12:14], port)
	return k
}

func first(p netip.Prefix) netip.Addr { return p.Masked().Addr() }

func last(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	if p.Bits() == 0 {
		host = ^uint32(0)
	}
	v := binary.BigEndian.Uint32(a[:]) | host
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

// connect opens a netlink connection into the namespace at nsPath ("" for the caller's).
func connect(nsPath string) (*nftables.Conn, func(), error) {
	if nsPath == "" {
		conn, err := nftables.New(nftables.WithSockOptions(bigSendBuffer))
		return conn, func() {}, err
	}
	ns, err := os.Open(nsPath)
	if err != nil {
		return nil, nil, err
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())), nftables.WithSockOptions(bigSendBuffer))
	if err != nil {
		ns.Close()
		return nil, nil, err
	}
	return conn, func() { ns.Close() }, nil
}

// bigSendBuffer lets one transaction carry a table of many thousand flows: the kernel
// refuses a batch larger than the socket's send buffer (EMSGSIZE, "message too long"),
// 208 KiB by default, about 2,000 concatenated interval elements. SO_SNDBUFFORCE
// (CAP_NET_ADMIN) passes net.core.wmem_max; a buffer is only reserved as it is used.
func bigSendBuffer(c *mdnetlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20)
	})
	if err == nil && serr != nil && !errors.Is(serr, unix.EPERM) {
		err = serr // without CAP_NET_ADMIN the default buffer stays: small tables still load
	}
	return err
}

// Teardown removes the table from the namespace at nsPath; a namespace already gone is
// fine, its tables went with it.
func Teardown(nsPath string, fw plan.Firewall) error {
	if _, err := os.Stat(nsPath); err != nil {
		return nil
	}
	conn, closeNS, err := connect(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: fw.Table}
	conn.AddTable(table)
	conn.DelTable(table)
	return conn.Flush()
}
