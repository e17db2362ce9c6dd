package sandbox

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A connect(fd, addr, 0) of an audited component must not take the supervisor down: the
// address length is the component's, and zero bytes is a read of nothing.
func TestThreadSockZeroLength(t *testing.T) {
	sa := [16]byte{unix.AF_INET, 0, 0, 80, 127, 0, 0, 1}
	th := thread{tid: os.Getpid()}
	if s := th.sock(0, uint64(uintptr(unsafe.Pointer(&sa[0]))), 0); s != nil {
		t.Errorf("sock with length 0 = %+v, want nil", s)
	}
	if b, err := th.read(uint64(uintptr(unsafe.Pointer(&sa[0]))), 0); err != nil || len(b) != 0 {
		t.Errorf("read of 0 bytes = %v, %v", b, err)
	}
	if s := th.sock(0, uint64(uintptr(unsafe.Pointer(&sa[0]))), 16); s == nil || s.Port != 80 || s.Addr != "127.0.0.1" {
		t.Errorf("sock of 127.0.0.1:80 = %+v", s)
	}
}
