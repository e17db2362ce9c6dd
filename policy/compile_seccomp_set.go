package policy

import "strings"

// allowSet is the allowed syscalls while seccompRuleSet works them out, each with its
// alternatives: an index by name into one slice of altSets, both sized at once from the
// allow rules. A default profile allows about 300 syscalls, nearly all unconditionally;
// a map of *altSet growing from empty, an altSet and two slices each, cost a fresh
// process about a fifth of the whole compile (its heap's first page faults included).
type allowSet struct {
	index map[string]int32 // name → its set in sets
	sets  []namedAlts
}

type namedAlts struct {
	name string
	altSet
}

// newAllowSet sizes the set for the names the allow rules expand to (repeats counted).
func newAllowSet(allow []SyscallRule, groups map[string][]string) *allowSet {
	n := 0
	for _, r := range allow {
		for _, written := range r.Names {
			n += len(members(written, groups))
		}
	}
	return &allowSet{index: make(map[string]int32, n), sets: make([]namedAlts, 0, n)}
}

// at is name's set, added empty if it has none. The pointer holds until the next at.
func (a *allowSet) at(name string) *altSet {
	i, ok := a.index[name]
	if !ok {
		i = int32(len(a.sets))
		a.index[name] = i
		a.sets = append(a.sets, namedAlts{name: name})
	}
	return &a.sets[i].altSet
}

// lookup is name's set, or nil when it has none (never allowed, or removed).
func (a *allowSet) lookup(name string) *altSet {
	if i, ok := a.index[name]; ok {
		return &a.sets[i].altSet
	}
	return nil
}

// remove takes name's set away.
func (a *allowSet) remove(name string) {
	if i, ok := a.index[name]; ok {
		a.sets[i].live = 0
		delete(a.index, name)
	}
}

// live lists each syscall still allowed with its remaining alternatives, in order; an
// unconditional one shares one alternative list.
func (a *allowSet) live() []syscallAlts {
	out := make([]syscallAlts, 0, len(a.index))
	for i := range a.sets {
		s := &a.sets[i]
		if s.live == 0 {
			continue
		}
		if s.absolute {
			out = append(out, syscallAlts{s.name, unconditional})
			continue
		}
		alts := make([]alt, 0, s.live)
		for j, c := range s.alts {
			if !s.gone[j] {
				alts = append(alts, c)
			}
		}
		out = append(out, syscallAlts{s.name, alts})
	}
	return out
}

// syscallAlts is one allowed syscall and its alternatives.
type syscallAlts struct {
	name string
	alts []alt
}

// members is the syscalls a written name stands for: a @group's members, or itself.
func members(written string, groups map[string][]string) []string {
	if strings.HasPrefix(written, "@") {
		return groups[written]
	}
	return []string{written}
}
