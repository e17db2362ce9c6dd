package export

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confine-sandbox/confine/policy/plan"
)

// archs maps libseccomp's native architecture names to the OCI ones.
var archs = map[string]specs.Arch{
	"amd64": specs.ArchX86_64, "x86": specs.ArchX86, "arm64": specs.ArchAARCH64, "arm": specs.ArchARM,
	"ppc64le": specs.ArchPPC64LE, "s390x": specs.ArchS390X, "riscv64": specs.ArchRISCV64,
	"mips64": specs.ArchMIPS64, "mipsel64": specs.ArchMIPSEL64, "loong64": specs.ArchLOONGARCH64,
}

var ops = map[string]specs.LinuxSeccompOperator{
	"eq": specs.OpEqualTo, "ne": specs.OpNotEqual, "lt": specs.OpLessThan, "le": specs.OpLessEqual,
	"gt": specs.OpGreaterThan, "ge": specs.OpGreaterEqual, "masked_eq": specs.OpMaskedEqual,
}

// ociAction is the OCI name of a Plan seccomp action.
func ociAction(action string) (specs.LinuxSeccompAction, error) {
	switch action {
	case "allow":
		return specs.ActAllow, nil
	case "errno":
		return specs.ActErrno, nil
	case "kill_process":
		return specs.ActKillProcess, nil
	case "log":
		return specs.ActLog, nil
	}
	return "", fmt.Errorf("export: unknown seccomp action %q", action)
}

// ociSeccomp is the Plan's filter as OCI seccomp JSON, the format runc reads in
// linux.seccomp and the kubelet in a Localhost profile. Each Plan rule is one syscall
// entry, its conditions a conjunction over distinct argument indices (validation allows
// one comparison per argument): runc ORs conditions that repeat an index and crun splits
// them, so only distinct indices mean the same to both (runc#2735).
func ociSeccomp(s *plan.Seccomp) (*specs.LinuxSeccomp, error) {
	def, err := ociAction(s.DefaultAction)
	if err != nil {
		return nil, err
	}
	out := &specs.LinuxSeccomp{DefaultAction: def}
	if s.DefaultAction == "errno" {
		e := uint(s.DefaultErrno)
		out.DefaultErrnoRet = &e
	}
	if a, ok := archs[s.Arch]; ok {
		out.Architectures = []specs.Arch{a}
	} else {
		return nil, fmt.Errorf("export: seccomp architecture %q has no OCI name", s.Arch)
	}
	for _, r := range s.Rules {
		act, err := ociAction(r.Action)
		if err != nil {
			return nil, err
		}
		sc := specs.LinuxSyscall{Names: append([]string{}, r.Syscalls...), Action: act}
		if r.Action == "errno" {
			e := uint(r.Errno)
			sc.ErrnoRet = &e
		}
		seen := map[uint]bool{}
		for _, a := range r.Args {
			if seen[a.Index] {
				return nil, fmt.Errorf("export: a seccomp rule of %v compares argument %d twice; runtimes would OR the comparisons", r.Syscalls, a.Index)
			}
			seen[a.Index] = true
			op, ok := ops[a.Op]
			if !ok {
				return nil, fmt.Errorf("export: unknown seccomp operator %q", a.Op)
			}
			arg := specs.LinuxSeccompArg{Index: a.Index, Value: a.Value, Op: op}
			if a.Op == "masked_eq" { // runc passes (Value, ValueTwo) to libseccomp as (mask, datum)
				arg.Value, arg.ValueTwo = a.Mask, a.Value
			}
			sc.Args = append(sc.Args, arg)
		}
		out.Syscalls = append(out.Syscalls, sc)
	}
	return out, nil
}
