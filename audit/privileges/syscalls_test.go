package privileges

import (
	"slices"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestWidenedAllowIsUnconditional: an allow whose every condition is the always-true
// "argN >= 0" the compiler adds (here on arguments 0 and 1, as widening writes an
// unconditional allow beside a deny on argument 1) allows the syscall outright; the
// report lists it as conditional only when a condition binds.
func TestWidenedAllowIsUnconditional(t *testing.T) {
	ge0 := func(i uint) plan.SeccompArg { return plan.SeccompArg{Index: i, Op: "ge"} }
	s := &plan.Seccomp{DefaultAction: "errno", Rules: []plan.SeccompRule{
		{Syscalls: []string{"mount"}, Action: "allow", Args: []plan.SeccompArg{ge0(0), ge0(1)}},
		{Syscalls: []string{"setns"}, Action: "allow", Args: []plan.SeccompArg{ge0(0), {Index: 1, Op: "eq", Value: 3}}},
		{Syscalls: []string{"mount"}, Action: "errno", Errno: 13, Args: []plan.SeccompArg{ge0(0), {Index: 1, Op: "eq", Value: 3}}},
	}}
	got := syscallPrivileges(s, map[string]bool{})
	if !slices.Equal(got.Conditional, []string{"setns"}) {
		t.Errorf("Conditional = %q, want [setns]", got.Conditional)
	}
}
