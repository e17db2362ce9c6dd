package policy

import "github.com/confine-sandbox/confine/policy/plan"

// libseccomp 2.5 builds one tree of comparisons per syscall: each level a list of
// alternatives sorted by its own order (argument, then operator, then value), each
// 64-bit comparison split into nodes on the high and the low word, rules with equal
// nodes sharing them, and the first rule whose nodes all hold deciding. Nothing in it
// makes a deny win over an allow it overlaps: the deny wins only where the two rules
// part at a level on which the deny's node comes first. The functions here tell where
// two sets of conditions part and in which order libseccomp tries them there.

// always is a comparison that holds for every value of argument index.
func always(index uint) plan.SeccompArg { return plan.SeccompArg{Index: index, Op: "ge", Value: 0} }

// parting is the first position at which a and b (each sorted by argument) differ.
func parting(a, b alt) int {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	return p
}

// holdsAll reports whether every condition of d is one of a's: then a's calls all match d.
func holdsAll(a, d alt) bool {
	for _, c := range d {
		found := false
		for _, x := range a {
			if x == c {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// withAlways inserts always(index) into a, which compares no argument index, in order.
func withAlways(a alt, index uint) alt {
	out := make(alt, 0, len(a)+1)
	i := 0
	for i < len(a) && a[i].Index < index {
		i++
	}
	out = append(append(append(out, a[:i]...), always(index)), a[i:]...)
	return out
}

// hiNode is the first node libseccomp makes of a comparison: the one on the high word.
type hiNode struct {
	op    string // the node's own comparison: eq, masked_eq or gt
	prio  int    // the level order's rank of the written operator
	datum uint32
	mask  uint32
}

func firstNode(c plan.SeccompArg) hiNode {
	mask := ^uint64(0)
	if c.Op == "masked_eq" {
		mask = c.Mask
	}
	n := hiNode{op: "eq", prio: 3, datum: uint32(c.Value>>32) & uint32(mask>>32), mask: uint32(mask >> 32)}
	switch c.Op {
	case "masked_eq":
		n.op = "masked_eq"
	case "le", "lt":
		n.op, n.prio = "gt", 2
	case "ge", "gt":
		n.op, n.prio = "gt", 1
	}
	return n
}

// before reports whether libseccomp's level order puts node x ahead of y (its
// _db_chain_lt, read the other way: a level runs from its greatest node).
func before(x, y hiNode, xOp string) bool {
	if x.prio != y.prio {
		return x.prio > y.prio
	}
	if xOp == "le" || xOp == "lt" { // smaller bounds first
		return x.datum < y.datum
	}
	return x.datum > y.datum
}

// denyFirst reports whether, where an allow's condition a and a deny's d on the same
// argument part, libseccomp tries d first. Equal nodes are shared (their later levels
// merged), which keeps no order; nodes the order ranks equal keep the order they were
// added in, and policy/seccomp adds a syscall's denies before its allows.
func denyFirst(a, d plan.SeccompArg) bool {
	na, nd := firstNode(a), firstNode(d)
	if na == nd {
		return false
	}
	return !before(na, nd, a.Op)
}

// disjoint reports whether no value satisfies both a and d, which compare one argument;
// false when that is not sure.
func disjoint(a, d plan.SeccompArg) bool {
	if d.Op == "eq" {
		a, d = d, a
	}
	if a.Op == "eq" {
		return !condHolds(d, a.Value)
	}
	if a.Op == "masked_eq" && d.Op == "masked_eq" {
		return (a.Value^d.Value)&a.Mask&d.Mask != 0
	}
	la, ha, oka := bounds(a)
	ld, hd, okd := bounds(d)
	return oka && okd && (la > ha || ld > hd || ha < ld || hd < la)
}

// bounds is the interval of values a range comparison holds for (lo > hi: none); ok
// false for the other operators.
func bounds(c plan.SeccompArg) (lo, hi uint64, ok bool) {
	const max = ^uint64(0)
	switch c.Op {
	case "ge":
		return c.Value, max, true
	case "gt":
		if c.Value == max {
			return 1, 0, true
		}
		return c.Value + 1, max, true
	case "le":
		return 0, c.Value, true
	case "lt":
		if c.Value == 0 {
			return 1, 0, true
		}
		return 0, c.Value - 1, true
	}
	return 0, 0, false
}

// condHolds reports whether value x satisfies c.
func condHolds(c plan.SeccompArg, x uint64) bool {
	switch c.Op {
	case "eq":
		return x == c.Value
	case "ne":
		return x != c.Value
	case "lt":
		return x < c.Value
	case "le":
		return x <= c.Value
	case "gt":
		return x > c.Value
	case "ge":
		return x >= c.Value
	case "masked_eq":
		return x&c.Mask == c.Value
	}
	return false
}
