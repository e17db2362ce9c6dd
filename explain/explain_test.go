package explain

import (
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestSyscallsLeaveOutAlwaysTrue: the "argN >= 0" compile adds to an allow (it holds for
// every value) is not shown as a condition, and an allow of nothing else counts as
// allowed outright: the reviewer reads what the allow lets through.
func TestSyscallsLeaveOutAlwaysTrue(t *testing.T) {
	ge0 := func(i uint) plan.SeccompArg { return plan.SeccompArg{Index: i, Op: "ge"} }
	c := &plan.Component{Seccomp: plan.Seccomp{Arch: "amd64", DefaultAction: "errno", DefaultErrno: 1, Rules: []plan.SeccompRule{
		{Syscalls: []string{"read"}, Action: "allow"},
		{Syscalls: []string{"mount"}, Action: "allow", Args: []plan.SeccompArg{ge0(0), ge0(1)}},
		{Syscalls: []string{"setns"}, Action: "allow", Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 5}, ge0(1), {Index: 2, Op: "eq", Value: 1}}},
		{Syscalls: []string{"mount"}, Action: "errno", Errno: 13, Args: []plan.SeccompArg{ge0(0), {Index: 1, Op: "eq", Value: 3}}},
	}}}
	var b strings.Builder
	(&writer{w: &b}).syscalls(c)
	out := b.String()
	for _, want := range []string{"2 allowed outright, 1 only with matching arguments", "setns when arg0 == 0x5 and arg2 == 0x1\n", "mount when arg0 >= 0x0 and arg1 == 0x3 → refused with errno 13"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mount when arg0 >= 0x0 and arg1 >= 0x0") {
		t.Errorf("an always-true allow shown as conditional:\n%s", out)
	}
}
