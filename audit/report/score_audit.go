package report

import (
	"slices"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// auditExposed are the factors a component in audit mode has whatever it declares:
// the layers that would answer them observe instead of denying (seccomp logs every
// syscall, Landlock is off, the firewall logs and accepts). What audit mode keeps
// (namespaces, the user, no_new_privs, mounts, publish entries, cgroup limits) is
// scored as declared. So an audit component scores at least as high as the same
// component with seccomp log and best_effort landlock and nftables.
var auditExposed = map[string]string{
	"syscalls_beyond_baseline": "mode audit: seccomp logs and allows every syscall",
	"risky_syscalls":           "mode audit: seccomp logs and allows every syscall, io_uring, bpf, ptrace, mount … too",
	"writable_system_path":     "mode audit: Landlock is off, only the mounts' read-only flags limit writes",
	"write_execute":            "mode audit: Landlock is off, a writable mount's files may be executed",
	"outside_callers":          "mode audit: the firewall logs and accepts every caller",
	"outside_reach":            "mode audit: the firewall logs and accepts every destination",
	"wide_reach":               "mode audit: the firewall logs and accepts every destination",
	"best_effort_landlock":     "mode audit: it runs without Landlock",
	"best_effort_nftables":     "mode audit: its firewall logs and accepts what it would drop",
}

// auditSubject is s as audit mode runs it: holding the capabilities audit mode grants
// (Docker's default set and the declared ones) rather than the declared ones only.
func auditSubject(s *subject) *subject {
	if s.c.Mode != plan.ModeAudit || s.c.Audit == nil {
		return s
	}
	pr := *s.pr
	caps := slices.Clone(pr.Capabilities)
	for _, c := range s.c.Audit.Capabilities.Permitted {
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	sort.Strings(caps)
	pr.Capabilities = caps
	a := *s
	a.pr = &pr
	return &a
}

// auditFactor overrides a factor for an audit-mode component.
func auditFactor(s *subject, id string, exposed bool, why string) (bool, string) {
	if exposed || s.c.Mode != plan.ModeAudit {
		return exposed, why
	}
	if w, ok := auditExposed[id]; ok {
		return true, w
	}
	return exposed, why
}
