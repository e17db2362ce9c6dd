package policy

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// callsEnv holds, for the child, the calls to make under the filter: JSON [[nr, a0, a1, a2], ...].
const callsEnv = childEnv + "_CALLS"

// childCalls makes each call and returns its errno (0 for success).
func childCalls(calls string) []int {
	var cs [][4]uint64
	if err := json.Unmarshal([]byte(calls), &cs); err != nil {
		os.Exit(4)
	}
	var out []int
	for _, c := range cs {
		r, _, e := unix.Syscall(uintptr(c[0]), uintptr(c[1]), uintptr(c[2]), uintptr(c[3]))
		if e == 0 && c[0] == unix.SYS_SOCKET {
			unix.Close(int(r))
		}
		out = append(out, int(e))
	}
	return out
}

// probe is a call and what the filter must do with it: allow it (its errno, if any, is
// the kernel's), deny it by a deny rule (EACCES) or leave it to the default (EPERM).
type probe struct {
	args [3]uint64
	want string // "allow", "deny" or "default"
}

// runShapes compiles policy (seccompBase and a syscalls section), runs each probe of
// syscall nr in a child under the program and checks the outcome.
func runShapes(t *testing.T, syscalls string, nr uintptr, probes []probe) {
	t.Helper()
	c := compileOne(t, seccompBase+syscalls)
	checkProbes(t, c.Seccomp.Program, nr, probes)
}

func checkProbes(t *testing.T, prog []byte, nr uintptr, probes []probe) {
	t.Helper()
	var calls [][4]uint64
	for _, p := range probes {
		calls = append(calls, [4]uint64{uint64(nr), p.args[0], p.args[1], p.args[2]})
	}
	b, _ := json.Marshal(calls)
	out, err := runChild(t, prog, callsEnv+"="+string(b))
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var got []int
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(probes) {
		t.Fatalf("child output %q: %v", out, err)
	}
	for i, p := range probes {
		e := syscall.Errno(got[i])
		outcome := "allow"
		switch e {
		case unix.EACCES:
			outcome = "deny"
		case unix.EPERM:
			outcome = "default"
		}
		if outcome != p.want {
			t.Errorf("syscall %d%v: errno %d (%v), want %s", nr, p.args, got[i], e, p.want)
		}
	}
}

// The shapes libseccomp 2.5.4 built wrongly or never, now built, run in the kernel: the
// denied arguments fail with the deny's errno, the allowed ones reach the kernel (setns
// or lseek of a descriptor that is none, or not a namespace: EBADF, EINVAL, ESPIPE), the
// rest get the default. setns (which default does not allow) and lseek (which it does)
// stand for any syscall: the shapes are the same for every one.
func TestSeccompShapesInKernel(t *testing.T) {
	const bad = 9999 // no such descriptor
	cases := []struct {
		name, syscalls string
		probes         []probe
	}{{
		// review24: two conditional allows behind the widening "a0 >= 0" looped forever.
		"setns: two conditional allows and a deny on another argument",
		`  allow:
    - {names: [setns], args: [{index: 1, op: eq, value: 2}, {index: 2, op: eq, value: 0}]}
    - {names: [setns], args: [{index: 2, op: eq, value: 2}]}
  deny:
    - {names: [setns], args: [{index: 0, op: eq, value: 9}]}
`, []probe{{[3]uint64{bad, 2, 0}, "allow"}, {[3]uint64{bad, 7, 2}, "allow"}, {[3]uint64{9, 2, 0}, "deny"}, {[3]uint64{9, 7, 2}, "deny"}, {[3]uint64{bad, 7, 0}, "default"}},
	}, {
		// review24: libseccomp refused this with a bare "file exists"; a deny that
		// always holds takes the allow back.
		"an always-true deny of an unconditional allow",
		`  allow: [lseek]
  deny:
    - {names: [lseek], args: [{index: 0, op: ge, value: 0}]}
`, []probe{{[3]uint64{bad, 0, 0}, "default"}, {[3]uint64{0, 0, 0}, "default"}},
	}, {
		// The allow's conditions end where the deny's go on: libseccomp dropped the deny.
		"setns: an allow that is the start of a deny",
		`  allow:
    - {names: [setns], args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: 5}]}
  deny:
    - {names: [setns], args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: 5}, {index: 2, op: masked_eq, mask: 0xf, value: 1}]}
`, []probe{{[3]uint64{5, 0, 0}, "allow"}, {[3]uint64{5, 0, 1}, "deny"}, {[3]uint64{1<<32 | 5, 0, 0x11}, "deny"}, {[3]uint64{6, 0, 1}, "default"}},
	}, {
		// The allow compares a later argument than the deny where they part.
		"setns: an allow on a later argument than the deny",
		`  allow:
    - {names: [setns], args: [{index: 0, op: eq, value: 5}, {index: 2, op: eq, value: 1}]}
  deny:
    - {names: [setns], args: [{index: 0, op: eq, value: 5}, {index: 1, op: eq, value: 3}]}
`, []probe{{[3]uint64{5, 3, 1}, "deny"}, {[3]uint64{5, 4, 1}, "allow"}, {[3]uint64{5, 3, 0}, "deny"}, {[3]uint64{6, 3, 1}, "default"}},
	}, {
		// The shapes the profiles have: a lower bound and masked values on argument 0
		// of an unconditional allow (cli's socket), a deny on a later argument.
		"cli's shapes",
		`  allow: [lseek]
  deny:
    - {names: [lseek], args: [{index: 0, op: gt, value: 100000}]}
    - {names: [lseek], args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: 7}]}
    - {names: [lseek], args: [{index: 2, op: masked_eq, mask: 0xffffffff, value: 3}]}
`, []probe{{[3]uint64{bad, 0, 0}, "allow"}, {[3]uint64{100001, 0, 0}, "deny"}, {[3]uint64{1 << 32, 0, 0}, "deny"}, {[3]uint64{7, 0, 0}, "deny"}, {[3]uint64{bad, 0, 3}, "deny"}, {[3]uint64{bad, 0, 1<<32 | 3}, "deny"}, {[3]uint64{bad, 0, 4}, "allow"}},
	}}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			nr := uintptr(unix.SYS_LSEEK)
			if strings.HasPrefix(tc.name, "setns") {
				nr = unix.SYS_SETNS
			}
			runShapes(t, "syscalls:\n  extends: default\n"+tc.syscalls, nr, tc.probes)
		})
	}
}

// learn/testdata/cache.learned.yaml (what `confine learn` wrote for the cache example)
// allows socket for AF_INET and keeps the service profile's deny of raw AF_INET sockets:
// libseccomp dropped that deny, so a raw socket was allowed. Run in the BPF VM: that
// filter (host-runtime's, without rseq) does not host this test binary.
func TestSeccompLearnedKeepsRawDeny(t *testing.T) {
	s, err := Open(os.DirFS("../learn/testdata"), "cache.learned.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	prog := p.Components[0].Seccomp.Program
	for _, tc := range []struct {
		args []uint64
		want uint32
	}{
		{[]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}, retErrno | uint32(unix.EACCES)},
		{[]uint64{unix.AF_INET, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP}, retErrno | uint32(unix.EACCES)},
		{[]uint64{1<<32 | unix.AF_INET, unix.SOCK_RAW, 0}, retErrno | uint32(unix.EACCES)},
		{[]uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, retAllow},
		{[]uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}, retAllow},
		{[]uint64{unix.AF_INET6, unix.SOCK_STREAM, 0}, retErrno | 1},
	} {
		if got := runFilter(t, prog, auditArchAMD64, nr["socket"], tc.args...); got != tc.want {
			t.Errorf("socket%v: got %#x, want %#x", tc.args, got, tc.want)
		}
	}
}
