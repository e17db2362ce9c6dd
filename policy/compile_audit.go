package policy

import (
	"slices"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// The component modes (Component.Mode); "" is enforce.
const (
	ModeEnforce = "enforce"
	ModeAudit   = plan.ModeAudit
)

// observedSyscalls are the syscalls audit mode hands to the supervisor (seccomp user
// notification, as nsjail's unotify does) because what they touch is what Landlock or
// a capability check would have decided: paths and access (Landlock is off in audit
// mode), TCP ports (Landlock's bind and connect rules) and ids (CAP_CHOWN, CAP_SETUID,
// CAP_SETGID). The stat and access family is left out: Landlock does not restrict it.
var observedSyscalls = []string{
	"open", "openat", "openat2", "creat", "execve", "execveat", "truncate",
	"mkdir", "mkdirat", "mknod", "mknodat", "unlink", "unlinkat", "rmdir",
	"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
	"bind", "connect",
	"chown", "lchown", "fchown", "fchownat",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
}

// permissiveCaps are the capabilities an audit-mode component runs with: Docker's
// default set, what a program written for containers expects to have. Not every
// capability: with CAP_SYS_ADMIN or CAP_NET_ADMIN a program takes paths (mounts, its
// own firewall) that no policy confine writes can grant, and learning them would teach
// nothing usable.
var permissiveCaps = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// compileAudit turns an audit-mode component's Plan from denying into observing: the
// capability sets to run with, the firewall's log-and-accept, and no Landlock (which
// has no permissive mode), so its requirements go. compileSeccomp has already made the
// filter log and notify (auditSeccomp). The declarations stay in the Plan: observations
// are compared with them.
func compileAudit(c *Component, cp *plan.Component) {
	if c.Mode != ModeAudit {
		return
	}
	cp.Mode = ModeAudit
	if cp.Audit == nil {
		cp.Audit = &plan.AuditMode{Observe: []string{}}
	}
	caps := slices.Clone(permissiveCaps)
	for _, d := range cp.Capabilities.Bounding {
		if !slices.Contains(caps, d) {
			caps = append(caps, d)
		}
	}
	sort.Strings(caps)
	set := plan.Capabilities{Bounding: caps, Permitted: caps, Effective: caps, Inheritable: []string{}, Ambient: []string{}}
	if cp.Process.UID != 0 {
		set.Inheritable, set.Ambient = caps, caps
	}
	cp.Audit.Capabilities = set
	cp.Net.Firewall.Audit = true
	cp.Requires = slices.DeleteFunc(cp.Requires, func(r plan.Requirement) bool { return r.Mechanism == "landlock" })
	cp.Requires = append(cp.Requires, plan.Requirement{Mechanism: "seccomp",
		Why: "audit mode: user notification with continue (Linux 5.5) observes paths, ports and ids"})
}

// auditSeccomp makes an enforcing rule set observe. What the policy allows outright
// stays allowed, except the observed syscalls, which notify the supervisor; argument
// denies notify too (the supervisor records them with their arguments and lets them
// continue); plain errno denies go, so that the default, log, lets them through and the
// kernel records them. The observed syscalls are those allowed without conditions: one
// the policy does not allow is logged by the kernel as a seccomp denial instead.
func auditSeccomp(rules []plan.SeccompRule) ([]plan.SeccompRule, []string) {
	plain := map[string]bool{}
	touched := map[string]bool{}
	for _, r := range rules {
		for _, n := range r.Syscalls {
			if r.Action == "allow" && len(r.Args) == 0 {
				plain[n] = true
			} else {
				touched[n] = true
			}
		}
	}
	observe := []string{}
	for _, n := range observedSyscalls {
		if plain[n] && !touched[n] {
			observe = append(observe, n)
		}
	}
	var out []plan.SeccompRule
	for _, r := range rules {
		switch {
		case r.Action == "allow" && len(r.Args) == 0:
			r.Syscalls = slices.DeleteFunc(slices.Clone(r.Syscalls), func(n string) bool { return slices.Contains(observe, n) })
			if len(r.Syscalls) == 0 {
				continue
			}
		case r.Action == "errno" && len(r.Args) > 0:
			r.Action, r.Errno = "notify", 0
		case r.Action == "errno":
			continue
		}
		out = append(out, r)
	}
	if len(observe) > 0 {
		sorted := slices.Sorted(slices.Values(observe))
		out = append(out, plan.SeccompRule{Syscalls: sorted, Action: "notify"})
	}
	return out, slices.Sorted(slices.Values(observe))
}
