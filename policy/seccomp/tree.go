package seccomp

import (
	"slices"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// This file holds what confine knows of libseccomp 2.5's rule tree, without cgo: policy
// widens allows and validate refuses rule sets by it, and Build orders its rules by it.

// libseccomp 2.5 builds one tree of comparisons per syscall: each level a list of
// alternatives sorted by its own order (argument, then operator, then value), each
// 64-bit comparison split into nodes on the high and the low word, rules with equal
// nodes sharing them, and the first rule whose nodes all hold deciding. Nothing in it
// makes a deny win over an allow it overlaps: the deny wins only where the two rules
// part at a level on which the deny's node comes first. The functions here tell where
// two sets of conditions part and in which order libseccomp tries them there.

// Always is a comparison that holds for every value of argument index.
func Always(index uint) plan.SeccompArg { return plan.SeccompArg{Index: index, Op: "ge", Value: 0} }

// Parting is the first position at which a and b (each sorted by argument) differ.
func Parting(a, b []plan.SeccompArg) int {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	return p
}

// node is one of the nodes libseccomp makes of a comparison: eq and masked_eq compare
// the high word, then the low one; the others test high >, then high ==, then the low
// word. Nodes with equal op, datum and mask are shared between rules; which comes
// first on a level is decided by the written operator's rank and the datum.
type node struct {
	op    string // the node's own test: eq, masked_eq, gt or ge
	datum uint32
	mask  uint32
}

func nodes(c plan.SeccompArg) []node {
	ns, n := nodeArray(c)
	return ns[:n]
}

// nodeArray is nodes without an allocation: the nodes and how many.
func nodeArray(c plan.SeccompArg) (ns [3]node, n int) {
	mask := ^uint64(0)
	if c.Op == "masked_eq" {
		mask = c.Mask
	}
	hi := node{"eq", uint32(c.Value>>32) & uint32(mask>>32), uint32(mask >> 32)}
	lo := node{"eq", uint32(c.Value) & uint32(mask), uint32(mask)}
	switch c.Op {
	case "masked_eq":
		hi.op, lo.op = "masked_eq", "masked_eq"
	case "ge", "gt", "le", "lt":
		lo.op = "gt"
		if c.Op == "ge" || c.Op == "lt" {
			lo.op = "ge"
		}
		return [3]node{{"gt", hi.datum, hi.mask}, hi, lo}, 3
	}
	return [3]node{hi, lo}, 2
}

// rank is the level order's rank of a written operator: higher first.
func rank(op string) int {
	switch op {
	case "le", "lt":
		return 2
	case "ge", "gt":
		return 1
	}
	return 3
}

// ahead reports whether libseccomp puts x's node n ahead of y's node m on a level
// (its _db_chain_lt, read the other way: a level runs from its greatest node).
func ahead(x, y plan.SeccompArg, n, m node) bool {
	if rank(x.Op) != rank(y.Op) {
		return rank(x.Op) > rank(y.Op)
	}
	if x.Op == "le" || x.Op == "lt" { // smaller bounds first
		return n.datum < m.datum
	}
	return n.datum > m.datum
}

// forks reports whether any of conds is a range or ne, after which the next level is
// reached from two nodes.
func forks(conds []plan.SeccompArg) bool {
	return slices.ContainsFunc(conds, func(c plan.SeccompArg) bool { return branches(c.Op) })
}

// branches reports whether a comparison's later conditions hang from two of its nodes
// (a range's "high >" and its low word; ne's two "==" on their false side): libseccomp
// then merges another rule's later conditions that share the first node into both.
func branches(op string) bool { return op != "eq" && op != "masked_eq" }

// Mixes reports whether libseccomp 2.5 may build rules with conditions a and b of one
// syscall wrongly, and the conditions to blame:
// where they part comparing one argument, or a pair of twins. Found by reading libseccomp 2.5.4's db.c and gen_bpf.c and by building random
// rule sets (policy/seccomp_shapes_test.go):
//   - they share the first node, and one's later conditions hang from it: each rule's
//     later conditions then stand for the other's comparison too;
//   - an allow and a deny share a range's first node: one action is kept for both
//     (only the always-true "argument >= 0" beside a lower bound keeps the deny's);
//   - the rule tried first there is a range or ne: its test of the low word falls
//     through to the other's test of the high word without reloading the word, unless
//     that test is the always-true "argument >= 0", which holds either way;
//   - an allow tried before a deny that can hold with it, or sharing all its nodes;
//   - an allow whose node comes ahead of a deny's on a level two nodes lead to (their
//     shared conditions hold a range or ne): added after the deny, it would make
//     libseccomp loop forever (see addOrder);
//   - anywhere, twins (see twins): libseccomp dropped a deny "arg1 > 9, arg2 != 0" as
//     covered by another deny "arg2 == 0".
func Mixes(a, b []plan.SeccompArg, pair Pair) (x, y plan.SeccompArg, bad bool) {
	if x, y, ok := twins(a, b); ok {
		return x, y, true
	}
	p := Parting(a, b)
	if p == len(a) || p == len(b) || a[p].Index != b[p].Index {
		return x, y, false
	}
	x, y = a[p], b[p]
	return x, y, mixesAt(a, b, p, pair)
}

// Pair says what two rules of one syscall do, for Mixes.
type Pair int

const (
	SameAction Pair = iota // two allows, or two denies with one errno
	AllowDeny              // a is an allow, b a deny
	TwoErrnos              // two denies with different errnos
)

// twins finds a condition of a and one of b on the same argument that differ but make
// the same nodes (eq and ne of one value, gt and le, ge and lt): libseccomp takes one
// for the other when it prunes rules another covers.
func twins(a, b []plan.SeccompArg) (x, y plan.SeccompArg, ok bool) {
	for _, x := range a {
		for _, y := range b {
			if x.Index != y.Index || x == y {
				continue
			}
			nx, n := nodeArray(x)
			if ny, m := nodeArray(y); n == m && nx == ny {
				return x, y, true
			}
		}
	}
	return x, y, false
}

// mixesAt is Mixes where a and b part, at p, both comparing one argument.
func mixesAt(a, b []plan.SeccompArg, p int, pair Pair) bool {
	allowDeny := pair == AllowDeny
	x, y := a[p], b[p]
	nx, ny := nodes(x), nodes(y)
	if allowDeny && forks(a[:p]) && ahead(x, y, nx[0], ny[0]) {
		return true
	}
	k := 0
	for k < len(nx) && k < len(ny) && nx[k] == ny[k] {
		k++
	}
	if k > 0 && (branches(x.Op) && p < len(a)-1 || branches(y.Op) && p < len(b)-1) {
		return true
	}
	if pair != SameAction && k > 0 && (branches(x.Op) || branches(y.Op)) {
		return !(allowDeny && x == Always(x.Index) && (y.Op == "ge" || y.Op == "gt") && p == len(a)-1 && p == len(b)-1)
	}
	if k == 0 {
		// Nodes ranked equal keep the order they were added in, which a third rule
		// sharing one of them decides: either may come first.
		xFirst, yFirst := !ahead(y, x, ny[0], nx[0]), !ahead(x, y, nx[0], ny[0])
		if yFirst && branches(y.Op) && x != Always(x.Index) || xFirst && branches(x.Op) && y != Always(y.Index) {
			return true
		}
		return allowDeny && xFirst && !disjoint(x, y)
	}
	if pair == SameAction || disjoint(x, y) {
		return false
	}
	return k == len(nx) || k == len(ny) || allowDeny && !ahead(y, x, ny[k], nx[k])
}

// disjoint reports whether no value satisfies both a and d, which compare one argument;
// false when that is not sure.
func disjoint(a, d plan.SeccompArg) bool {
	if d.Op == "eq" {
		a, d = d, a
	}
	if a.Op == "eq" {
		return !CondHolds(d, a.Value)
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

// CondHolds reports whether value x satisfies c.
func CondHolds(c plan.SeccompArg, x uint64) bool {
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

// addOrder is the order Build hands rules to libseccomp: the rules that name one syscall
// with conditions (how policy writes every conditional rule) grouped by syscall, its
// denies before its allows (the order in which the shapes Mixes lets through build), each
// group from its greatest chain of nodes down. A rule libseccomp adds whose node comes
// ahead of the first node of a level two nodes lead to (after a range or ne with more
// conditions) is linked in through one of them only, and the next rule added through
// the other loops forever (libseccomp 2.5.4's _db_tree_add); in this order no node
// comes ahead of one already on its level. The rules keep their places otherwise.
func addOrder(rules []plan.SeccompRule) []plan.SeccompRule {
	var idx []int
	for i, r := range rules {
		if len(r.Syscalls) == 1 && len(r.Args) > 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) < 2 {
		return rules
	}
	sorted := make([]plan.SeccompRule, len(idx))
	for i, j := range idx {
		sorted[i] = rules[j]
	}
	sort.SliceStable(sorted, func(i, j int) bool { return addsBefore(sorted[i], sorted[j]) })
	out := slices.Clone(rules)
	for i, j := range idx {
		out[j] = sorted[i]
	}
	return out
}

func addsBefore(a, b plan.SeccompRule) bool {
	if a.Syscalls[0] != b.Syscalls[0] {
		return a.Syscalls[0] < b.Syscalls[0]
	}
	if (a.Action == "allow") != (b.Action == "allow") {
		return b.Action == "allow"
	}
	return chainAhead(a.Args, b.Args)
}

// chainAhead reports whether a's chain of nodes is greater than b's in libseccomp's
// level order, node by node; a longer chain first where one is the other's start.
func chainAhead(a, b []plan.SeccompArg) bool {
	for p := 0; p < len(a) && p < len(b); p++ {
		x, y := a[p], b[p]
		if x.Index != y.Index {
			return x.Index > y.Index
		}
		nx, ny := nodes(x), nodes(y)
		for k := 0; k < len(nx) && k < len(ny); k++ {
			if nx[k] != ny[k] {
				return ahead(x, y, nx[k], ny[k])
			}
		}
		if len(nx) != len(ny) || x != y {
			return rank(x.Op) > rank(y.Op) || rank(x.Op) == rank(y.Op) && x.Op > y.Op
		}
	}
	return len(a) > len(b)
}
