package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/seccomp"
)

// seccompShapes refuses the argument rules libseccomp 2.5 cannot build as written
// (seccomp.Mixes: it never finishes, drops a deny or lets an allow through), at the
// file's rule that takes part, before anything is built. It works out the effective
// policy's rules as compile does and keeps them for it.
func (v *validator) seccompShapes(eff *Component) {
	groups, err := syscallGroups()
	if err != nil {
		return // syscallRule reported it
	}
	for _, e := range *v.errs {
		if e.Pos.File == v.c.File && strings.HasPrefix(e.Path, "syscalls") {
			return // a value not read is no shape to judge
		}
	}
	eff.rulesKey = syscallsKey(eff.Syscalls)
	set := v.ruleSets[eff.rulesKey]
	if set == nil {
		set = &ruleSet{rules: seccompRuleSet(eff.Syscalls, groups)}
		if v.ruleSets != nil {
			v.ruleSets[eff.rulesKey] = set
		}
	}
	eff.rules = set.rules
	if set.clean || argConditions(eff.rules) > maxArgConditions {
		return // checked for another member; or compile refuses them all (the pairs below grow with the square)
	}
	before := len(*v.errs)
	defer func() { set.clean = len(*v.errs) == before }()
	bySyscall := map[string][]plan.SeccompRule{}
	for _, r := range eff.rules {
		if len(r.Args) > 0 && len(r.Syscalls) == 1 {
			bySyscall[r.Syscalls[0]] = append(bySyscall[r.Syscalls[0]], r)
		}
	}
	reported := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(bySyscall)) {
		rules := bySyscall[name]
		for i, a := range rules {
			for j, b := range rules {
				if i == j || a.Action != "allow" && b.Action == "allow" {
					continue
				}
				pair := seccomp.SameAction
				switch {
				case a.Action == "allow" && b.Action != "allow":
					pair = seccomp.AllowDeny
				case a.Action != "allow" && a.Errno != b.Errno:
					if holdsAll(b.Args, a.Args) { // b's calls all match a
						v.twoErrnos(eff, name, a, b, reported)
						continue
					}
					pair = seccomp.TwoErrnos
				}
				if x, y, bad := seccomp.Mixes(a.Args, b.Args, pair); bad {
					v.mixed(eff, name, a, b, x, y, reported)
				}
			}
		}
	}
}

// ruleSet is one syscalls section's rules, worked out once for the members that share it;
// clean once they were found to hold no pair seccompShapes refuses (the errors of one that
// does are reported for each file, at its own rules).
type ruleSet struct {
	rules []plan.SeccompRule
	clean bool
}

// mixed reports the pair a, b of rules of syscall name once, at b's rule of the file
// (the deny of an allow and a deny), else at a's, naming the other.
func (v *validator) mixed(eff *Component, name string, a, b plan.SeccompRule, x, y plan.SeccompArg, reported map[string]bool) {
	field, other := v.ruleField(eff, name, b), v.ruleField(eff, name, a)
	here, there, hr, tr := y, x, b, a
	if !v.own(field) {
		field, other, here, there, hr, tr = other, field, x, y, a, b
	}
	if !v.own(field) {
		field = "syscalls"
	}
	if reported[field+" "+other] || reported[other+" "+field] {
		return
	}
	reported[field+" "+other] = true
	note, advice := "", fmt.Sprintf("compare argument %d in only one of them, or rewrite them so that no call matches both", x.Index)
	for _, side := range []struct {
		r    plan.SeccompRule
		c    plan.SeccompArg
		text string
	}{{hr, here, "here"}, {tr, there, "there"}} {
		if v.added(eff, name, side.r, side.c) {
			note = fmt.Sprintf(": confine adds the one %s to the allow, true for every value, so that libseccomp tries the deny first", side.text)
			advice = fmt.Sprintf("write the deny's comparison of argument %d with eq or masked_eq, or compare argument %d in the allow with eq (the values it allows)", x.Index, x.Index)
		}
	}
	v.add(field, "libseccomp 2.5 cannot build this rule of %s beside the one at %s: both compare argument %d (%s here, %s there%s) in a way it does not keep apart: it may never finish building, or decide one rule's calls by the other's action or conditions; %s",
		name, other, x.Index, condText(here), condText(there), note, advice)
}

// added reports whether condition c of rule r (of syscall name) is the always-true
// "argN >= 0" widening added to an allow, which no allow of the file holds.
func (v *validator) added(eff *Component, name string, r plan.SeccompRule, c plan.SeccompArg) bool {
	if r.Action != "allow" || c != seccomp.Always(c.Index) {
		return false
	}
	groups, _ := syscallGroups()
	for _, w := range eff.Syscalls.Allow {
		if slices.Contains(members1(w.Names, groups), name) && slices.Contains(argConds(w.Args), c) {
			return false // written so
		}
	}
	return true
}

// twoErrnos reports deny b, all of whose calls deny a matches, returning another errno.
func (v *validator) twoErrnos(eff *Component, name string, a, b plan.SeccompRule, reported map[string]bool) {
	field, other := v.ruleField(eff, name, b), v.ruleField(eff, name, a)
	here, there := b.Errno, a.Errno
	if !v.own(field) {
		field, other, here, there = other, field, there, here
	}
	if !v.own(field) {
		field = "syscalls"
	}
	if reported[field+" "+other] || reported[other+" "+field] {
		return
	}
	reported[field+" "+other] = true
	v.add(field, "this deny of %s and the one at %s both match some calls (one matches every call the other does) with different errnos (%s here, %s there): libseccomp 2.5 keeps one rule's errno for them; give them one errno, or leave the narrower out",
		name, other, errnoName(here), errnoName(there))
}

// errnoName is the name of errno n as a policy writes it.
func errnoName(n int) string {
	for name, v := range errnos {
		if v == n {
			return name
		}
	}
	return fmt.Sprint(n)
}

// own reports whether field names a rule of the file itself.
func (v *validator) own(field string) bool { return strings.HasPrefix(field, "syscalls.") }

// ruleField names the rule of eff that r (of syscall name, as seccompRuleSet wrote it)
// comes from: its conditions, less the always-true ones widening added. It names a
// profile's rule by where it comes from.
func (v *validator) ruleField(eff *Component, name string, r plan.SeccompRule) string {
	kind, list, own := "allow", eff.Syscalls.Allow, len(v.c.Syscalls.Allow)
	if r.Action != "allow" {
		kind, list, own = "deny", eff.Syscalls.Deny, len(v.c.Syscalls.Deny)
	}
	groups, _ := syscallGroups()
	for i := len(list) - 1; i >= 0; i-- {
		w := list[i]
		conds := argConds(w.Args)
		if !slices.Contains(members1(w.Names, groups), name) || !fromWritten(r.Args, conds) {
			continue
		}
		if j := i - (len(list) - own); j >= 0 {
			return fmt.Sprintf("syscalls.%s[%d]", kind, j)
		}
		if len(conds) == 0 {
			return fmt.Sprintf("%s rule of the profiles extended (%s, without conditions)", article(kind), name)
		}
		return fmt.Sprintf("%s rule of the profiles extended (%s {%s})", article(kind), name, altText(conds))
	}
	return fmt.Sprintf("%s rule of %s", article(kind), name)
}

// article is "an allow" or "a deny".
func article(kind string) string {
	if kind == "allow" {
		return "an allow"
	}
	return "a deny"
}

// fromWritten reports whether got is written with always-true conditions added.
func fromWritten(got, written alt) bool {
	if !holdsAll(got, written) {
		return false
	}
	for _, c := range got {
		if !slices.Contains(written, c) && c != seccomp.Always(c.Index) {
			return false
		}
	}
	return true
}

func members1(names []string, groups map[string][]string) []string {
	var out []string
	for _, n := range names {
		out = append(out, members(n, groups)...)
	}
	return out
}

func condText(c plan.SeccompArg) string {
	if c.Op == "masked_eq" {
		return fmt.Sprintf("arg%d & %#x == %#x", c.Index, c.Mask, c.Value)
	}
	return fmt.Sprintf("arg%d %s %#x", c.Index, c.Op, c.Value)
}

func altText(a alt) string {
	var s []string
	for _, c := range a {
		s = append(s, condText(c))
	}
	return strings.Join(s, ", ")
}
