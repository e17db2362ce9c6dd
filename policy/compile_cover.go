package policy

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// publishFlows is a firewall's flow list that publish flows are added to. A publish flow
// is left out when a flow of the same set already covers it: nftables interval sets
// refuse overlapping elements (a publish to a port whose listen.from already admits
// 0.0.0.0/0, or two publishes of one port). A publish flow is one port from one address
// to one address, so an earlier publish flow covers it only if equal; the flows compiled
// before are indexed by set, protocol and prefixes, each group's port ranges sorted, so
// that one check costs a few lookups instead of a pass over every flow.
type publishFlows struct {
	flows  []plan.Flow
	groups map[coverKey]*portSpans
	lens   []int // the prefix lengths of the indexed sources and destinations
	seen   map[plan.Flow]bool
}

type coverKey struct {
	set, proto string
	src, dst   netip.Prefix
}

func newPublishFlows(flows []plan.Flow) *publishFlows {
	pf := &publishFlows{flows: flows, groups: map[coverKey]*portSpans{}, seen: map[plan.Flow]bool{}}
	lens := map[int]bool{}
	for _, f := range flows {
		src, err1 := netip.ParsePrefix(f.Src)
		dst, err2 := netip.ParsePrefix(f.Dst)
		if err1 != nil || err2 != nil {
			continue // covers nothing, as it never did
		}
		k := coverKey{f.Set, f.Proto, src.Masked(), dst.Masked()}
		if pf.groups[k] == nil {
			pf.groups[k] = &portSpans{}
		}
		pf.groups[k].add(uint32(f.First), uint32(f.Last))
		lens[src.Bits()], lens[dst.Bits()] = true, true
	}
	for _, g := range pf.groups {
		g.sort()
	}
	for n := range lens {
		pf.lens = append(pf.lens, n)
	}
	slices.Sort(pf.lens)
	return pf
}

// add appends the publish flow f (one port, /32 to /32) unless a flow covers it.
func (pf *publishFlows) add(f plan.Flow) {
	key := f
	key.Why = ""
	if pf.seen[key] || pf.covered(f) {
		return
	}
	pf.seen[key] = true
	pf.flows = append(pf.flows, f)
}

// covered reports whether an indexed flow's prefixes hold f's addresses and its ports f's.
func (pf *publishFlows) covered(f plan.Flow) bool {
	src, err1 := netip.ParsePrefix(f.Src)
	dst, err2 := netip.ParsePrefix(f.Dst)
	if err1 != nil || err2 != nil {
		return false
	}
	for _, sb := range pf.lens {
		if sb > src.Bits() {
			break
		}
		s := netip.PrefixFrom(src.Addr(), sb).Masked()
		for _, db := range pf.lens {
			if db > dst.Bits() {
				break
			}
			g := pf.groups[coverKey{f.Set, f.Proto, s, netip.PrefixFrom(dst.Addr(), db).Masked()}]
			if g != nil && g.covers(uint32(f.First), uint32(f.Last)) {
				return true
			}
		}
	}
	return false
}

// portSpans answers "does one span hold all of [a, b]?" and "does one span meet
// [a, b]?" in O(log n): spans sorted by start, with the furthest end so far.
type portSpans struct {
	spans   [][2]uint32
	maxLast []uint32 // maxLast[i] is the largest end among spans[:i+1]
}

func (p *portSpans) add(first, last uint32) { p.spans = append(p.spans, [2]uint32{first, last}) }

func (p *portSpans) sort() {
	sort.Slice(p.spans, func(i, j int) bool { return p.spans[i][0] < p.spans[j][0] })
	p.maxLast = make([]uint32, len(p.spans))
	for i, s := range p.spans {
		p.maxLast[i] = s[1]
		if i > 0 {
			p.maxLast[i] = max(p.maxLast[i], p.maxLast[i-1])
		}
	}
}

// startingBy is how many spans start at or before x.
func (p *portSpans) startingBy(x uint32) int {
	return sort.Search(len(p.spans), func(i int) bool { return p.spans[i][0] > x })
}

// covers reports whether one span starts at or before a and ends at or after b.
func (p *portSpans) covers(a, b uint32) bool {
	n := p.startingBy(a)
	return n > 0 && p.maxLast[n-1] >= b
}

// meets reports whether a span shares a value with [a, b].
func (p *portSpans) meets(a, b uint32) bool {
	n := p.startingBy(b)
	return n > 0 && p.maxLast[n-1] >= a
}
