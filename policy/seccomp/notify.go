//go:build cgo

package seccomp

import (
	"fmt"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// Notification is one seccomp user notification: a thread stopped in a syscall that the
// filter handed to the supervisor (audit mode, sandbox/observe_linux.go).
type Notification struct {
	ID      uint64
	Pid     int // the thread, in the supervisor's pid namespace
	Syscall int
	Args    [6]uint64
}

// Receive reads the next notification from a listener fd (SECCOMP_IOCTL_NOTIF_RECV).
// It blocks: poll the fd first.
func Receive(fd int) (*Notification, error) {
	req, err := libseccomp.NotifReceive(libseccomp.ScmpFd(fd))
	if err != nil {
		return nil, fmt.Errorf("seccomp: notification: %w", err)
	}
	n := &Notification{ID: req.ID, Pid: int(req.Pid), Syscall: int(req.Data.Syscall)}
	copy(n.Args[:], req.Data.Args)
	return n, nil
}

// Continue lets the notified syscall run as if the filter had allowed it
// (SECCOMP_USER_NOTIF_FLAG_CONTINUE, Linux 5.5).
func Continue(fd int, id uint64) error {
	return libseccomp.NotifRespond(libseccomp.ScmpFd(fd), &libseccomp.ScmpNotifResp{ID: id, Flags: libseccomp.NotifRespFlagContinue})
}

// Valid reports whether the notification is still pending: the thread is still stopped
// in that syscall, so what was read from its memory and /proc was read while it was.
func Valid(fd int, id uint64) bool {
	return libseccomp.NotifIDValid(libseccomp.ScmpFd(fd), id) == nil
}

// Refuse fails the notified syscall with errno: where Continue is refused (a kernel
// before 5.5), so that the thread is not left stopped.
func Refuse(fd int, id uint64, errno int32) error {
	// libseccomp negates Error for the kernel.
	return libseccomp.NotifRespond(libseccomp.ScmpFd(fd), &libseccomp.ScmpNotifResp{ID: id, Error: errno})
}
