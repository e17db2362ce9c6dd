package sandbox

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loadSeccompBPF loads the Plan's compiled program on this thread only: exec keeps just
// this thread, and the Go runtime's other threads must not meet the filter before it
// (under on_violation: kill one of their syscalls would end the sandbox early).
// no_new_privs is already set, as the kernel requires without CAP_SYS_ADMIN.
// SECCOMP_FILTER_FLAG_LOG (Linux 4.14) has the kernel log every action but allow, errno
// included, as an AUDIT_SECCOMP record (kernel/seccomp.c seccomp_log; each action only if
// /proc/sys/kernel/seccomp/actions_logged lists it): ListenKernelAudit reads them. Without
// the flag only kill and log actions are logged, and a denied syscall leaves no trace.
func loadSeccompBPF(cfg *initConfig) error {
	prog := cfg.Component.Seccomp.Program
	if len(prog) == 0 || len(prog)%8 != 0 {
		return errors.New("the Plan holds no valid seccomp program")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if cfg.Component.Audit != nil {
		return loadObservingFilter(&fprog, prog)
	}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_LOG, uintptr(unsafe.Pointer(&fprog)))
	if e == unix.EINVAL {
		// A kernel before 4.14 knows no flags: filter without logging rather than not at
		// all. A program the kernel refuses fails the same way again.
		_, _, e = unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	}
	runtime.KeepAlive(prog)
	if e != 0 {
		return e
	}
	return nil
}
