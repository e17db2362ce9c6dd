package sandbox

import (
	"fmt"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// rlimitFallback is what stands in for the cgroup limits when the policy lists cgroups
// under best_effort and the host gives it none (no root and no delegated cgroup, or no
// controller): resources.pids becomes RLIMIT_NPROC and resources.memory RLIMIT_DATA.
//
// RLIMIT_NPROC counts, since Linux 5.14, the tasks (threads too) of one uid in one user
// namespace: the component's own, since each component has its own namespace, and per
// uid inside it (a daemon that drops to its service user gets the limit again for that
// user). RLIMIT_DATA bounds heap and private writable mappings, which is where a memory
// hog allocates; it does not bound shared memory, tmpfs files or the stack. RLIMIT_AS,
// the address space, is not set: Go and JVM runtimes reserve far more address space
// than they use (1.2 GB for a small Go program here), so it would stop them at start.
// The CPU quota has no rlimit counterpart (RLIMIT_CPU ends a process after so many
// seconds of CPU, a different thing) and is not applied.
func rlimitFallback(g plan.Cgroup) []plan.Rlimit {
	var out []plan.Rlimit
	if g.PidsMax > 0 {
		out = append(out, plan.Rlimit{Type: "RLIMIT_NPROC", Soft: uint64(g.PidsMax), Hard: uint64(g.PidsMax)})
	}
	if g.MemoryMax > 0 {
		out = append(out, plan.Rlimit{Type: "RLIMIT_DATA", Soft: uint64(g.MemoryMax), Hard: uint64(g.MemoryMax)})
	}
	return out
}

// fallbackNote says, for a finding, what rlimitFallback applies and what it leaves out.
func fallbackNote(g plan.Cgroup) string {
	var on []string
	for _, r := range rlimitFallback(g) {
		unit := ""
		if r.Type == "RLIMIT_DATA" {
			unit = " bytes"
		}
		on = append(on, fmt.Sprintf("%s %d%s", r.Type, r.Hard, unit))
	}
	note := "running without cgroups (best_effort)"
	if len(on) > 0 {
		note += "; rlimits stand in: " + strings.Join(on, ", ")
		if g.PidsMax > 0 {
			note += " (RLIMIT_NPROC counts each uid inside the component apart)"
		}
	}
	if g.CPUQuota > 0 {
		note += "; the cpu limit has no rlimit and is not applied"
	}
	return note
}
