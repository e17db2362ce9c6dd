package policy

import "testing"

// Under on_violation: log a deny with args still fails (docs/policy.md): where the
// syscall is allowed under no other arguments (never allowed, or every allow taken back
// because a deny covers it) the deny is kept, not left to the default, which allows.
func TestSeccompLogKeepsArgDenies(t *testing.T) {
	c := compileOne(t, seccompBase+`syscalls:
  on_violation: log
  allow:
    - read
    - {names: [mount], args: [{index: 0, op: eq, value: 5}, {index: 1, op: eq, value: 1}]}
  deny:
    - {names: [mount], args: [{index: 0, op: eq, value: 5}]}
    - {names: [unshare], args: [{index: 0, op: eq, value: 9}], errno: ENOSYS}
`)
	for _, tc := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"mount", []uint64{5, 1}, retErrno | 13},
		{"mount", []uint64{5, 2}, retErrno | 13},
		{"mount", []uint64{6, 1}, retLog},
		{"unshare", []uint64{9}, retErrno | 38},
		{"unshare", []uint64{8}, retLog},
	} {
		if got := runFilter(t, c.Seccomp.Program, auditArchAMD64, nr[tc.name], tc.args...); got != tc.want {
			t.Errorf("%s%v: %#x, want %#x", tc.name, tc.args, got, tc.want)
		}
	}
}

// Under on_violation: kill, and for a deny that names its errno under any on_violation, a
// deny with args of a syscall left with no allow keeps its errno too: the default would
// kill the process, or fail with EPERM where the rule says ENOSYS (a program that probes
// for a feature falls back on ENOSYS only).
func TestSeccompKeepsNamedAndKillDenies(t *testing.T) {
	for mode, want := range map[string][2]uint32{"kill": {retErrno | 13, retKillProcess}, "errno": {retErrno | 1, retErrno | 1}} {
		c := compileOne(t, seccompBase+`syscalls:
  on_violation: `+mode+`
  allow:
    - read
    - {names: [mount], args: [{index: 0, op: eq, value: 5}, {index: 1, op: eq, value: 1}]}
  deny:
    - {names: [mount], args: [{index: 0, op: eq, value: 5}]}
    - {names: [unshare], args: [{index: 0, op: eq, value: 9}], errno: ENOSYS}
`)
		for _, tc := range []struct {
			name string
			args []uint64
			want uint32
		}{
			{"mount", []uint64{5, 1}, want[0]},
			{"mount", []uint64{6, 1}, want[1]},
			{"unshare", []uint64{9}, retErrno | 38},
			{"unshare", []uint64{8}, want[1]},
		} {
			if got := runFilter(t, c.Seccomp.Program, auditArchAMD64, nr[tc.name], tc.args...); got != tc.want {
				t.Errorf("%s: %s%v: %#x, want %#x", mode, tc.name, tc.args, got, tc.want)
			}
		}
	}
}
