package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/seccomp"
)

// alt is one set of argument conditions under which a syscall is allowed; all must hold.
// An empty alt allows the syscall unconditionally.
type alt []plan.SeccompArg

// compileSeccomp builds the seccomp rules and program, loaded by loadSeccompBPF
// (sandbox/seccomp_linux.go). Allow rules become ALLOW; a deny without arguments removes
// the syscall (or, naming an errno, returns it); a deny with arguments becomes an ERRNO
// rule of its own (EACCES unless it names an errno: libseccomp refuses a rule whose action
// equals the default). libseccomp drops a conditional rule that an unconditional one on
// the same syscall covers, so an unconditional allow of a syscall with argument denies is
// written as "argument 0 >= 0", which holds for every value; the more specific deny is
// then matched first. policy/seccomp_test.go runs the programs to hold libseccomp to this.
func compileSeccomp(c *Component, cp *plan.Component, programs map[string][]byte) error {
	groups, err := syscallGroups()
	if err != nil {
		return err
	}
	allowed := map[string]*altSet{}
	errnoOf := map[string]int{}
	for _, r := range c.Syscalls.Allow {
		conds := argConds(r.Args)
		key := altKey(conds)
		for _, name := range expandNames(r.Names, groups) {
			if allowed[name] == nil {
				allowed[name] = &altSet{keys: map[string][]int{}}
			}
			allowed[name].add(conds, key)
		}
	}
	// Argument denies, one per syscall and conditions: a profile merged twice repeats
	// its denies, and a later layer's errno replaces an earlier one's.
	var denies []plan.SeccompRule
	denyErrno := map[string]int{}
	denied := map[string]plan.SeccompDeny{}
	for _, r := range c.Syscalls.Deny {
		conds := argConds(r.Args)
		condKey := altKey(conds)
		errno := errnos[or(r.Errno, "EACCES")]
		for _, written := range r.Names {
			why := c.origin("syscalls.deny", written+"/"+condKey) // denyKey(written, conds)
			for _, name := range expandNames([]string{written}, groups) {
				denied[name+"/"+condKey] = plan.SeccompDeny{Syscall: name, Why: why, Args: len(conds) > 0}
			}
		}
		for _, name := range expandNames(r.Names, groups) {
			if len(conds) == 0 {
				delete(allowed, name)
				if r.Errno != "" {
					errnoOf[name] = errno
				}
				continue
			}
			key := name + "/" + condKey
			if _, seen := denyErrno[key]; !seen {
				denies = append(denies, plan.SeccompRule{Syscalls: []string{name}, Action: "errno", Args: conds})
			}
			denyErrno[key] = errno
		}
	}
	kept := denies[:0]
	for _, d := range denies {
		name := d.Syscalls[0]
		key := altKey(d.Args)
		d.Errno = denyErrno[name+"/"+key]
		// A deny with the very conditions of an allow takes that allow back; a deny of
		// a syscall no longer allowed adds nothing to the default.
		set := allowed[name]
		if set == nil || set.remove(key) == 0 {
			delete(allowed, name)
			continue
		}
		set.compareArg0()
		kept = append(kept, d)
	}
	s := plan.Seccomp{DefaultAction: violationActions[or(c.Syscalls.OnViolation, "errno")]}
	if s.DefaultAction == "errno" {
		s.DefaultErrno = defaultErrno
	}
	if s.Arch, err = seccomp.NativeArch(); err != nil {
		return err
	}
	s.Rules = seccompRules(liveAlts(allowed), kept, errnoOf)
	for _, k := range slices.Sorted(maps.Keys(denied)) {
		s.Denies = append(s.Denies, denied[k])
	}
	// Components of a stack mostly share their syscall policy: build each program once.
	key := fmt.Sprintf("%s/%d/%v", s.DefaultAction, s.DefaultErrno, s.Rules)
	if s.Program = programs[key]; s.Program == nil {
		if s.Program, err = seccomp.Build(&s); err != nil {
			return err
		}
		programs[key] = s.Program
	}
	sum := sha256.Sum256(s.Program)
	s.ProgramSHA256 = hex.EncodeToString(sum[:])
	cp.Seccomp = s
	return nil
}

// expandNames replaces @groups by their members.
func expandNames(names []string, groups map[string][]string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "@") {
			out = append(out, groups[n]...)
		} else {
			out = append(out, n)
		}
	}
	return out
}

func argConds(args []ArgCond) alt {
	out := alt{}
	for _, a := range args {
		out = append(out, plan.SeccompArg{Index: uint(a.Index), Op: a.Op, Value: a.value.v, Mask: a.mask.v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func altKey(a alt) string {
	var b strings.Builder
	for _, c := range a {
		fmt.Fprintf(&b, "%d%s%x/%x;", c.Index, c.Op, c.Value, c.Mask)
	}
	return b.String()
}

// seccompRules orders the rules deterministically: one rule for every unconditional
// allow, then conditional allows and argument denies by syscall, then errno rules by errno.
func seccompRules(allowed map[string][]alt, denies []plan.SeccompRule, errnoOf map[string]int) []plan.SeccompRule {
	var plain []string
	var conditional []plan.SeccompRule
	for name, alts := range allowed {
		if len(alts) == 1 && len(alts[0]) == 0 {
			plain = append(plain, name)
			continue
		}
		for _, a := range alts {
			conditional = append(conditional, plan.SeccompRule{Syscalls: []string{name}, Action: "allow", Args: a})
		}
	}
	sort.Strings(plain)
	conditional = append(conditional, denies...)
	keyed := make([]keyedRule, len(conditional))
	for i, r := range conditional {
		keyed[i] = keyedRule{r, altKey(r.Args)}
	}
	sort.SliceStable(keyed, func(i, j int) bool {
		a, b := keyed[i], keyed[j]
		if a.Syscalls[0] != b.Syscalls[0] {
			return a.Syscalls[0] < b.Syscalls[0]
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		return a.key < b.key
	})
	rules := []plan.SeccompRule{}
	if len(plain) > 0 {
		rules = append(rules, plan.SeccompRule{Syscalls: plain, Action: "allow"})
	}
	for _, r := range keyed {
		rules = append(rules, r.SeccompRule)
	}
	byErrno := map[int][]string{}
	for name, e := range errnoOf {
		byErrno[e] = append(byErrno[e], name)
	}
	var codes []int
	for e := range byErrno {
		codes = append(codes, e)
	}
	sort.Ints(codes)
	for _, e := range codes {
		names := byErrno[e]
		sort.Strings(names)
		rules = append(rules, plan.SeccompRule{Syscalls: names, Action: "errno", Errno: e})
	}
	return rules
}

// BaselineSyscalls is the set of syscalls the default profile allows (under some
// arguments): what reports measure a component's syscall allowlist against.
func BaselineSyscalls() (map[string]bool, error) {
	var errs ErrorList
	p := loadProfile("default", Pos{}, "", &errs)
	if p == nil {
		return nil, errs.Err()
	}
	groups, err := syscallGroups()
	if err != nil {
		return nil, err
	}
	base := resolve(p, []string{"default"}, &errs)
	out := map[string]bool{}
	for _, r := range base.Syscalls.Allow {
		for _, name := range expandNames(r.Names, groups) {
			out[name] = true
		}
	}
	for _, r := range base.Syscalls.Deny {
		if len(r.Args) == 0 {
			for _, name := range expandNames(r.Names, groups) {
				delete(out, name)
			}
		}
	}
	return out, errs.Err()
}

// keyedRule is a rule with its conditions' altKey, computed once for sorting.
type keyedRule struct {
	plan.SeccompRule
	key string
}

// altSet is one syscall's allowed alternatives, in the order first allowed, indexed by
// altKey so that adding or taking back an alternative does not rescan the others.
type altSet struct {
	alts     []alt
	gone     []bool           // alternatives a deny took back
	keys     map[string][]int // altKey → indexes of the live alternatives with it
	live     int
	widened  bool // compareArg0 has run
	absolute bool // an unconditional alternative absorbed the rest
}

// add adds conds (whose altKey is key); an unconditional alt absorbs the rest.
func (s *altSet) add(conds alt, key string) {
	if s.absolute || len(s.keys[key]) > 0 {
		return
	}
	if len(conds) == 0 {
		*s = altSet{keys: map[string][]int{}, absolute: true}
	}
	s.keys[key] = append(s.keys[key], len(s.alts))
	s.alts = append(s.alts, conds)
	s.gone = append(s.gone, false)
	s.live++
}

// remove takes back the alternatives whose altKey is key, returning how many are left.
func (s *altSet) remove(key string) int {
	for _, i := range s.keys[key] {
		s.gone[i] = true
		s.live--
	}
	delete(s.keys, key)
	return s.live
}

// compareArg0 makes every alternative compare argument 0: libseccomp 2.5 tries a deny
// before an allow only when the allow's first compared argument comes no later than the
// deny's, so every allow of a syscall with argument denies compares argument 0, with
// "arg0 >= 0" if it did not already. Afterwards every alternative starts with argument
// 0, so a second call changes nothing.
func (s *altSet) compareArg0() {
	if s.widened {
		return
	}
	s.widened, s.absolute = true, false
	s.keys = map[string][]int{}
	for i, a := range s.alts {
		if s.gone[i] {
			continue
		}
		if len(a) == 0 || a[0].Index != 0 {
			s.alts[i] = append(alt{{Index: 0, Op: "ge", Value: 0}}, a...)
		}
		k := altKey(s.alts[i])
		s.keys[k] = append(s.keys[k], i)
	}
}

// liveAlts lists each syscall's remaining alternatives, in order.
func liveAlts(allowed map[string]*altSet) map[string][]alt {
	out := make(map[string][]alt, len(allowed))
	for name, s := range allowed {
		alts := make([]alt, 0, s.live)
		for i, a := range s.alts {
			if !s.gone[i] {
				alts = append(alts, a)
			}
		}
		out[name] = alts
	}
	return out
}
