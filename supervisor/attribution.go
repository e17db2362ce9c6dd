package supervisor

import (
	"slices"
	"sync"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/seccomp"
	"github.com/confine-sandbox/confine/sandbox"
)

// Owners names the component of a kernel audit record by the host ids the record gives:
// as root each component owns a range of sandbox.RangeSize host uids and as many gids
// (sandbox/ids_linux.go), and every process of the component, however briefly it lived
// and whoever forked it, has its real uid and gid inside them (a user namespace can hold
// no id its map lacks). A seccomp record and an event's SYSCALL record carry the uid and
// gid; a Landlock record takes them from its domain (sandbox.KernelDenial.UID). Safe for
// concurrent use.
type Owners struct {
	mu         sync.RWMutex
	uids, gids []owned
}

// owned is one component's range: [start, start+sandbox.RangeSize).
type owned struct {
	start uint32
	name  string
}

// Add records name's range, whose first host ids are uid and gid. A range once added
// stays: records of a run that ended still arrive.
func (o *Owners) Add(name string, uid, gid uint32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	add := func(list []owned, start uint32) []owned {
		if slices.ContainsFunc(list, func(w owned) bool { return w.start == start }) {
			return list
		}
		return append(list, owned{start, name})
	}
	o.uids, o.gids = add(o.uids, uid), add(o.gids, gid)
}

// Of is the component whose range holds uid, or failing that gid (each -1 when the
// record had none); "" for any other process on the host.
func (o *Owners) Of(uid, gid int64) string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	find := func(list []owned, id int64) string {
		for _, w := range list {
			if id >= int64(w.start) && id < int64(w.start)+sandbox.RangeSize {
				return w.name
			}
		}
		return ""
	}
	if uid >= 0 {
		if n := find(o.uids, uid); n != "" {
			return n
		}
	}
	if gid >= 0 {
		return find(o.gids, gid)
	}
	return ""
}

// KernelDenialDetails is the details of the denial event of a kernel record attributed
// to component: what decided it (audit.Attributor), whether it is expected noise of
// confine's own profiles (audit.MarkExpected) and enforced, and the process's host ids.
// nil for a record of no layer confine knows.
func KernelDenialDetails(a *audit.Attributor, component string, d sandbox.KernelDenial) map[string]any {
	var details map[string]any
	switch d.Layer {
	case audit.LayerSeccomp:
		details = a.Seccomp(component, seccomp.SyscallName(d.Syscall), d.Action)
	case audit.LayerLandlock:
		port := d.Dport
		if slices.Contains(d.Blockers, "net.bind_tcp") {
			port = d.Sport // a bind names the local port
		}
		details = a.Landlock(component, d.Blockers, d.Path, port)
		if d.Daddr != "" {
			details["dst"] = d.Daddr
		}
		if d.Saddr != "" {
			details["saddr"] = d.Saddr
		}
		details["domain"] = d.Domain // a nested domain the component made has its own
	default:
		return nil
	}
	details["pid"], details["exe"], details["kernel_serial"] = d.Pid, d.Exe, d.Serial
	if d.UID >= 0 {
		details["uid"] = d.UID
	}
	if d.GID >= 0 {
		details["gid"] = d.GID
	}
	a.Classify(details)
	return details
}

// kernelComponent names the stack's component of a kernel record: by its host ids,
// which every process of a component has; then, for a record without them (rootless, or
// a Landlock record whose domain was never named), by pid: a component's own process or
// one in its cgroup while it lives (componentOf).
func (s *Supervisor) kernelComponent(d sandbox.KernelDenial) string {
	if name := s.owners.Of(d.UID, d.GID); name != "" {
		return name
	}
	return s.componentOf(d.Pid)
}

// ownRanges records every component's host id range before the first starts, so that
// the first record of a run already names its component.
func (s *Supervisor) ownRanges() {
	for _, c := range s.plan.Components {
		if uid, gid, ok, err := sandbox.HostIDRange(s.plan.Name, c.Name); err == nil && ok {
			s.owners.Add(c.Name, uid, gid)
		}
	}
}

// Enforcement is the details of a run's policy.applied event: the policy by hash and
// each mechanism as applied, the best_effort ones in skip named as skipped. `confine
// run --audit-log` writes the same record as a stack's supervisor.
func Enforcement(c *plan.Component, skip map[string]bool) map[string]any {
	return enforcement(c, skip)
}
