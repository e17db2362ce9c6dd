package policy

import (
	"encoding/binary"
	"testing"
	"testing/fstest"

	"golang.org/x/net/bpf"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Seccomp return values (linux/seccomp.h), upper 16 bits.
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
	auditArchAMD64 = 0xc000003e
)

// x86_64 syscall numbers used below.
var nr = map[string]int32{"read": 0, "ioctl": 16, "socket": 41, "clone": 56, "ptrace": 101, "unshare": 272, "clone3": 435, "mount": 165}

// runFilter runs a seccomp program on a crafted seccomp_data in golang.org/x/net/bpf's VM.
// The VM loads words big-endian, so each 32-bit word is stored big-endian at the offset
// the kernel's (little-endian) layout gives it.
func runFilter(t *testing.T, prog []byte, arch uint32, sysno int32, args ...uint64) uint32 {
	t.Helper()
	var raw []bpf.Instruction
	for i := 0; i+8 <= len(prog); i += 8 {
		raw = append(raw, bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(prog[i:]),
			Jt: prog[i+2], Jf: prog[i+3],
			K: binary.LittleEndian.Uint32(prog[i+4:]),
		}.Disassemble())
	}
	vm, err := bpf.NewVM(raw)
	if err != nil {
		t.Fatalf("program does not verify: %v", err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], uint32(sysno))
	binary.BigEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(a>>32))
	}
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ret)
}

func compileOne(t *testing.T, yaml string) *plan.Component {
	t.Helper()
	fsys := fstest.MapFS{"c.yaml": {Data: []byte(yaml)}}
	s, err := Open(fsys, "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return &p.Components[0]
}

const seccompBase = `version: 1
name: t
run: {command: [/bin/true]}
filesystem: {read: [/bin]}
`

func TestSeccompProgramSemantics(t *testing.T) {
	c := compileOne(t, seccompBase+`syscalls:
  extends: default
  allow: [ptrace]
  deny:
    - ptrace
    - names: [read]
      args: [{index: 0, op: eq, value: 42}]
      errno: ENOSYS
`)
	const (
		AF_INET, SOCK_STREAM, IPPROTO_MPTCP = 2, 1, 262
		TIOCSTI, TIOCGWINSZ                 = 0x5412, 0x5413
	)
	cases := []struct {
		name  string
		arch  uint32
		sysno int32
		args  []uint64
		want  uint32
	}{
		{"read allowed", auditArchAMD64, nr["read"], []uint64{0}, retAllow},
		{"read fd 42 denied with its errno", auditArchAMD64, nr["read"], []uint64{42}, retErrno | 38},
		{"ptrace: deny wins over allow", auditArchAMD64, nr["ptrace"], nil, retErrno | 1},
		{"mount is not in the default", auditArchAMD64, nr["mount"], nil, retErrno | 1},
		{"unshare is not in the default", auditArchAMD64, nr["unshare"], nil, retErrno | 1},
		{"clone3 gets ENOSYS so libc falls back", auditArchAMD64, nr["clone3"], nil, retErrno | 38},
		{"clone for a thread", auditArchAMD64, nr["clone"], []uint64{0x3d0f00}, retAllow},
		{"clone with CLONE_NEWUSER", auditArchAMD64, nr["clone"], []uint64{0x10000000}, retErrno | 1},
		{"tcp socket", auditArchAMD64, nr["socket"], []uint64{AF_INET, SOCK_STREAM, 0}, retAllow},
		{"mptcp socket", auditArchAMD64, nr["socket"], []uint64{AF_INET, SOCK_STREAM, IPPROTO_MPTCP}, retErrno | 93},
		{"mptcp socket with high bits set", auditArchAMD64, nr["socket"], []uint64{AF_INET, SOCK_STREAM, 1<<32 | IPPROTO_MPTCP}, retErrno | 93},
		{"ioctl TIOCGWINSZ", auditArchAMD64, nr["ioctl"], []uint64{1, TIOCGWINSZ}, retAllow},
		{"ioctl TIOCSTI", auditArchAMD64, nr["ioctl"], []uint64{1, TIOCSTI}, retErrno | 13},
		{"ioctl TIOCSTI with high bits set", auditArchAMD64, nr["ioctl"], []uint64{1, 1<<32 | TIOCSTI}, retErrno | 13},
		{"i386 ABI is killed", 0x40000003, 3, nil, retKillProcess},
		{"x32 ABI is killed", auditArchAMD64, 0x40000000 | nr["read"], []uint64{0}, retKillProcess},
	}
	for _, tc := range cases {
		if got := runFilter(t, c.Seccomp.Program, tc.arch, tc.sysno, tc.args...); got != tc.want {
			t.Errorf("%s: got %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// The cli profile refuses network sockets on argument 0 while default's MPTCP deny is on
// argument 2: every deny must win over the allow, whatever its argument.
func TestSeccompDeniesOnSeveralArguments(t *testing.T) {
	c := compileOne(t, seccompBase+"syscalls: {extends: cli}\n")
	const AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM, IPPROTO_MPTCP = 1, 2, 10, 1, 262
	for _, tc := range []struct {
		name string
		args []uint64
		deny bool
	}{
		{"unix socket", []uint64{AF_UNIX, SOCK_STREAM, 0}, false},
		{"inet socket", []uint64{AF_INET, SOCK_STREAM, 0}, true},
		{"inet6 socket", []uint64{AF_INET6, SOCK_STREAM, 0}, true},
		{"inet socket, high bits", []uint64{1<<32 | AF_INET, SOCK_STREAM, 0}, true},
		{"unix mptcp", []uint64{AF_UNIX, SOCK_STREAM, IPPROTO_MPTCP}, true},
	} {
		got := runFilter(t, c.Seccomp.Program, auditArchAMD64, nr["socket"], tc.args...)
		if denied := got != retAllow; denied != tc.deny {
			t.Errorf("%s: got %#x, want denied=%v", tc.name, got, tc.deny)
		}
	}
}

// Denies on an argument before the one a conditional allow compares, a deny equal to an
// allow, and one deny repeated with another errno: all must compile and hold.
func TestSeccompDeniesAgainstConditionalAllows(t *testing.T) {
	c := compileOne(t, seccompBase+`syscalls:
  extends: cli
  allow:
    - names: [ioctl]
      args: [{index: 1, op: eq, value: FIONREAD}]
  deny:
    - names: [ioctl]
      args: [{index: 0, op: eq, value: 5}]
    - names: [personality]
      args: [{index: 0, op: eq, value: 8}]
    - names: [socket]
      args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: AF_INET}]
      errno: EAFNOSUPPORT
`)
	const FIONREAD, AF_INET, SOCK_STREAM = 0x541b, 2, 1
	for _, tc := range []struct {
		name  string
		sysno int32
		args  []uint64
		want  uint32
	}{
		{"ioctl FIONREAD on fd 4", nr["ioctl"], []uint64{4, FIONREAD}, retAllow},
		{"ioctl FIONREAD on fd 5", nr["ioctl"], []uint64{5, FIONREAD}, retErrno | 13},
		{"personality 8 taken back", 135, []uint64{8}, retErrno | 13},
		{"personality 0 still allowed", 135, []uint64{0}, retAllow},
		{"inet socket: the file's errno wins", nr["socket"], []uint64{AF_INET, SOCK_STREAM, 0}, retErrno | 97},
	} {
		if got := runFilter(t, c.Seccomp.Program, auditArchAMD64, tc.sysno, tc.args...); got != tc.want {
			t.Errorf("%s: got %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

func TestSeccompViolationActions(t *testing.T) {
	for action, want := range map[string]uint32{"kill": retKillProcess, "log": retLog, "errno": retErrno | 1} {
		c := compileOne(t, seccompBase+"syscalls: {extends: static, on_violation: "+action+"}\n")
		if got := runFilter(t, c.Seccomp.Program, auditArchAMD64, nr["ptrace"]); got != want {
			t.Errorf("on_violation %s: ptrace got %#x, want %#x", action, got, want)
		}
		if got := runFilter(t, c.Seccomp.Program, auditArchAMD64, nr["read"], 0); got != retAllow {
			t.Errorf("on_violation %s: read got %#x, want allow", action, got)
		}
	}
}
