//go:build linux

package run_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestMountsHeldToRelease: the supervisor holds the component's mount namespace past the
// component's exit, and Wait returns only once it is gone. While the exited component is
// an unreaped zombie its namespace still lists its mounts (held: the teardown is not in
// the exit), and after Wait no mount namespace of that id is left. Without the hold the
// first check fails; without the drop in release, the second.
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
		id, err := mountNSID(sb.Pid())
		if err != nil {
			sb.Kill()
			runtime.UnlockOSThread()
			testenv.Missing(t, "the mount namespace's id (NS_GET_MNTNS_ID, Linux 6.10): %v", err)
		}
		if n, err := listMounts(id); err != nil || n == 0 {
			t.Errorf("the running component's namespace: %d mounts, %v", n, err)
		}
		sb.Signal(syscall.SIGKILL)
		waitZombie(t, sb.Pid())
		if n, err := listMounts(id); err != nil || n == 0 {
			t.Errorf("spawner %v: the exited component's namespace lists %d mounts (%v): not held past the exit", sp != nil, n, err)
		}
		if _, err := sb.Wait(); err != nil {
			t.Error(err)
		}
		runtime.UnlockOSThread()
		if n, err := listMounts(id); !errors.Is(err, unix.ENOENT) {
			t.Errorf("spawner %v: after Wait the namespace lists %d mounts (%v), want none (ENOENT)", sp != nil, n, err)
		}
	}
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

// waitZombie waits until pid has exited and is not yet reaped.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
	}
	t.Fatalf("pid %d did not exit", pid)
}
