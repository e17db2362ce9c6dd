package sandbox

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// preparedExec is an execve's arguments as C strings, made before the rlimit_fallback
// step: from then on the component's RLIMIT_DATA bounds this process too, and the Go
// runtime, which maps ahead (45 MB for the small probe), may get no further mapping.
// unix.Exec converts its arguments there, and a heap that had to grow for them ended
// the init stage ("fatal error: runtime: cannot allocate memory", exit 2) instead of
// starting the component: always for a memory limit below what the runtime holds, by
// chance above it.
type preparedExec struct {
	path       *byte
	argv, envv []*byte
}

func prepareExec(path string, argv, envv []string) (*preparedExec, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return nil, err
	}
	a, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return nil, err
	}
	e, err := syscall.SlicePtrFromStrings(envv)
	if err != nil {
		return nil, err
	}
	return &preparedExec{p, a, e}, nil
}

// exec is syscall.Exec's execve without its allocations. What else syscall.Exec does is
// not needed here: RLIMIT_NOFILE's soft limit, which Go raised at start, is not put
// back once the rlimits step set it (every Plan has one: syscall.Setrlimit forgets the
// original), and its exec lock only keeps the runtime from making a thread during the
// execve, which kills every other thread of this one-goroutine stage.
func (x *preparedExec) exec() error {
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(x.path)),
		uintptr(unsafe.Pointer(&x.argv[0])), uintptr(unsafe.Pointer(&x.envv[0])))
	return errno
}
