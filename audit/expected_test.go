package audit

import (
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestClassify: the refusals the built-in profile makes by design are expected, with a
// reason that says so; the same syscall refused by the component's own rule, an
// undeclared bind of a real port and a seccomp log are not; a log is not enforced.
func TestClassify(t *testing.T) {
	c := plan.Component{Name: "api"}
	c.Seccomp.DefaultAction = "errno"
	c.Seccomp.Denies = []plan.SeccompDeny{
		{Syscall: "clone3", Why: "profiles/default.yaml:182:7 syscalls.deny[0] clone3"},
		{Syscall: "socket", Why: "profiles/default.yaml:188:7 syscalls.deny[1] socket", Args: true},
		{Syscall: "ptrace", Why: "api.yaml:9:7 syscalls.deny[0] ptrace"},
	}
	own := c
	own.Name = "own"
	own.Seccomp.Denies = []plan.SeccompDeny{{Syscall: "clone3", Why: "own.yaml:9:7 syscalls.deny[0] clone3"}}
	a := NewAttributor(&plan.Plan{Name: "shop", Components: []plan.Component{c, own}})
	bind0 := a.Landlock("api", []string{"net.bind_tcp"}, "", 0)
	bind0["saddr"] = "::1"
	bindAny := a.Landlock("api", []string{"net.bind_tcp"}, "", 0) // the kernel leaves :: out
	bindPublic := a.Landlock("api", []string{"net.bind_tcp"}, "", 0)
	bindPublic["saddr"] = "10.0.0.2"
	for _, tc := range []struct {
		name               string
		d                  map[string]any
		expected, enforced bool
	}{
		{"clone3", a.Seccomp("api", "clone3", "errno"), true, true},
		{"mptcp", a.Seccomp("api", "socket", "errno"), true, true},
		{"ptrace", a.Seccomp("api", "ptrace", "errno"), false, true},
		{"own clone3", a.Seccomp("own", "clone3", "errno"), false, true},
		{"logged mount", a.Seccomp("api", "mount", "log"), false, false},
		{"bind 0 on ::1", bind0, true, true},
		{"bind 0 on ::", bindAny, false, true},
		{"bind 0 on 10.0.0.2", bindPublic, false, true},
		{"bind 8080", a.Landlock("api", []string{"net.bind_tcp"}, "", 8080), false, true},
		{"write", a.Landlock("api", []string{"fs.write_file"}, "/etc/x", 0), false, true},
	} {
		a.Classify(tc.d)
		reason := tc.d[DetailReason].(string)
		if tc.d[DetailExpected] != tc.expected || tc.d[DetailEnforced] != tc.enforced || tc.d[DetailCount] != 1 ||
			strings.Contains(reason, "expected:") != tc.expected {
			t.Errorf("%s: %v", tc.name, tc.d)
		}
	}
	d := map[string]any{DetailLayer: LayerNetwork, DetailCount: 3}
	if a.Classify(d); d[DetailCount] != 3 {
		t.Errorf("a count was overwritten: %v", d)
	}
}
