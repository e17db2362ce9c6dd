package supervisor

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
)

func auditComponent() *plan.Plan {
	return &plan.Plan{Name: "s", Components: []plan.Component{{
		Name: "web", Mode: plan.ModeAudit,
		Audit: &plan.AuditMode{Observe: []string{"openat", "connect", "chown"}},
		Landlock: plan.Landlock{HandledFS: []string{"read_file", "write_file", "truncate"}, HandledNet: []string{"connect_tcp"},
			ConnectTCP: []uint16{5432}, Paths: []plan.PathRule{{Path: "/app", Access: []string{"read_file"}}}},
		Seccomp: plan.Seccomp{Denies: []plan.SeccompDeny{{Syscall: "socket", Why: "profiles/default.yaml:1:1 syscalls.deny[1] socket", Args: true}}},
	}}}
}

// TestObservedDenials: what the policy allows gives nothing; each would-be denial one
// record, not enforced, at its layer.
func TestObservedDenials(t *testing.T) {
	p := auditComponent()
	a, c := audit.NewAttributor(p), &p.Components[0]
	ids := &observe.Creds{UID: [3]uint32{1000, 1000, 1000}, GID: [3]uint32{1000, 1000, 1000}}
	for _, tc := range []struct {
		name  string
		call  observe.Call
		layer string
		key   string
		value any
	}{
		{"an allowed read", observe.Call{Syscall: "openat", Args: [6]uint64{2: unix.O_RDONLY}, Paths: []string{"/app/x"}, Kinds: []observe.FileKind{observe.File}}, "", "", nil},
		{"a write to a read path", observe.Call{Syscall: "openat", Args: [6]uint64{2: unix.O_WRONLY}, Paths: []string{"/app/x"}, Kinds: []observe.FileKind{observe.File}}, LayerFilesystem, "access", "write"},
		{"a declared connect", observe.Call{Syscall: "connect", Sock: &observe.Sock{Family: "inet", Proto: "tcp", Addr: "10.0.0.3", Port: 5432}}, "", "", nil},
		{"an undeclared connect", observe.Call{Syscall: "connect", Sock: &observe.Sock{Family: "inet", Proto: "tcp", Addr: "10.0.0.3", Port: 9}}, audit.LayerNetwork, "direction", "connect"},
		{"a chown to root", observe.Call{Syscall: "chown", Args: [6]uint64{0, 0, 0}, Paths: []string{"/app/x"}, IDs: ids, Owner: &[2]int64{1000, 1000}}, LayerCapability, "capability", "CAP_CHOWN"},
		{"an argument deny", observe.Call{Syscall: "socket", Args: [6]uint64{2, 1, 262}}, audit.LayerSeccomp, "decided_by", "rule"},
	} {
		got := ObservedDenials(a, c, tc.call)
		if tc.layer == "" {
			if len(got) != 0 {
				t.Errorf("%s: %v", tc.name, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: %d records %v", tc.name, len(got), got)
			continue
		}
		d := got[0]
		if d[audit.DetailLayer] != tc.layer || d[tc.key] != tc.value || d[audit.DetailEnforced] != false || d[audit.DetailCount] != 1 {
			t.Errorf("%s: %v", tc.name, d)
		}
	}
}
