//go:build linux

package run_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestMountsHeldToRelease: the supervisor holds the component's mount namespace while
// it runs (a descriptor of it), so that the namespace's teardown is not in the
// component's exit, and Wait returns only once the namespace is gone: no descriptor, and
// listmount(2) knows no namespace of that id. Without the hold the first check fails;
// without the drop in release, the last.
func TestMountsHeldToRelease(t *testing.T) {
	testenv.Require(t, testenv.Root)
	for _, sp := range []*sandbox.Spawner{sharedSpawner(), nil} { // the spawner's child, exec.Cmd's
		c := compile(t, "", "sleep:")
		runtime.LockOSThread()
		sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Spawner: sp}, nil)
		if err != nil {
			runtime.UnlockOSThread()
			t.Fatal(err)
		}
		link, _ := os.Readlink("/proc/" + strconv.Itoa(sb.Pid()) + "/ns/mnt")
		id, err := mountNSID(sb.Pid())
		if err != nil {
			sb.Kill()
			runtime.UnlockOSThread()
			testenv.Missing(t, "the mount namespace's id (NS_GET_MNTNS_ID, Linux 6.10): %v", err)
		}
		if n, err := listMounts(id); err != nil || n == 0 {
			t.Errorf("the running component's namespace: %d mounts, %v", n, err)
		}
		if !holding(link) {
			t.Errorf("spawner %v: the supervisor holds no descriptor of the component's %s", sp != nil, link)
		}
		sb.Signal(syscall.SIGKILL)
		if _, err := sb.Wait(); err != nil {
			t.Error(err)
		}
		runtime.UnlockOSThread()
		if holding(link) {
			t.Errorf("spawner %v: after Wait the supervisor still holds %s", sp != nil, link)
		}
		if n, err := listMounts(id); !errors.Is(err, unix.ENOENT) {
			t.Errorf("spawner %v: after Wait the namespace lists %d mounts (%v), want none (ENOENT)", sp != nil, n, err)
		}
	}
}

// holding reports whether this process has a descriptor whose link reads link.
func holding(link string) bool {
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + fd.Name()); l == link {
			return true
		}
	}
	return false
}

// mountNSID is the id of pid's mount namespace (ioctl NS_GET_MNTNS_ID).
func mountNSID(pid int) (uint64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var id uint64
	const nsGetMntnsID = 0x8008b705 // _IOR(0xb7, 0x5, __u64)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), nsGetMntnsID, uintptr(unsafe.Pointer(&id))); e != 0 {
		return 0, e
	}
	return id, nil
}

// listMounts counts the mounts of the mount namespace id (listmount(2), Linux 6.11's
// mnt_ns_id): ENOENT once no such namespace is left.
func listMounts(id uint64) (int, error) {
	req := struct {
		size, spare  uint32
		mntID, param uint64
		nsID         uint64
	}{size: 32, mntID: ^uint64(0), nsID: id} // LSMT_ROOT: the whole namespace
	ids := make([]uint64, 256)
	const sysListmount = 458
	n, _, e := unix.Syscall6(sysListmount, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&ids[0])), uintptr(len(ids)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
