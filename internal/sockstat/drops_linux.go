// Package sockstat reads a socket's kernel counters, for the netlink readers of denials
// (sandbox's kernel audit reader, netfilter's NFLOG reader) that must say what they lost.
package sockstat

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Drops returns the socket's sk_drops from SO_MEMINFO: the messages the kernel discarded
// at its full receive queue (netlink_overrun), as a 32-bit counter that wraps; callers
// subtract their last reading modulo 2^32.
func Drops(c syscall.Conn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var mem [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(mem))
	var errno unix.Errno
	err = raw.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem)), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, fmt.Errorf("getsockopt SO_MEMINFO: %w", errno)
	}
	return mem[unix.SK_MEMINFO_DROPS], nil
}
