package learn

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/confine-sandbox/confine/policy"
)

// MaxValues is how many distinct values of a flag-like argument (argIndex) a syscall may
// have been seen with for the learned policy to allow those values only; with more, or
// with a call seen without its arguments, the syscall is allowed whatever they are.
const MaxValues = 4

// cloneNoNamespaces is the default profile's condition on clone: no CLONE_NEW* flag.
const cloneNoNamespaces = "CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET"

// namespaceFlags is cloneNoNamespaces' value.
const namespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

// syscallEntry is one syscalls.allow entry: a name or @group alone, or one syscall with
// one argument condition.
type syscallEntry struct {
	name string
	cond *argCond
	note string
}

type argCond struct {
	index       int
	op          string
	mask, value string
}

// key orders entries: groups, then names, each with its conditions after it.
func (e syscallEntry) key() string {
	k := e.name
	if !strings.HasPrefix(k, "@") {
		k = "~" + k // after the groups
	}
	if e.cond != nil {
		k += fmt.Sprintf("\x00%d\x00%020s", e.cond.index, e.cond.value)
	}
	return k
}

// sysNeed is one syscall the learned policy allows: seen (count), granted by the run's
// policy, or folded in from an earlier policy.
type sysNeed struct {
	count                   int
	granted, older, profile bool
}

// foldSyscalls turns the seen calls (and the names granted or folded in, allowed whatever
// their arguments) into allow entries: whole groups by their name, a flag-like argument
// restricted to the values seen where they are few, the rest by name.
// Names the learned profile allows (profile) complete groups but are not listed again.
func foldSyscalls(calls map[string]*Call, granted, older, profile []string) []syscallEntry {
	plain := map[string]*sysNeed{}
	var out []syscallEntry
	get := func(name string) *sysNeed {
		if plain[name] == nil {
			plain[name] = &sysNeed{}
		}
		return plain[name]
	}
	for _, n := range granted {
		get(n).granted = true
	}
	for _, n := range older {
		get(n).older = true
	}
	for _, n := range profile {
		get(n).profile = true
	}
	merged := map[string]*Call{}
	for name, c := range calls {
		target := name
		if name == "clone3" {
			target = "clone" // the learned profile refuses clone3 with ENOSYS; callers fall back to clone
		}
		m := merged[target]
		if m == nil {
			m = &Call{Index: -1, Values: map[uint64]int{}}
			if i, ok := argIndex[target]; ok {
				m.Index = i
			}
			merged[target] = m
		}
		m.Count = add(m.Count, c.Count)
		if name == "clone3" {
			continue // its argument is a pointer to the flags
		}
		m.NoArgs = m.NoArgs || c.NoArgs
		for v, n := range c.Values {
			m.Values[v] = add(m.Values[v], n)
		}
	}
	for _, name := range sortedKeys(merged) {
		c := merged[name]
		if p := plain[name]; p != nil {
			p.count = add(p.count, c.Count) // allowed whatever the arguments already
			continue
		}
		if conds := conditions(name, c); conds != nil {
			out = append(out, conds...)
			continue
		}
		get(name).count = c.Count
	}
	out = append(out, groupEntries(plain)...)
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// conditions returns the argument-restricted entries of a call, or nil when it is to be
// allowed whatever its arguments.
func conditions(name string, c *Call) []syscallEntry {
	if name == "clone" {
		for v := range c.Values {
			if v&namespaceFlags != 0 {
				return valueEntries(name, c)
			}
		}
		return []syscallEntry{{name: name, note: calls1(c.Count) + "; without CLONE_NEW* flags, as the default profile allows it",
			cond: &argCond{index: 0, op: "masked_eq", mask: cloneNoNamespaces, value: "0"}}}
	}
	if _, ok := argIndex[name]; !ok || c.NoArgs {
		return nil
	}
	return valueEntries(name, c)
}

func valueEntries(name string, c *Call) []syscallEntry {
	if c.NoArgs || len(c.Values) == 0 || len(c.Values) > MaxValues {
		return nil
	}
	var out []syscallEntry
	for _, v := range sortedValues(c.Values) {
		out = append(out, syscallEntry{name: name, note: fmt.Sprintf("%s with argument %d = %s", calls1(c.Values[v]), c.Index, hex(v)),
			cond: &argCond{index: argIndex[name], op: "masked_eq", mask: "0xffffffff", value: hex(v & 0xffffffff)}})
	}
	return out
}

// groupEntries names every group whose syscalls were all allowed by name, unless a
// larger such group holds it, and the remaining syscalls one by one.
func groupEntries(plain map[string]*sysNeed) []syscallEntry {
	var whole [][]string
	var names []string
	for _, g := range policy.GroupNames() {
		members := policy.GroupMembers(g)
		if len(members) < 2 || !allIn(members, plain) {
			continue
		}
		whole = append(whole, members)
		names = append(names, g)
	}
	covered := map[string]bool{}
	var out []syscallEntry
	for i, g := range names {
		if heldByLarger(i, whole) {
			continue
		}
		calls, seen := 0, 0
		for _, m := range whole[i] {
			covered[m] = true
			if plain[m].count > 0 {
				calls, seen = add(calls, plain[m].count), seen+1
			}
		}
		note := fmt.Sprintf("all %d used: %d seen, %s", len(whole[i]), seen, calls1(calls))
		if seen == 0 {
			note = fmt.Sprintf("all %d allowed before (granted, or from the merged policy)", len(whole[i]))
		}
		out = append(out, syscallEntry{name: g, note: note})
	}
	for _, n := range sortedKeys(plain) {
		p := plain[n]
		if covered[n] || p.profile && !p.granted && !p.older {
			continue
		}
		var note []string
		if p.count > 0 {
			note = append(note, calls1(p.count))
		}
		if p.granted {
			note = append(note, "granted by the run's policy")
		}
		if p.older {
			note = append(note, "from the merged policy")
		}
		out = append(out, syscallEntry{name: n, note: strings.Join(note, "; ")})
	}
	return out
}

func allIn(members []string, plain map[string]*sysNeed) bool {
	for _, m := range members {
		if plain[m] == nil {
			return false
		}
	}
	return true
}

// heldByLarger reports whether group i's members are all in a larger group of whole (or
// an equal one listed earlier).
func heldByLarger(i int, whole [][]string) bool {
	for j, other := range whole {
		if j == i || len(other) < len(whole[i]) || len(other) == len(whole[i]) && j > i {
			continue
		}
		all := true
		for _, m := range whole[i] {
			if !slices.Contains(other, m) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func sortedValues(m map[uint64]int) []uint64 {
	vs := make([]uint64, 0, len(m))
	for v := range m {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func hex(v uint64) string {
	if v < 10 {
		return strconv.FormatUint(v, 10)
	}
	return "0x" + strconv.FormatUint(v, 16)
}

func calls1(n int) string {
	if n == 1 {
		return "1 call"
	}
	return fmt.Sprintf("%d calls", n)
}
