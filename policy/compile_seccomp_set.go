package policy

import "strings"

// allowSet is the allowed syscalls while seccompRuleSet works them out: an index by
// name into one slice, both sized at once from the allow rules, each syscall with an
// altSet of its own only once it has conditions. A default profile allows about 300
// syscalls, nearly all unconditionally; a map of *altSet growing from empty, with an
// altSet and two slices for each, cost a fresh process about a fifth of the compile
// (its heap's first page faults included).
type allowSet struct {
	index map[string]int32 // name → its entry in sets
	sets  []allowed
}

// allowed is one syscall's entry.
type allowed struct {
	name  string
	state uint8
	set   *altSet // when state is own
}

const (
	unset    uint8 = iota // no alternative yet
	absolute              // allowed unconditionally: one empty alternative
	own                   // its alternatives in set
	removed               // denied
)

// newAllowSet sizes the set for the names the allow rules expand to (repeats counted).
func newAllowSet(allow []SyscallRule, groups map[string][]string) *allowSet {
	n := 0
	for _, r := range allow {
		for _, written := range r.Names {
			n += len(members(written, groups))
		}
	}
	return &allowSet{index: make(map[string]int32, n), sets: make([]allowed, 0, n)}
}

// add allows name under conds (whose altKey is key), as altSet.add does.
func (a *allowSet) add(name string, conds alt, key string) {
	i, ok := a.index[name]
	if !ok {
		i = int32(len(a.sets))
		a.index[name] = i
		a.sets = append(a.sets, allowed{name: name})
	}
	e := &a.sets[i]
	switch {
	case e.state == absolute: // it absorbs the rest
	case len(conds) == 0:
		e.state, e.set = absolute, nil
	default:
		if e.state != own {
			e.state, e.set = own, &altSet{}
		}
		e.set.add(conds, key)
	}
}

// alts is name's altSet, made for one allowed unconditionally, or nil when it is not
// allowed (never, or no longer).
func (a *allowSet) alts(name string) *altSet {
	i, ok := a.index[name]
	if !ok {
		return nil
	}
	e := &a.sets[i]
	if e.state == absolute {
		e.state, e.set = own, &altSet{}
		e.set.add(nil, "")
	}
	return e.set
}

// remove takes name's alternatives away.
func (a *allowSet) remove(name string) {
	if i, ok := a.index[name]; ok {
		a.sets[i] = allowed{name: name, state: removed}
		delete(a.index, name)
	}
}

// live yields each syscall still allowed with its remaining alternatives, in order.
func (a *allowSet) live(yield func(string, []alt) bool) {
	for _, e := range a.sets {
		var alts []alt
		switch e.state {
		case absolute:
			alts = unconditional
		case own:
			alts = make([]alt, 0, e.set.live)
			for j, c := range e.set.alts {
				if !e.set.gone[j] {
					alts = append(alts, c)
				}
			}
		default:
			continue
		}
		if !yield(e.name, alts) {
			return
		}
	}
}

// unconditional is the alternatives of a syscall allowed unconditionally, shared: the
// rules only read it.
var unconditional = []alt{{}}

// members is the syscalls a written name stands for: a @group's members, or itself.
func members(written string, groups map[string][]string) []string {
	if strings.HasPrefix(written, "@") {
		return groups[written]
	}
	return []string{written}
}
