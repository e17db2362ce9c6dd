package diff

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// The comparisons of what a component is and holds: identity, namespaces, capabilities,
// seccomp's default action, resources, best_effort and rootfs. Rule sets (syscalls,
// paths) are in diff_rules.go, flows in diff_net.go.

func diffIdentity(o, n *diffSide, cs *diffChangeSet) {
	np := n.c.Process
	if named(np) || o != nil && named(o.c.Process) {
		diffNamedIdentity(o, n, cs)
	}
	for _, id := range []struct {
		name     string
		old, new uint32
	}{{"uid", diffOldID(o, func(p plan.Process) uint32 { return p.UID }), np.UID}, {"gid", diffOldID(o, func(p plan.Process) uint32 { return p.GID }), np.GID}} {
		switch {
		case named(np) || o != nil && named(o.c.Process):
		case id.new == 0 && id.old != 0:
			cs.grant(ChangeIdentity, id.name+" 0", "runs as root in its user namespace", n.field("run.user"))
		case id.old == 0 && id.new != 0:
			cs.take(ChangeIdentity, id.name+" 0", fmt.Sprintf("now %s %d", id.name, id.new), o.field("run.user"))
		case o != nil && id.old != id.new:
			cs.note(ChangeIdentity, id.name, fmt.Sprintf("%d → %d", id.old, id.new), n.field("run.user"))
		}
	}
	oldNNP := o == nil || o.c.Process.NoNewPrivs
	switch {
	case oldNNP && !np.NoNewPrivs:
		cs.grant(ChangeIdentity, "no_new_privs", "off: setuid and file capabilities take effect on exec", n.field("process.no_new_privs"))
	case !oldNNP && np.NoNewPrivs:
		cs.take(ChangeIdentity, "no_new_privs", "on", o.field("process.no_new_privs"))
	}
	switch {
	case o != nil && o.c.Process.DenyExec && !np.DenyExec:
		cs.grant(ChangeIdentity, "confine exec", "allowed: an operator may run commands inside it", n.field("run.exec"))
	case !(o == nil || o.c.Process.DenyExec) && np.DenyExec:
		cs.take(ChangeIdentity, "confine exec", "refused (run.exec: false)", n.field("run.exec"))
	}
	oldAudit := o != nil && o.c.Mode == plan.ModeAudit
	switch newAudit := n.c.Mode == plan.ModeAudit; {
	case newAudit && !oldAudit:
		cs.grant(ChangeIdentity, "mode audit", "nothing is enforced: every layer only observes and logs", n.field("mode"))
	case oldAudit && !newAudit:
		cs.take(ChangeIdentity, "mode audit", "enforced again", o.field("mode"))
	}
}

func named(p plan.Process) bool { return p.User != "" || p.Group != "" }

// diffNamedIdentity compares identities when run.user names a user or group on either
// side: the ids are known only at start, so the words are compared, and root by name.
func diffNamedIdentity(o, n *diffSide, cs *diffChangeSet) {
	np := n.c.Process
	oldRoot := o != nil && o.c.Process.RootInside()
	switch {
	case np.RootInside() && !oldRoot:
		cs.grant(ChangeIdentity, "root", "runs as root in its user namespace", n.field("run.user"))
	case oldRoot && !np.RootInside():
		cs.take(ChangeIdentity, "root", "now "+np.Identity(), o.field("run.user"))
	case o != nil && o.c.Process.Identity() != np.Identity():
		cs.note(ChangeIdentity, "user", fmt.Sprintf("%s → %s", o.c.Process.Identity(), np.Identity()), n.field("run.user"))
	}
}

// diffOldID reads an id of OLD's process; a component that did not exist ran as no one.
func diffOldID(o *diffSide, get func(plan.Process) uint32) uint32 {
	if o == nil {
		return 1<<32 - 1
	}
	return get(o.c.Process)
}

// diffAllNamespaces are those a component unshares; one OLD did not have starts from them.
var diffAllNamespaces = []string{"cgroup", "ipc", "mount", "net", "pid", "user", "uts"}

func diffNamespaces(o, n *diffSide, cs *diffChangeSet) {
	before := diffAllNamespaces
	if o != nil {
		before = o.c.Namespaces
	}
	for _, ns := range before {
		if !slices.Contains(n.c.Namespaces, ns) {
			cs.grant(ChangeNamespace, ns, "shared with the host", n.field("namespaces"))
		}
	}
	for _, ns := range n.c.Namespaces {
		if !slices.Contains(before, ns) {
			cs.take(ChangeNamespace, ns, "now its own", o.field("namespaces"))
		}
	}
}

// diffCapSets maps each capability to the sets that hold it.
func diffCapSets(o *diffSide) map[string][]string {
	out := map[string][]string{}
	if o == nil {
		return out
	}
	c := o.c.Capabilities
	for _, s := range []struct {
		name string
		caps []string
	}{{"bounding", c.Bounding}, {"permitted", c.Permitted}, {"effective", c.Effective}, {"inheritable", c.Inheritable}, {"ambient", c.Ambient}} {
		for _, name := range s.caps {
			out[name] = append(out[name], s.name)
		}
	}
	return out
}

func diffCapabilities(o, n *diffSide, cs *diffChangeSet) {
	before, after := diffCapSets(o), diffCapSets(n)
	for _, name := range diffKeys(after) {
		if added := diffMinus(after[name], before[name]); len(added) > 0 {
			detail := ""
			if len(before[name]) > 0 {
				detail = "now also " + strings.Join(added, ", ")
			}
			cs.grant(ChangeCapability, name, detail, n.field("capabilities"))
		}
	}
	for _, name := range diffKeys(before) {
		if gone := diffMinus(before[name], after[name]); len(gone) > 0 {
			detail := ""
			if len(after[name]) > 0 {
				detail = "no longer " + strings.Join(gone, ", ")
			}
			cs.take(ChangeCapability, name, detail, o.field("capabilities"))
		}
	}
}

// diffViolationRank orders seccomp default actions by how much they enforce.
var diffViolationRank = map[string]int{"log": 0, "errno": 1, "kill_process": 1, "kill_thread": 1}

func diffOnViolation(o, n *diffSide, cs *diffChangeSet) {
	after := n.c.Seccomp.DefaultAction
	before := "errno"
	if o != nil {
		before = o.c.Seccomp.DefaultAction
	}
	if before == after {
		return
	}
	rb, knownB := diffViolationRank[before]
	ra, knownA := diffViolationRank[after]
	switch {
	case knownB && knownA && ra < rb:
		cs.grant(ChangeOnViolation, after, "syscalls outside the allowlist run, only logged (was "+before+")", n.field("syscalls.on_violation"))
	case knownB && knownA && ra > rb:
		cs.take(ChangeOnViolation, before, "syscalls outside the allowlist are refused again ("+after+")", o.field("syscalls.on_violation"))
	case o != nil:
		cs.note(ChangeOnViolation, after, "was "+before+"; refused either way", n.field("syscalls.on_violation"))
	}
}

// diffLimit is one limit; unlimited when !set.
type diffLimit struct {
	name, field string
	value       float64
	set         bool
	format      func(float64) string
}

func diffLimits(s *diffSide) []diffLimit {
	c := s.c
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	cpus := func(v float64) string { return diffPlural(v, "CPU") }
	out := []diffLimit{
		{"memory", "resources.memory", float64(c.Cgroup.MemoryMax), c.Cgroup.MemoryMax > 0, diffSize},
		{"pids", "resources.pids", float64(c.Cgroup.PidsMax), c.Cgroup.PidsMax > 0, count},
		{"cpu", "resources.cpu", s.priv.Resources.CPU, c.Cgroup.CPUPeriod > 0 && c.Cgroup.CPUQuota > 0, cpus},
	}
	for _, rl := range c.Rlimits {
		name, field := strings.ToLower(strings.TrimPrefix(rl.Type, "RLIMIT_")), "built-in rlimit"
		if rl.Type == "RLIMIT_NOFILE" {
			field = "resources.nofile"
		}
		out = append(out, diffLimit{name, field, float64(rl.Hard), rl.Hard != 1<<64-1, count})
	}
	return out
}

func diffResources(o, n *diffSide, cs *diffChangeSet) {
	after := diffLimits(n)
	if o == nil {
		for _, l := range after {
			if l.name == "core" && l.set && l.value == 0 {
				continue // no core dumps: nothing granted
			}
			cs.grant(ChangeResource, l.name, diffLimitString(l), n.field(l.field))
		}
		return
	}
	before := map[string]diffLimit{}
	for _, l := range diffLimits(o) {
		before[l.name] = l
	}
	for _, a := range after {
		b, ok := before[a.name]
		delete(before, a.name)
		if !ok {
			b = diffLimit{name: a.name, field: a.field, format: a.format}
		}
		change := diffLimitString(b) + " → " + diffLimitString(a)
		switch {
		case b.set && (!a.set || a.value > b.value):
			cs.grant(ChangeResource, a.name, change, n.field(a.field))
		case a.set && (!b.set || a.value < b.value):
			cs.take(ChangeResource, a.name, change, o.field(b.field))
		}
	}
	for _, name := range diffKeys(before) {
		if b := before[name]; b.set {
			cs.grant(ChangeResource, name, diffLimitString(b)+" → no limit", n.field(b.field))
		}
	}
}

func diffLimitString(l diffLimit) string {
	if !l.set {
		return "no limit"
	}
	return l.format(l.value)
}

// diffSize writes bytes as policies do: 256Mi, 1Gi, or a plain count.
func diffSize(v float64) string {
	b := int64(v)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}} {
		if b >= 1<<u.shift && b%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", b>>u.shift, u.suffix)
		}
	}
	return strconv.FormatInt(b, 10)
}

func diffBestEffort(o, n *diffSide, cs *diffChangeSet) {
	var before []string
	if o != nil {
		before = o.c.BestEffort
	}
	for _, m := range diffMinus(n.c.BestEffort, before) {
		cs.grant(ChangeBestEffort, m, "skipped on a kernel without it", n.field("best_effort"))
	}
	for _, m := range diffMinus(before, n.c.BestEffort) {
		cs.take(ChangeBestEffort, m, "required again", o.field("best_effort"))
	}
}

// diffRootfs notes a changed root directory. A relative rootfs is compiled beside its
// policy file, so it is compared relative to that file: two checkouts of one tree agree.
func diffRootfs(o, n *diffSide, cs *diffChangeSet) {
	if o == nil {
		return
	}
	if b, a := diffRootfsKey(o.c), diffRootfsKey(n.c); b != a {
		cs.note(ChangeRootfs, diffOr(a, "(none: a tmpfs holding the declared paths)"), "was "+diffOr(b, "(none)"), n.field("run.rootfs"))
	}
}

func diffRootfsKey(c *plan.Component) string {
	dir := path.Dir(c.Source)
	if c.Process.Rootfs != "" && dir != "." && strings.HasPrefix(c.Process.Rootfs, dir+"/") {
		return "./" + strings.TrimPrefix(c.Process.Rootfs, dir+"/")
	}
	if c.Process.Rootfs != "" && dir == "." && !path.IsAbs(c.Process.Rootfs) {
		return "./" + c.Process.Rootfs
	}
	return c.Process.Rootfs
}
