// Package diff compares two compiled Plans component by component: what the new one grants
// that the old did not, and what it takes away (Diff), written as Markdown by
// PlanDiff.Markdown. It reads Plans, never policy YAML.
package diff

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// PlanDiff is what a new Plan grants that an old one did not, and what it takes away,
// component by component. Built by Diff; `confine audit diff` prints it (Markdown).
type PlanDiff struct {
	Old string `json:"old"` // the Plans' names
	New string `json:"new"`
	// Verdict is one line: "grants more: 3 additions in 2 components", "no new privileges".
	Verdict string `json:"verdict"`
	// Grants and TakesAway count the changes over all components.
	Grants    int `json:"grants"`
	TakesAway int `json:"takes_away"`
	// Components are those that changed: NEW's in its order, then those only OLD has.
	Components []ComponentDiff `json:"components"`
}

// ComponentDiff is one component's changes.
type ComponentDiff struct {
	Component string `json:"component"`
	Status    string `json:"status"` // added, removed, changed
	// Source is the policy file in NEW (in OLD for a removed component).
	Source    string            `json:"source"`
	Grants    []PrivilegeChange `json:"grants"`
	TakesAway []PrivilegeChange `json:"takes_away"`
	// Notes change nothing a component may do, but a reviewer wants to know: the rootfs
	// moved, kill_process became errno, a deny was dropped for a syscall still not allowed.
	Notes []PrivilegeChange `json:"notes"`
}

// PrivilegeChange is one privilege granted or taken away.
type PrivilegeChange struct {
	Kind string `json:"kind"` // one of the Change* kinds
	What string `json:"what"` // "NET_ADMIN", "/srv/uploads", "db:5432/tcp", "memory"
	// Detail qualifies What: "write, read, execute", "256Mi → 512Mi", "outside the stack".
	Detail string `json:"detail,omitempty"`
	// Why is the declaration responsible: in NEW for a grant, in OLD for what went away
	// ("api.yaml:12:10 filesystem.write[0] /var/lib/api"). Where the Plan records no
	// position it is the file and the field ("api.yaml capabilities").
	Why string `json:"why,omitempty"`
}

// Component statuses.
const (
	StatusAdded   = "added"
	StatusRemoved = "removed"
	StatusChanged = "changed"
)

// Change kinds, in the order reports list them.
const (
	ChangeComponent   = "component"    // a component removed
	ChangeIdentity    = "identity"     // uid 0, gid 0, no_new_privs
	ChangeNamespace   = "namespace"    // a namespace no longer unshared
	ChangeCapability  = "capability"   // any capability set
	ChangeSyscall     = "syscall"      // allowed, or allowed under more arguments
	ChangeDeny        = "deny"         // an explicit syscalls.deny
	ChangeOnViolation = "on_violation" // seccomp's default action
	ChangePath        = "path"         // Landlock rights beneath a path
	ChangeLandlock    = "landlock"     // rights or scopes Landlock restricts at all
	ChangeMask        = "mask"         // masked and read-only /proc and /sys paths
	ChangeListen      = "listen"       // a served port
	ChangeCaller      = "caller"       // who may call a served port
	ChangeReach       = "reach"        // a flow the component may open
	ChangePublish     = "publish"      // a port published on the host
	ChangeChannel     = "channel"      // a unix socket or shared path between components
	ChangeResource    = "resource"     // a limit raised, removed, lowered or added
	ChangeBestEffort  = "best_effort"  // a mechanism that may be skipped
	ChangeRootfs      = "rootfs"       // the root directory (a note)
)

// ChangeKinds lists the kinds in report order.
var ChangeKinds = []string{ChangeComponent, ChangeIdentity, ChangeNamespace, ChangeCapability,
	ChangeSyscall, ChangeDeny, ChangeOnViolation, ChangePath, ChangeLandlock, ChangeMask,
	ChangeListen, ChangeCaller, ChangeReach, ChangePublish, ChangeChannel, ChangeResource, ChangeBestEffort,
	ChangeRootfs, ChangeImage}

// Grew reports whether NEW grants anything OLD did not: what a merge gate blocks on.
func (d *PlanDiff) Grew() bool {
	for _, c := range d.Components {
		if len(c.Grants) > 0 {
			return true
		}
	}
	return false
}

// Diff compares two Plans component by component, matched by name. A component only NEW
// has grants everything it has; one only OLD had takes everything away. baseline is the
// set of syscalls the default profile allows (policy.BaselineSyscalls): an added
// component's syscalls within it are counted in one line, not listed; nil lists them all.
//
// Growth is judged on effect, not on text: a write path replaced by its parent grants the
// parent, a port range widened grants the new ports only, a CIDR narrowed grants nothing
// new. kill_process ↔ errno is a note (the syscall is refused either way); to or from
// log is a grant or a take-away (log stops enforcing).
func Diff(oldPlan, newPlan *plan.Plan, baseline map[string]bool) PlanDiff {
	d := PlanDiff{Old: oldPlan.Name, New: newPlan.Name, Components: []ComponentDiff{}}
	olds := map[string]*diffSide{}
	for i := range oldPlan.Components {
		s := diffNewSide(oldPlan, i)
		olds[s.c.Name] = s
	}
	seen := map[string]bool{}
	for i := range newPlan.Components {
		n := diffNewSide(newPlan, i)
		seen[n.c.Name] = true
		cd := diffComponent(olds[n.c.Name], n, baseline)
		if len(cd.Grants)+len(cd.TakesAway)+len(cd.Notes) > 0 {
			d.Components = append(d.Components, cd)
		}
	}
	for i := range oldPlan.Components {
		if o := &oldPlan.Components[i]; !seen[o.Name] {
			d.Components = append(d.Components, ComponentDiff{
				Component: o.Name, Status: StatusRemoved, Source: o.Source,
				Grants: []PrivilegeChange{}, Notes: []PrivilegeChange{},
				TakesAway: []PrivilegeChange{{Kind: ChangeComponent, What: o.Name, Detail: "removed, with everything it was granted", Why: o.Source}},
			})
		}
	}
	var grew int
	for _, c := range d.Components {
		d.Grants += len(c.Grants)
		d.TakesAway += len(c.TakesAway)
		if len(c.Grants) > 0 {
			grew++
		}
	}
	d.Verdict = diffVerdict(d.Grants, grew, d.TakesAway)
	return d
}

func diffVerdict(grants, components, takes int) string {
	v := "no new privileges"
	if grants > 0 {
		v = fmt.Sprintf("grants more: %s in %s", diffPlural(grants, "addition"), diffPlural(components, "component"))
	}
	if takes > 0 {
		v += fmt.Sprintf("; takes away %s", diffPlural(takes, "privilege"))
	}
	return v
}

func diffPlural[N int | float64](n N, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatFloat(float64(n), 'f', -1, 64) + " " + word + "s"
}

// diffSide is one component as one Plan has it, with what the comparisons read.
type diffSide struct {
	c         *plan.Component
	priv      privileges.Privileges
	names     map[string]string // stack addresses → component names
	published []plan.Publish
	stack     string
}

func diffNewSide(p *plan.Plan, i int) *diffSide {
	c := &p.Components[i]
	names := privileges.Addresses(p)
	s := &diffSide{c: c, priv: privileges.ComponentPrivileges(c, names, nil), names: names, stack: p.Name}
	for _, pub := range p.Network.Published {
		if pub.Component == c.Name {
			s.published = append(s.published, pub)
		}
	}
	return s
}

// field names a declaration the Plan keeps no position for: the file and the field.
func (s *diffSide) field(f string) string {
	if s.c.Source == "" {
		return f
	}
	return s.c.Source + " " + f
}

// diffChangeSet collects one component's changes.
type diffChangeSet struct {
	grants, takes, notes []PrivilegeChange
}

func (cs *diffChangeSet) grant(kind, what, detail, why string) {
	cs.grants = append(cs.grants, PrivilegeChange{kind, what, detail, why})
}

func (cs *diffChangeSet) take(kind, what, detail, why string) {
	cs.takes = append(cs.takes, PrivilegeChange{kind, what, detail, why})
}

func (cs *diffChangeSet) note(kind, what, detail, why string) {
	cs.notes = append(cs.notes, PrivilegeChange{kind, what, detail, why})
}

// diffComponent compares one component; o is nil when only NEW has it.
func diffComponent(o, n *diffSide, baseline map[string]bool) ComponentDiff {
	var cs diffChangeSet
	for _, compare := range []func(o, n *diffSide, cs *diffChangeSet){
		diffIdentity, diffNamespaces, diffCapabilities,
		func(o, n *diffSide, cs *diffChangeSet) { diffSyscalls(o, n, baseline, cs) },
		diffOnViolation, diffPaths, diffLandlock, diffMasks,
		diffListeners, diffReaches, diffPublished, diffChannels, diffResources, diffBestEffort, diffRootfs, diffImage,
	} {
		compare(o, n, &cs)
	}
	cd := ComponentDiff{Component: n.c.Name, Status: StatusChanged, Source: n.c.Source,
		Grants: privileges.OrEmpty(cs.grants), TakesAway: privileges.OrEmpty(cs.takes), Notes: privileges.OrEmpty(cs.notes)}
	if o == nil {
		cd.Status, cd.TakesAway, cd.Notes = StatusAdded, []PrivilegeChange{}, []PrivilegeChange{}
	}
	return cd
}

func diffOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// diffMinus returns the elements of a not in b, in a's order.
func diffMinus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func diffKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
