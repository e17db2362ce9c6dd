package policy

import (
	"slices"
	"sort"
)

// flowIndex answers the two-sided flow checks (does the callee listen on these ports,
// does its listen.from name the caller, does the caller connect there) from indexes
// built once per component, so that checking a stack costs O(n log n) in its flows
// rather than a pass over one side for every entry of the other.
type flowIndex struct {
	listens  map[*Component]*listenIndex
	connects map[*Component]map[string]*portSpans // callee → the caller's port spans to it
	froms    map[*Listen]map[string]bool
}

// listenFor returns the index of c's first listen entry that covers ports, or -1: what
// the function listenFor returns, in O(log² n).
func (x *flowIndex) listenFor(c *Component, ports PortRange) int {
	if x.listens == nil {
		x.listens = map[*Component]*listenIndex{}
	}
	li := x.listens[c]
	if li == nil {
		li = newListenIndex(c.Network.Listen)
		x.listens[c] = li
	}
	lo, hi := portCoord(ports)
	return li.first(lo, hi)
}

// from is the set of c.Network.Listen[j].From.
func (x *flowIndex) from(c *Component, j int) map[string]bool {
	if x.froms == nil {
		x.froms = map[*Listen]map[string]bool{}
	}
	l := &c.Network.Listen[j]
	set := x.froms[l]
	if set == nil {
		set = make(map[string]bool, len(l.From))
		for _, f := range l.From {
			set[f] = true
		}
		x.froms[l] = set
	}
	return set
}

// connectsTo reports whether c declares a connect to a port of callee within ports.
func (x *flowIndex) connectsTo(c *Component, callee string, ports PortRange) bool {
	if x.connects == nil {
		x.connects = map[*Component]map[string]*portSpans{}
	}
	to, ok := x.connects[c]
	if !ok {
		to = map[string]*portSpans{}
		for _, conn := range c.Network.Connect {
			if ep := conn.to.v; conn.to.err == nil && ep.Peer.Component != "" {
				if to[ep.Peer.Component] == nil {
					to[ep.Peer.Component] = &portSpans{}
				}
				lo, hi := portCoord(ep.Ports)
				to[ep.Peer.Component].add(lo, hi)
			}
		}
		for _, s := range to {
			s.sort()
		}
		x.connects[c] = to
	}
	s := to[callee]
	lo, hi := portCoord(ports)
	return s != nil && s.meets(lo, hi)
}

// listenIndex finds the first listen entry whose span holds a query span: the entries
// sorted by first port, in a Fenwick tree whose nodes keep their entries by last port,
// descending, with the smallest entry index so far.
type listenIndex struct {
	firsts []uint32    // the sorted first ports
	nodes  [][]lastMin // nodes[k] covers sorted positions (k - k&-k, k], 1-based
}

type lastMin struct {
	last  uint32
	index int // the smallest listen index among the node's entries up to this one
}

func newListenIndex(listens []Listen) *listenIndex {
	type entry struct {
		lo, hi uint32
		index  int
	}
	var es []entry
	for i, l := range listens {
		if l.ports.err == nil {
			lo, hi := portCoord(l.ports.v)
			es = append(es, entry{lo, hi, i})
		}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].lo < es[j].lo })
	li := &listenIndex{firsts: make([]uint32, len(es)), nodes: make([][]lastMin, len(es)+1)}
	for i, e := range es {
		li.firsts[i] = e.lo
	}
	for k := 1; k <= len(es); k++ {
		part := slices.Clone(es[k-k&-k : k])
		sort.Slice(part, func(i, j int) bool { return part[i].hi > part[j].hi })
		node := make([]lastMin, len(part))
		for i, e := range part {
			node[i] = lastMin{e.hi, e.index}
			if i > 0 {
				node[i].index = min(node[i].index, node[i-1].index)
			}
		}
		li.nodes[k] = node
	}
	return li
}

// first returns the smallest listen index whose span starts at or before lo and ends at
// or after hi, or -1.
func (li *listenIndex) first(lo, hi uint32) int {
	best := -1
	n := sort.Search(len(li.firsts), func(i int) bool { return li.firsts[i] > lo })
	for k := n; k > 0; k -= k & -k {
		node := li.nodes[k]
		m := sort.Search(len(node), func(i int) bool { return node[i].last < hi })
		if m > 0 && (best < 0 || node[m-1].index < best) {
			best = node[m-1].index
		}
	}
	return best
}
