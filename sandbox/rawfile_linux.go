package sandbox

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Descriptors the runtime's poller need not know: the start's goroutine is locked to
// its thread, and small kernel files are read whole at once (docs/BENCHMARKS.md,
// session 22).

// pipeBlocking is os.Pipe in blocking mode: os.NewFile of a blocking descriptor is
// not registered with the runtime's poller, so a read that waits blocks the thread in
// read(2). The start's goroutine is locked to its thread, and the poller's park of a
// locked goroutine hands its thread's P to another thread and back (stoplockedm,
// startlockedm: four context switches); os.Pipe's also costs two fcntl and an epoll_ctl
// per end.
func pipeBlocking() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}

// readKernelFile reads a small cgroupfs, procfs or configuration file whole. Not os.ReadFile: its
// os.File registers the file with the runtime's poller (kernfs files poll; procfs's
// are tried) and unregisters it, and stats it, up to six system calls more than open,
// read and close.
func readKernelFile(name string) ([]byte, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = append(b, buf[:n]...)
	}
}

// capLastCap is the last capability this kernel knows, read once per process (the
// clone's ambient set and the C stage's caps step both need it).
var capLastCap = sync.OnceValue(func() int {
	if data, err := readKernelFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && n > 0 {
			return n
		}
	}
	return 40 // CAP_CHECKPOINT_RESTORE, the last of Linux 5.9 and later
})
