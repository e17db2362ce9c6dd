package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/seccomp"
)

// Audit mode observes what Landlock and capability checks would decide with seccomp
// user notification (seccomp_unotify(2)), as nsjail's unotify does: the filter hands the
// Plan's Audit.Observe syscalls to the supervisor, which reads their arguments from the
// stopped thread (process_vm_readv, /proc/TID), and always answers CONTINUE. What it read
// is observation only: another thread may change the memory after the read (TOCTOU),
// so it never decides anything. The listener goes to the supervisor before the
// component's execve, which is itself observed.

// loadObservingFilter loads the program with a listener (SECCOMP_FILTER_FLAG_NEW_LISTENER)
// and passes the listener to the parent on fdNotify. The descriptor is close-on-exec:
// the component never holds it. Should the supervisor go away, the notified syscalls
// fail with ENOSYS (the kernel's answer for a filter without a listener).
func loadObservingFilter(fprog *unix.SockFprog, prog []byte) error {
	// No SECCOMP_FILTER_FLAG_LOG: the log action is logged without it, and the filter has
	// no errno action left whose denials it would add (docs/kernel-audit.md).
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	fd, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("seccomp with a listener (audit mode needs user notification, Linux 5.5): %w", e)
	}
	err := unix.Sendmsg(fdNotify, []byte{1}, unix.UnixRights(int(fd)), nil, 0)
	unix.Close(int(fd))
	unix.Close(fdNotify)
	if err != nil {
		return fmt.Errorf("passing the seccomp listener: %w", err)
	}
	return nil
}

// serveNotifications receives the listener from the init stage on sock and answers every
// notification with CONTINUE until the last process of the filter is gone (POLLHUP),
// handing what it read to seen (when not nil) after answering.
func serveNotifications(sock *os.File, seen func(observe.Call)) {
	defer sock.Close()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil || oobn == 0 {
		return // the init stage failed before its seccomp step
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return
	}
	listener := fds[0]
	defer unix.Close(listener)
	for {
		pfd := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			return // POLLHUP: no process uses the filter any more
		}
		n, err := seccomp.Receive(listener)
		if err != nil {
			continue // ENOENT: the thread was killed while we looked
		}
		call := readCall(n)
		valid := seccomp.Valid(listener, n.ID) // the reads above saw the stopped thread
		if seccomp.Continue(listener, n.ID) != nil && valid {
			// CONTINUE refused (Linux 5.0-5.4): fail the call rather than leave the
			// thread stopped.
			seccomp.Refuse(listener, n.ID, int32(unix.ENOSYS))
		}
		if valid && seen != nil {
			seen(call)
		}
	}
}

// readCall reads what observe needs of a notified call: its path arguments, socket
// address and the caller's ids. A read that fails leaves its field empty.
func readCall(n *seccomp.Notification) observe.Call {
	c := observe.Call{Pid: n.Pid, Syscall: seccomp.SyscallName(n.Syscall), Args: n.Args}
	t := thread{tid: n.Pid}
	for _, a := range observe.PathArgs(c.Syscall) {
		p, err := t.path(n.Args, a)
		if err != nil {
			break
		}
		c.Paths = append(c.Paths, p)
		c.Kinds = append(c.Kinds, t.kind(p))
	}
	switch c.Syscall {
	case "bind", "connect":
		c.Sock = t.sock(int(n.Args[0]), n.Args[1], n.Args[2])
	case "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "chown", "lchown", "fchown", "fchownat":
		c.IDs = t.creds()
		c.Owner = t.owner(c)
	}
	if c.Syscall == "openat2" {
		// struct open_how starts with its u64 flags.
		if b, err := t.read(n.Args[2], 8); err == nil && len(b) == 8 {
			c.Args[2] = *(*uint64)(unsafe.Pointer(&b[0]))
		}
	}
	return c
}

// OpenFlags decodes an open's flags (this architecture's O_*) for observe.Accesses.
func OpenFlags(c observe.Call) int {
	var flags uint64
	switch c.Syscall {
	case "open":
		flags = c.Args[1]
	case "openat", "openat2":
		flags = c.Args[2]
	default:
		return 0
	}
	out := 0
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		out |= observe.OpenRead
	case unix.O_WRONLY:
		out |= observe.OpenWrite
	case unix.O_RDWR:
		out |= observe.OpenRead | observe.OpenWrite
	}
	for bit, f := range map[uint64]int{unix.O_CREAT: observe.OpenCreate, unix.O_TRUNC: observe.OpenTrunc,
		unix.O_DIRECTORY: observe.OpenDirectory, unix.O_PATH: observe.OpenPath} {
		if flags&bit != 0 {
			out |= f
		}
	}
	return out
}
