package diff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// diffSyscallRules is a seccomp filter read back per syscall: the argument conditions it is
// allowed under ("" when unconditionally) and those an argument deny refuses.
type diffSyscallRules struct {
	allowed  map[string]map[string]bool
	refused  map[string]map[string]bool
	denyWhy  map[string]string // syscall + "/args" or "/all" → the deny rule
	inDenies map[string]bool   // the same keys: which denies the Plan lists
}

func diffReadSyscalls(s *diffSide) diffSyscallRules {
	r := diffSyscallRules{allowed: map[string]map[string]bool{}, refused: map[string]map[string]bool{}, denyWhy: map[string]string{}, inDenies: map[string]bool{}}
	if s == nil {
		return r
	}
	add := func(m map[string]map[string]bool, name, cond string) {
		if m[name] == nil {
			m[name] = map[string]bool{}
		}
		m[name][cond] = true
	}
	for _, rule := range s.c.Seccomp.Rules {
		cond := diffConditions(rule.Args)
		for _, name := range rule.Syscalls {
			switch {
			case rule.Action == "allow":
				add(r.allowed, name, cond)
			case cond != "":
				add(r.refused, name, cond)
			}
		}
	}
	for _, d := range s.c.Seccomp.Denies {
		k := diffDenyKey(d)
		r.inDenies[k] = true
		if r.denyWhy[k] == "" {
			r.denyWhy[k] = d.Why
		}
	}
	return r
}

func diffDenyKey(d plan.SeccompDeny) string {
	if d.Args {
		return d.Syscall + "/args"
	}
	return d.Syscall + "/all"
}

// diffConditions writes argument conditions as explain does, leaving out the
// "argument 0 >= 0" the compiler adds, which holds for every value.
func diffConditions(args []plan.SeccompArg) string {
	var parts []string
	for _, c := range args {
		switch c.Op {
		case "ge":
			if c.Value == 0 {
				continue
			}
		case "masked_eq":
			parts = append(parts, fmt.Sprintf("arg%d & %#x == %#x", c.Index, c.Mask, c.Value))
			continue
		}
		op := map[string]string{"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[c.Op]
		parts = append(parts, fmt.Sprintf("arg%d %s %#x", c.Index, op, c.Value))
	}
	slices.Sort(parts)
	return strings.Join(parts, " and ")
}

func diffConditionList(conds map[string]bool) string {
	return "when " + strings.Join(diffKeys(conds), ", or when ")
}

// diffSyscalls compares the allowlists: a syscall newly allowed, allowed under more
// arguments (conditional → unconditional, or a new alternative), or an argument deny
// dropped is a grant; the reverse takes away.
func diffSyscalls(o, n *diffSide, baseline map[string]bool, cs *diffChangeSet) {
	before, after := diffReadSyscalls(o), diffReadSyscalls(n)
	why := n.field("syscalls")
	var inBaseline int
	for _, name := range diffKeys(after.allowed) {
		a, b := after.allowed[name], before.allowed[name]
		var detail string
		switch {
		case len(b) == 0:
			if o == nil && baseline != nil && baseline[name] {
				inBaseline++
				continue
			}
			if !a[""] {
				detail = "only " + diffConditionList(a)
			}
			if baseline != nil && !baseline[name] {
				detail = strings.TrimPrefix(detail+"; beyond the default profile", "; ")
			}
			if d := before.denyWhy[name+"/all"]; d != "" && !after.inDenies[name+"/all"] {
				detail = strings.TrimPrefix(detail+"; its deny is gone ("+d+")", "; ")
			}
		case b[""]:
			continue
		case a[""]:
			detail = "now without conditions (was only " + diffConditionList(b) + ")"
		default:
			if added := diffMinusSet(a, b); len(added) > 0 {
				detail = "also " + diffConditionList(added)
			}
		}
		if detail != "" || len(b) == 0 {
			cs.grant(ChangeSyscall, name, detail, why)
		}
	}
	if inBaseline > 0 {
		cs.grants = slices.Insert(cs.grants, 0, PrivilegeChange{ChangeSyscall, "default profile", fmt.Sprintf("%d of its syscalls", inBaseline), why})
	}
	for _, name := range diffKeys(before.allowed) {
		a, b := after.allowed[name], before.allowed[name]
		var detail string
		switch {
		case len(a) == 0:
			if d := after.denyWhy[name+"/all"]; d != "" && !before.inDenies[name+"/all"] {
				detail = "denied by " + d
			}
		case a[""]:
			continue
		case b[""]:
			detail = "now only " + diffConditionList(a)
		default:
			if gone := diffMinusSet(b, a); len(gone) > 0 {
				detail = "no longer " + diffConditionList(gone)
			}
		}
		if detail != "" || len(a) == 0 {
			cs.take(ChangeSyscall, name, detail, o.field("syscalls"))
		}
	}
	diffDenies(o, n, before, after, cs)
}

// diffDenies compares explicit denies. An argument deny of an allowed syscall refuses
// those arguments; dropping it grants them. A deny of a syscall not allowed anyway, or one
// whose drop shows as the syscall allowed, is a note, or nothing.
func diffDenies(o, n *diffSide, before, after diffSyscallRules, cs *diffChangeSet) {
	for _, name := range diffKeys(after.allowed) {
		gone := diffMinusSet(before.refused[name], after.refused[name])
		if len(gone) > 0 && len(before.allowed[name]) > 0 {
			cs.grant(ChangeDeny, name, "no longer refused "+diffConditionList(gone), diffOr(before.denyWhy[name+"/args"], o.field("syscalls.deny")))
		}
		added := diffMinusSet(after.refused[name], before.refused[name])
		if len(added) > 0 && o != nil {
			cs.take(ChangeDeny, name, "refused "+diffConditionList(added), diffOr(after.denyWhy[name+"/args"], n.field("syscalls.deny")))
		}
	}
	if o == nil {
		return
	}
	for _, k := range diffKeys(before.denyWhy) {
		name, all := strings.CutSuffix(k, "/all")
		if !all || after.inDenies[k] || len(after.allowed[name]) > 0 {
			continue // kept, an argument deny (above), or the syscall now allowed (a grant)
		}
		if n.c.Seccomp.DefaultAction == "log" {
			cs.grant(ChangeDeny, name, "deny dropped: it now runs, logged", before.denyWhy[k])
		} else {
			cs.note(ChangeDeny, name, "deny dropped; still not allowed", before.denyWhy[k])
		}
	}
}

func diffMinusSet(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if !b[k] {
			out[k] = true
		}
	}
	return out
}

// Landlock right groups, as reports name them.
var diffRightGroups = []struct {
	name   string
	rights []string
}{
	{"write", append([]string{"write_file"}, privileges.WriteRights...)}, // the core right first
	{"read", []string{"read_file", "read_dir"}},
	{"execute", []string{"execute"}},
	{"ioctl_dev", []string{"ioctl_dev"}},
}

// diffPathRights merges a Plan's path rules: each path, its rights and the rule behind each right.
type diffPathRights struct {
	order  []string
	rights map[string]map[string]string // path → right → why
}

func diffReadPaths(s *diffSide) diffPathRights {
	pr := diffPathRights{rights: map[string]map[string]string{}}
	if s == nil {
		return pr
	}
	for _, r := range s.c.Landlock.Paths {
		if pr.rights[r.Path] == nil {
			pr.rights[r.Path] = map[string]string{}
			pr.order = append(pr.order, r.Path)
		}
		for _, right := range r.Access {
			if _, ok := pr.rights[r.Path][right]; !ok {
				pr.rights[r.Path][right] = r.Why
			}
		}
	}
	return pr
}

// effective is every right granted at p: by a rule on p or on any directory above it.
func (pr diffPathRights) effective(p string) map[string]bool {
	out := map[string]bool{}
	for rp, rights := range pr.rights {
		if rp == p || rp == "/" || strings.HasPrefix(p, strings.TrimSuffix(rp, "/")+"/") {
			for r := range rights {
				out[r] = true
			}
		}
	}
	return out
}

// diffPaths compares Landlock's path rules by effect: a right at a path is new when no
// rule of OLD on that path or a directory above it granted it, so a parent replacing a
// child grants the parent and moving a child under a granted parent takes nothing away.
// A right OLD did not restrict at all was already granted everywhere.
func diffPaths(o, n *diffSide, cs *diffChangeSet) {
	before, after := diffReadPaths(o), diffReadPaths(n)
	diffPathChanges(after, before, diffUnrestricted(o), diffUnrestricted(n), func(p, detail, why string) { cs.grant(ChangePath, p, detail, why) })
	if o != nil {
		diffPathChanges(before, after, diffUnrestricted(n), diffUnrestricted(o), func(p, detail, why string) { cs.take(ChangePath, p, detail, why) })
	}
}

// diffPathChanges reports, for each path of from, the rights that against does not grant there.
func diffPathChanges(from, against diffPathRights, againstFree, fromFree map[string]bool, report func(p, detail, why string)) {
	for _, p := range from.order {
		have := against.effective(p)
		var added []string
		for right := range from.rights[p] {
			if !have[right] && !againstFree[right] && !fromFree[right] {
				added = append(added, right)
			}
		}
		if len(added) == 0 {
			continue
		}
		slices.Sort(added)
		all := diffKeys(from.rights[p])
		report(p, diffRightsString(added, all), from.rights[p][added[0]])
	}
}

// diffRightsString names the rights added by group: "write, read" when everything the path
// has of a group is new and includes its core right (write_file, read_file); "write
// (truncate)" otherwise.
func diffRightsString(added, all []string) string {
	var parts []string
	for _, g := range diffRightGroups {
		in, of := diffIntersect(added, g.rights), diffIntersect(all, g.rights)
		switch {
		case len(in) == 0:
		case len(in) == len(of) && slices.Contains(in, g.rights[0]):
			parts = append(parts, g.name)
		default:
			parts = append(parts, g.name+" ("+strings.Join(in, ", ")+")")
		}
	}
	return strings.Join(parts, ", ")
}

func diffIntersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// diffUnrestricted are the filesystem rights s's Landlock ruleset does not handle: granted
// everywhere. A component that does not exist restricts everything.
func diffUnrestricted(s *diffSide) map[string]bool {
	out := map[string]bool{}
	if s == nil {
		return out
	}
	for _, g := range diffRightGroups {
		for _, r := range g.rights {
			if !slices.Contains(s.c.Landlock.HandledFS, r) {
				out[r] = true
			}
		}
	}
	return out
}

// diffLandlock compares what the ruleset restricts at all: a filesystem right, a TCP
// right or a scope it no longer handles is granted everywhere.
func diffLandlock(o, n *diffSide, cs *diffChangeSet) {
	if o == nil {
		return // its rules say what it has; what it does not handle shows as notes in reports
	}
	ol, nl := o.c.Landlock, n.c.Landlock
	for _, x := range []struct {
		what          string
		before, after []string
	}{{"filesystem rights", ol.HandledFS, nl.HandledFS}, {"network rights", ol.HandledNet, nl.HandledNet}, {"scopes", ol.Scoped, nl.Scoped}} {
		if gone := diffMinus(x.before, x.after); len(gone) > 0 {
			cs.grant(ChangeLandlock, strings.Join(gone, ", "), x.what+" no longer restricted", n.field("landlock"))
		}
		if added := diffMinus(x.after, x.before); len(added) > 0 {
			cs.take(ChangeLandlock, strings.Join(added, ", "), x.what+" now restricted", n.field("landlock"))
		}
	}
}

// diffMasks compares the /proc and /sys paths hidden or made read-only.
func diffMasks(o, n *diffSide, cs *diffChangeSet) {
	if o == nil {
		return
	}
	for _, x := range []struct {
		what          string
		before, after []string
	}{{"no longer masked", o.c.MaskedPaths, n.c.MaskedPaths}, {"no longer read-only", o.c.ReadonlyPaths, n.c.ReadonlyPaths}} {
		for _, p := range diffMinus(x.before, x.after) {
			cs.grant(ChangeMask, p, x.what, "built-in")
		}
		for _, p := range diffMinus(x.after, x.before) {
			cs.take(ChangeMask, p, strings.Replace(x.what, "no longer", "now", 1), "built-in")
		}
	}
}
