//go:build cgo

// Package seccomp turns the seccomp section of a Plan into a BPF program with libseccomp.
// It is the project's only cgo. Programs are exported, never loaded here: the init stage
// loads the bytes, so the child never parses or compiles a filter.
package seccomp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"

	"github.com/confine-sandbox/confine/policy/plan"
)

// mu serialises libseccomp use: its name resolution and filter building are not
// documented as thread-safe.
var mu sync.Mutex

// NativeArch is libseccomp's name for this machine's architecture, e.g. "amd64".
func NativeArch() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	a, err := libseccomp.GetNativeArch()
	if err != nil {
		return "", fmt.Errorf("seccomp: native architecture: %w", err)
	}
	return a.String(), nil
}

// Known reports whether libseccomp knows name as a syscall of the native architecture.
func Known(name string) bool {
	_, ok := resolve(name)
	return ok
}

func resolve(name string) (libseccomp.ScmpSyscall, bool) {
	mu.Lock()
	defer mu.Unlock()
	n, err := libseccomp.GetSyscallFromName(name)
	// Names of other architectures resolve to negative pseudo-numbers; those are not here.
	return n, err == nil && int(n) >= 0
}

var ops = map[string]libseccomp.ScmpCompareOp{
	"eq": libseccomp.CompareEqual, "ne": libseccomp.CompareNotEqual,
	"lt": libseccomp.CompareLess, "le": libseccomp.CompareLessOrEqual,
	"gt": libseccomp.CompareGreater, "ge": libseccomp.CompareGreaterEqual,
	"masked_eq": libseccomp.CompareMaskedEqual,
}

func action(name string, errno int) (libseccomp.ScmpAction, error) {
	switch name {
	case "allow":
		return libseccomp.ActAllow, nil
	case "errno":
		return libseccomp.ActErrno.SetReturnCode(int16(errno)), nil
	case "kill_process":
		return libseccomp.ActKillProcess, nil
	case "log":
		return libseccomp.ActLog, nil
	case "notify":
		return libseccomp.ActNotify, nil
	}
	return 0, fmt.Errorf("seccomp: unknown action %q", name)
}

// Recipe names what Build's output depends on besides the Plan's seccomp section: the
// library's version and Build's own settings. A kept program (policy.ProgramStore) is
// keyed by it, so a new libseccomp or a change of the settings below builds anew; change
// the settings' part with them.
func Recipe() string {
	maj, mnr, mic := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("libseccomp %d.%d.%d; nnp off, bad arch kill_process, optimize %d, denies first in tree order", maj, mnr, mic, optimize)
}

// optimize is libseccomp's binary-tree optimisation (log n syscall lookups).
const optimize = 2

// Build compiles s.Rules into a BPF program for the native architecture, with libseccomp's
// binary-tree optimisation. Syscalls of other architectures (the i386 and x32 ABIs on
// x86_64) hit the bad-architecture action, which kills the process.
func Build(s *plan.Seccomp) ([]byte, error) {
	def, err := action(s.DefaultAction, s.DefaultErrno)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	defer watch()()
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: new filter: %w", err)
	}
	defer f.Release()
	// The init stage sets no_new_privs itself, in its place in the order; the filter
	// must not depend on libseccomp doing it.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// The whole process dies on a foreign ABI, not only the calling thread.
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if err := f.SetOptimize(optimize); err != nil {
		return nil, fmt.Errorf("seccomp: binary tree optimisation: %w", err)
	}
	for _, r := range order(s.Rules) {
		nowAdding(r.Syscalls)
		if err := addRule(f, r); err != nil {
			return nil, err
		}
	}
	return export(f)
}

func addRule(f *libseccomp.ScmpFilter, r plan.SeccompRule) error {
	act, err := action(r.Action, r.Errno)
	if err != nil {
		return err
	}
	var conds []libseccomp.ScmpCondition
	for _, a := range r.Args {
		vals := []uint64{a.Value}
		if a.Op == "masked_eq" {
			vals = []uint64{a.Mask, a.Value}
		}
		c, err := libseccomp.MakeCondition(a.Index, ops[a.Op], vals...)
		if err != nil {
			return fmt.Errorf("seccomp: condition on arg %d: %w", a.Index, err)
		}
		conds = append(conds, c)
	}
	for _, name := range r.Syscalls {
		n, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			return fmt.Errorf("seccomp: unknown syscall %q", name)
		}
		if len(conds) == 0 {
			err = f.AddRule(n, act)
		} else {
			err = f.AddRuleConditional(n, act, conds)
		}
		if err != nil {
			return fmt.Errorf("seccomp: rule for %s: %w", name, err)
		}
	}
	return nil
}

// export writes the program through a pipe: ExportBPFMem needs libseccomp 2.6.
func export(f *libseccomp.ScmpFilter) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("seccomp: export: %w", err)
	}
	defer r.Close()
	var buf bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(&buf, r)
		done <- err
	}()
	err = f.ExportBPF(w)
	w.Close()
	if cerr := <-done; err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("seccomp: export: %w", err)
	}
	return buf.Bytes(), nil
}

// SyscallName is the name of syscall number nr on the native architecture, as audit
// records report it; "syscall NR" when libseccomp does not know it.
func SyscallName(nr int) string {
	mu.Lock()
	defer mu.Unlock()
	if name, err := libseccomp.ScmpSyscall(nr).GetName(); err == nil {
		return name
	}
	return fmt.Sprintf("syscall %d", nr)
}
