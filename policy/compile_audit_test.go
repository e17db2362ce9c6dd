package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

const retNotify = 0x7fc00000 // SECCOMP_RET_USER_NOTIF

// TestAuditModeProgram: under mode: audit the program lets nothing be refused. What the
// policy does not allow is logged (ptrace, unshare, clone3's ENOSYS deny), the argument
// denies and the observed syscalls go to the supervisor, and the rest is allowed as
// under enforce.
func TestAuditModeProgram(t *testing.T) {
	c := compileOne(t, seccompBase+"mode: audit\nsyscalls: {extends: default, deny: [ptrace]}\ncapabilities: [NET_ADMIN]\n")
	run := func(name string, args ...uint64) uint32 {
		return runFilter(t, c.Seccomp.Program, auditArchAMD64, nr[name], args...) & 0xffff0000
	}
	for name, want := range map[string]uint32{"read": retAllow, "ptrace": retLog, "unshare": retLog, "clone3": retLog, "mount": retLog} {
		if got := run(name, 0); got != want {
			t.Errorf("%s: %#x, want %#x", name, got, want)
		}
	}
	const mptcp = 262
	if got := run("socket", 2, 1, mptcp); got != retNotify {
		t.Errorf("an MPTCP socket (an argument deny): %#x, want notify", got)
	}
	if got := run("socket", 2, 1, 6); got != retAllow {
		t.Errorf("a TCP socket: %#x, want allow", got)
	}
	for _, sc := range []string{"openat", "connect", "bind", "execve", "setuid", "unlinkat"} {
		if !slices.Contains(c.Audit.Observe, sc) {
			t.Errorf("Audit.Observe lacks %s: %v", sc, c.Audit.Observe)
		}
	}
	if got := runFilter(t, c.Seccomp.Program, auditArchAMD64, 257, 0); got&0xffff0000 != retNotify { // openat
		t.Errorf("openat: %#x, want notify", got)
	}
	if c.Mode != plan.ModeAudit || c.Seccomp.DefaultAction != "log" || !c.Net.Firewall.Audit {
		t.Errorf("mode %q, default %q, firewall audit %v", c.Mode, c.Seccomp.DefaultAction, c.Net.Firewall.Audit)
	}
	// The declarations stay, for the comparison; the run gets the permissive set.
	if !slices.Equal(c.Capabilities.Permitted, []string{"NET_ADMIN"}) || !slices.Contains(c.Audit.Capabilities.Bounding, "CHOWN") ||
		!slices.Contains(c.Audit.Capabilities.Bounding, "NET_ADMIN") || slices.Contains(c.Audit.Capabilities.Bounding, "SYS_ADMIN") {
		t.Errorf("capabilities %v, audit mode's %v", c.Capabilities, c.Audit.Capabilities)
	}
	if len(c.Landlock.Paths) == 0 || slices.ContainsFunc(c.Requires, func(r plan.Requirement) bool { return r.Mechanism == "landlock" }) {
		t.Errorf("Landlock rules %d, requirements %v", len(c.Landlock.Paths), c.Requires)
	}
	if !slices.ContainsFunc(c.Seccomp.Denies, func(d plan.SeccompDeny) bool { return d.Syscall == "ptrace" }) {
		t.Error("the deny rules are gone: a denial could not name its rule")
	}
}

// TestAuditModeIsTheComponentsOwn: enforce is the default and compiles as before (the
// same program as without the key); another component's audit mode does not share it.
func TestAuditModeIsTheComponentsOwn(t *testing.T) {
	plain := compileOne(t, seccompBase+"syscalls: {extends: default}\n")
	enforce := compileOne(t, seccompBase+"mode: enforce\nsyscalls: {extends: default}\n")
	audit := compileOne(t, seccompBase+"mode: audit\nsyscalls: {extends: default}\n")
	if enforce.Mode != "" || enforce.Audit != nil || enforce.Seccomp.ProgramSHA256 != plain.Seccomp.ProgramSHA256 || enforce.Net.Firewall.Audit {
		t.Errorf("mode: enforce changed the Plan")
	}
	if audit.Seccomp.ProgramSHA256 == plain.Seccomp.ProgramSHA256 {
		t.Error("audit mode shares the enforcing program")
	}
}

func TestAuditSeccompObservesOnlyPlainAllows(t *testing.T) {
	rules := []plan.SeccompRule{
		{Syscalls: []string{"connect", "openat", "read"}, Action: "allow"},
		{Syscalls: []string{"bind"}, Action: "allow", Args: []plan.SeccompArg{{Index: 0, Op: "ge"}}},
		{Syscalls: []string{"bind"}, Action: "errno", Errno: 13, Args: []plan.SeccompArg{{Index: 1, Op: "eq", Value: 9}}},
		{Syscalls: []string{"clone3"}, Action: "errno", Errno: 38},
	}
	out, observe := auditSeccomp(rules)
	if !slices.Equal(observe, []string{"connect", "openat"}) {
		t.Errorf("observe %v: bind has argument rules, read is not watched", observe)
	}
	var text []string
	for _, r := range out {
		text = append(text, r.Action+":"+strings.Join(r.Syscalls, ","))
	}
	want := []string{"allow:read", "allow:bind", "notify:bind", "notify:connect,openat"}
	if !slices.Equal(text, want) {
		t.Errorf("rules %v, want %v", text, want)
	}
}
