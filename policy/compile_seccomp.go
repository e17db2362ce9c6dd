package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sort"
	"strconv"
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
// the same syscall covers, and tries a syscall's rules in its own order, so the allows of
// a syscall with argument denies are widened with "argument >= 0", which holds for every
// value, until each deny is matched first (altSet.widen); validate refuses what is left
// that libseccomp cannot build (seccomp.Mixes). policy/seccomp_test.go,
// seccomp_shapes_linux_test.go and seccomp_shapes_test.go run the programs to hold
// libseccomp to this.
func compileSeccomp(c *Component, cp *plan.Component, cache *seccompCache) error {
	groups, err := syscallGroups()
	if err != nil {
		return err
	}
	s := plan.Seccomp{DefaultAction: violationActions[or(c.Syscalls.OnViolation, "errno")]}
	if s.DefaultAction == "errno" {
		s.DefaultErrno = defaultErrno
	}
	if s.Arch, err = seccomp.NativeArch(); err != nil {
		return err
	}
	// Components of a stack mostly share their syscall policy: work out each rule set
	// and build each program once.
	key := c.rulesKey
	if c.rules == nil {
		key = syscallsKey(c.Syscalls)
	}
	rules, ok := cache.rules[key]
	if !ok {
		if rules = c.rules; rules == nil {
			rules = seccompRuleSet(c.Syscalls, groups)
		}
		cache.rules[key] = rules
	}
	s.Rules = cloneRules(rules)
	s.Denies = seccompDenies(c, groups)
	mode := ""
	if c.Mode == ModeAudit {
		// Observe instead of deny: log what is not allowed, notify what is watched.
		var observe []string
		s.Rules, observe = auditSeccomp(s.Rules)
		s.DefaultAction, s.DefaultErrno, mode = "log", 0, "audit/"
		cp.Audit = &plan.AuditMode{Observe: observe}
	}
	if n := argConditions(s.Rules); n > maxArgConditions {
		return fmt.Errorf("the syscall rules hold %d argument conditions, more than the %d confine compiles (each syscall a conditional rule names counts its conditions once, the profiles' included); libseccomp's time grows about with their cube", n, maxArgConditions)
	}
	pkey := mode + s.DefaultAction + "/" + strconv.Itoa(s.DefaultErrno) + "/" + key
	if s.Program = cache.programs[pkey]; s.Program == nil {
		if len(cache.programs) == maxPrograms {
			return fmt.Errorf("the stack needs more than %d distinct syscall filters, the most confine builds for one stack (each costs libseccomp a few ms); give components that do the same a shared profile", maxPrograms)
		}
		if cache.conditions += argConditions(s.Rules); cache.conditions > maxStackArgConditions {
			return fmt.Errorf("the stack's distinct syscall filters hold more than %d argument conditions together, the most confine compiles for one stack (libseccomp's time grows about with their cube)", maxStackArgConditions)
		}
		if s.Program, err = cache.buildProgram(&s); err != nil {
			return err
		}
		cache.programs[pkey] = s.Program
	}
	if n := len(s.Program) / 8; n > maxBPFInstructions {
		return fmt.Errorf("the syscall filter compiles to %d BPF instructions, more than the %d the kernel loads; allow fewer argument conditions", n, maxBPFInstructions)
	}
	sum := sha256.Sum256(s.Program)
	s.ProgramSHA256 = hex.EncodeToString(sum[:])
	cp.Seccomp = s
	return nil
}

// maxBPFInstructions is the kernel's BPF_MAXINSNS: seccomp(2) refuses a longer filter
// with EINVAL, so a Plan with one could never run. Each argument condition costs about
// one instruction.
const maxBPFInstructions = 4096

// maxArgConditions bounds the argument comparisons handed to libseccomp, counted per
// syscall a rule names: building the program costs about the cube of those on one
// syscall (100 rules of 6 conditions: 0.5 s; 2,000 rules of 2 names and 2 conditions: over
// 8 minutes, only for the BPF limit to refuse them), so the bound is checked first. At it,
// the worst shape measured (85 rules of 6 conditions) compiles in about 0.35 s.
const maxArgConditions = 512

// maxPrograms and maxStackArgConditions bound a whole stack's libseccomp work, so that
// the largest stack accepted compiles in about a second: a program costs about 2.6 ms
// (4,096 distinct ones took 10.6 s), and two at maxArgConditions about 0.7 s.
const (
	maxPrograms           = 128
	maxStackArgConditions = 2 * maxArgConditions
)

// argConditions counts the comparisons libseccomp is given: each rule's conditions, once
// for each syscall it names.
func argConditions(rules []plan.SeccompRule) int {
	n := 0
	for _, r := range rules {
		n += len(r.Syscalls) * len(r.Args)
	}
	return n
}

// seccompCache holds, for one Compile, the rules worked out from each syscalls section
// (by syscallsKey) and the program built from each.
type seccompCache struct {
	rules    map[string][]plan.SeccompRule
	programs map[string][]byte
	// conditions counts the argument conditions of the programs built so far.
	conditions int
	store      ProgramStore // programs of earlier compiles, or nil
}

func newSeccompCache(store ProgramStore) *seccompCache {
	return &seccompCache{rules: map[string][]plan.SeccompRule{}, programs: map[string][]byte{}, store: store}
}

// syscallsKey is what the rules of a syscalls section depend on: its allow and deny
// rules, names and conditions, in order. Names are validated syscall and group names,
// so they hold none of the separators.
func syscallsKey(sc Syscalls) string {
	var b strings.Builder
	b.Grow(keyLen(sc.Allow) + keyLen(sc.Deny) + 4) // a profile's hundred rules, written once
	// Under log or kill seccompRuleSet keeps more denies.
	if sc.OnViolation == "log" || sc.OnViolation == "kill" {
		b.WriteString(sc.OnViolation + ";")
	}
	for _, l := range []struct {
		kind  string
		rules []SyscallRule
	}{{"allow", sc.Allow}, {"deny", sc.Deny}} {
		for _, r := range l.rules {
			if r.key == "" { // a rule not loaded from a file
				r.key = ruleKey(r)
			}
			b.WriteString(l.kind + r.key)
		}
	}
	return b.String()
}

// keyLen is about the length of the rules' part of syscallsKey.
func keyLen(rules []SyscallRule) int {
	n := 0
	for _, r := range rules {
		n += len("allow") + len(r.key)
	}
	return n
}

// ruleKey is a syscall rule's part of syscallsKey.
func ruleKey(r SyscallRule) string {
	var b strings.Builder
	for _, n := range r.Names {
		b.WriteString(" " + n)
	}
	if len(r.Args) > 0 {
		b.WriteString(" if " + altKey(argConds(r.Args)))
	}
	b.WriteString(" " + r.Errno + "\n")
	return b.String()
}

// cloneRules gives a component its own rule list. The name and argument lists in the
// rules stay shared between the components with the same rules, as their program is:
// nothing changes a compiled Plan's rules.
func cloneRules(rules []plan.SeccompRule) []plan.SeccompRule { return slices.Clone(rules) }

// seccompDenies lists what the denies take away, each with the rule that declares it.
func seccompDenies(c *Component, groups map[string][]string) []plan.SeccompDeny {
	denied := map[string]plan.SeccompDeny{}
	for _, r := range c.Syscalls.Deny {
		conds := argConds(r.Args)
		condKey := altKey(conds)
		for _, written := range r.Names {
			why := c.origin("syscalls.deny", written+"/"+condKey) // denyKey(written, conds)
			for _, name := range expandNames([]string{written}, groups) {
				denied[name+"/"+condKey] = plan.SeccompDeny{Syscall: name, Why: why, Args: len(conds) > 0}
			}
		}
	}
	var out []plan.SeccompDeny
	for _, k := range slices.Sorted(maps.Keys(denied)) {
		out = append(out, denied[k])
	}
	return out
}

// seccompRuleSet works out the rules of a syscalls section.
func seccompRuleSet(sc Syscalls, groups map[string][]string) []plan.SeccompRule {
	allowed := newAllowSet(sc.Allow, groups)
	errnoOf := map[string]int{}
	for _, r := range sc.Allow {
		conds := argConds(r.Args)
		key := altKey(conds)
		for _, written := range r.Names {
			for _, name := range members(written, groups) {
				allowed.add(name, conds, key)
			}
		}
	}
	// Argument denies, one per syscall and conditions: a profile merged twice repeats
	// its denies, and a later layer's errno replaces an earlier one's.
	var denies []plan.SeccompRule
	denyErrno := map[string]int{}
	for _, r := range sc.Deny {
		conds := argConds(r.Args)
		condKey := altKey(conds)
		errno := errnos[or(r.Errno, "EACCES")]
		for _, written := range r.Names {
			for _, name := range members(written, groups) {
				if len(conds) == 0 {
					allowed.remove(name)
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
	}
	kept := denies[:0]
	var widened []string // syscalls with argument denies, in the order first denied
	// A deny of a syscall no longer allowed adds nothing to a default that fails the call
	// with EPERM, unless it names another errno; under on_violation: log, whose default
	// allows, and kill, which kills, it keeps its errno (docs/policy.md). A deny without
	// args that gives the whole syscall an errno covers it.
	keep := func(d plan.SeccompRule) bool {
		_, all := errnoOf[d.Syscalls[0]]
		return !all && (sc.OnViolation == "log" || sc.OnViolation == "kill" || d.Errno != errnos["EACCES"])
	}
	for _, d := range denies {
		name := d.Syscalls[0]
		key := altKey(d.Args)
		d.Errno = denyErrno[name+"/"+key]
		// A deny with the very conditions of an allow takes that allow back.
		set := allowed.alts(name)
		if set == nil || set.remove(key) == 0 {
			allowed.remove(name)
			if keep(d) {
				kept = append(kept, d)
			}
			continue
		}
		if !set.widened {
			widened = append(widened, name)
		}
		set.compareArg0()
		kept = append(kept, d)
	}
	return seccompRules(allowed.live, len(allowed.index), widenAll(allowed, widened, kept, keep), errnoOf)
}

// widenAll widens the alternatives of each syscall in names against its kept denies
// (altSet.widen) and returns the denies still needed: for a syscall whose every
// alternative a deny covers (or a later deny took back), which is then not allowed,
// only those keep says.
func widenAll(allowed *allowSet, names []string, kept []plan.SeccompRule, keep func(plan.SeccompRule) bool) []plan.SeccompRule {
	if len(names) == 0 {
		return kept
	}
	denies := map[string][]alt{}
	for _, d := range kept {
		denies[d.Syscalls[0]] = append(denies[d.Syscalls[0]], d.Args)
	}
	gone := map[string]bool{}
	for _, name := range names {
		if set := allowed.alts(name); set == nil || set.widen(denies[name]) == 0 {
			allowed.remove(name)
			gone[name] = true
		}
	}
	return slices.DeleteFunc(kept, func(d plan.SeccompRule) bool { return gone[d.Syscalls[0]] && !keep(d) })
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

// altKey names a set of conditions: index, op, value and mask (hex) of each, as
// "%d%s%x/%x;" would write them.
func altKey(a alt) string {
	b := make([]byte, 0, 16*len(a))
	for _, c := range a {
		b = strconv.AppendUint(b, uint64(c.Index), 10)
		b = append(b, c.Op...)
		b = strconv.AppendUint(b, c.Value, 16)
		b = append(b, '/')
		b = strconv.AppendUint(b, c.Mask, 16)
		b = append(b, ';')
	}
	return string(b)
}

// seccompRules orders the rules deterministically: one rule for every unconditional
// allow, then conditional allows and argument denies by syscall, then errno rules by errno.
// allowed (each syscall and its alternatives) may come in any order: the rules are sorted.
func seccompRules(allowed iter.Seq2[string, []alt], n int, denies []plan.SeccompRule, errnoOf map[string]int) []plan.SeccompRule {
	plain := make([]string, 0, n)
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
	slices.Sort(plain)
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
