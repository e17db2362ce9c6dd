package policy

import (
	"net/netip"
	"slices"
	"sort"
)

// A list whose entries must not overlap (listen ports, a listen's sources, connects)
// is checked in O(n log n): for each entry, firstOverlaps finds the earliest entry
// before it that it overlaps, and validate names that one.

// span is one list entry: a peer and a range of coordinates (port spans), two entries
// overlapping when both their peers and their spans do. A zero Peer is one peer for all.
type span struct {
	peer   Peer
	lo, hi uint32
}

// portCoord places a port range on one axis, tcp below udp, so that ranges of
// different protocols never meet.
func portCoord(p PortRange) (lo, hi uint32) {
	off := uint32(0)
	if p.Proto == "udp" {
		off = 1 << 16
	}
	return off + uint32(p.First), off + uint32(p.Last)
}

// peerGroup is a set of entries whose spans are compared directly. A component peer
// overlaps only itself. Prefixes overlap when one holds the other, so an entry is put
// in the group of its own prefix (exact) and in the "inner" group of each listed prefix
// that holds it; it is then checked against the exact groups of the prefixes holding it
// and the inner group of its own.
type peerGroup struct {
	component string
	prefix    netip.Prefix
	inner     bool
}

// firstOverlaps returns, for each entry, the index of the first entry before it that it
// overlaps, or -1.
func firstOverlaps(entries []span) []int {
	if len(entries) <= smallList {
		return firstOverlapsPairwise(entries)
	}
	lens, listed := prefixLens(entries)
	holders := func(p netip.Prefix, f func(netip.Prefix)) {
		for _, n := range lens {
			if n > p.Bits() {
				return
			}
			if a := netip.PrefixFrom(p.Addr(), n).Masked(); listed[a] {
				f(a)
			}
		}
	}
	// Each entry's groups: where it goes, and where it looks.
	puts := make([][]peerGroup, len(entries))
	looks := make([][]peerGroup, len(entries))
	for i, e := range entries {
		if !e.peer.Prefix.IsValid() {
			g := peerGroup{component: e.peer.Component}
			puts[i], looks[i] = []peerGroup{g}, []peerGroup{g}
			continue
		}
		p := e.peer.Prefix
		puts[i] = append(puts[i], peerGroup{prefix: p})
		looks[i] = append(looks[i], peerGroup{prefix: p, inner: true})
		holders(p, func(a netip.Prefix) {
			puts[i] = append(puts[i], peerGroup{prefix: a, inner: true})
			looks[i] = append(looks[i], peerGroup{prefix: a})
		})
	}
	// A group exists when an entry goes there; looking elsewhere finds nothing.
	coords := map[peerGroup][]uint32{}
	for i, e := range entries {
		for _, g := range puts[i] {
			coords[g] = append(coords[g], e.lo, e.hi)
		}
	}
	for i, e := range entries {
		for _, g := range looks[i] {
			if _, ok := coords[g]; ok {
				coords[g] = append(coords[g], e.lo, e.hi)
			}
		}
	}
	index := map[peerGroup]*spanIndex{}
	for g, xs := range coords {
		index[g] = newSpanIndex(xs)
	}
	first := make([]int, len(entries))
	for i, e := range entries {
		first[i] = -1
		for _, g := range looks[i] {
			if x := index[g]; x != nil {
				if j := x.first(e.lo, e.hi); j >= 0 && (first[i] < 0 || j < first[i]) {
					first[i] = j
				}
			}
		}
		for _, g := range puts[i] {
			index[g].add(e.lo, e.hi, i)
		}
	}
	return first
}

// smallList is the length up to which comparing every pair costs less than indexing.
const smallList = 16

// firstOverlapsPairwise is firstOverlaps by comparing every pair.
func firstOverlapsPairwise(entries []span) []int {
	first := make([]int, len(entries))
	for i, e := range entries {
		first[i] = -1
		for j, f := range entries[:i] {
			if e.lo <= f.hi && f.lo <= e.hi && peersMeet(e.peer, f.peer) {
				first[i] = j
				break
			}
		}
	}
	return first
}

// peersMeet reports whether two peers can name the same address, as the groups of
// firstOverlaps see them: a peer without a prefix is its component name.
func peersMeet(a, b Peer) bool {
	if a.Prefix.IsValid() != b.Prefix.IsValid() {
		return false
	}
	if !a.Prefix.IsValid() {
		return a.Component == b.Component
	}
	return a.Prefix.Overlaps(b.Prefix)
}

// prefixLens returns the distinct prefix lengths among the entries, ascending, and the
// set of their prefixes.
func prefixLens(entries []span) ([]int, map[netip.Prefix]bool) {
	listed := map[netip.Prefix]bool{}
	seen := map[int]bool{}
	var lens []int
	for _, e := range entries {
		if p := e.peer.Prefix; p.IsValid() {
			listed[p] = true
			if !seen[p.Bits()] {
				seen[p.Bits()] = true
				lens = append(lens, p.Bits())
			}
		}
	}
	slices.Sort(lens)
	return lens, listed
}

// spanIndex finds the first-added span that meets a query span, in O(log n), over a
// fixed set of coordinates that holds the ends of every span added or asked about. It
// is a segment tree over those coordinates: tag[n] is the first span that covers all
// of node n, sub[n] the first span that touches anything below n.
type spanIndex struct {
	xs       []uint32
	tag, sub []int
}

const noSpan = int(^uint(0) >> 1)

func newSpanIndex(xs []uint32) *spanIndex {
	slices.Sort(xs)
	xs = slices.Compact(xs)
	n := 1
	for n < len(xs) {
		n *= 2
	}
	s := &spanIndex{xs: xs, tag: make([]int, 2*n), sub: make([]int, 2*n)}
	for i := range s.tag {
		s.tag[i], s.sub[i] = noSpan, noSpan
	}
	return s
}

func (s *spanIndex) leaf(x uint32) int {
	return sort.Search(len(s.xs), func(i int) bool { return s.xs[i] >= x })
}

// add records span id over [lo, hi]; ids must grow from one add to the next.
func (s *spanIndex) add(lo, hi uint32, id int) {
	s.update(1, 0, len(s.tag)/2, s.leaf(lo), s.leaf(hi)+1, id)
}

func (s *spanIndex) update(n, nl, nr, l, r, id int) {
	if r <= nl || nr <= l {
		return
	}
	s.sub[n] = min(s.sub[n], id)
	if l <= nl && nr <= r {
		s.tag[n] = min(s.tag[n], id)
		return
	}
	mid := (nl + nr) / 2
	s.update(2*n, nl, mid, l, r, id)
	s.update(2*n+1, mid, nr, l, r, id)
}

// first returns the first span added that meets [lo, hi], or -1.
func (s *spanIndex) first(lo, hi uint32) int {
	if got := s.query(1, 0, len(s.tag)/2, s.leaf(lo), s.leaf(hi)+1); got != noSpan {
		return got
	}
	return -1
}

func (s *spanIndex) query(n, nl, nr, l, r int) int {
	if r <= nl || nr <= l {
		return noSpan
	}
	if l <= nl && nr <= r {
		return s.sub[n]
	}
	mid := (nl + nr) / 2
	return min(s.tag[n], s.query(2*n, nl, mid, l, r), s.query(2*n+1, mid, nr, l, r))
}
