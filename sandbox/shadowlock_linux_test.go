package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quickLock makes shadow's lock tries fast for a test, and puts them back after.
func quickLock(t *testing.T, tries int) {
	t.Helper()
	oldTries, oldSleep := shadowLockTries, shadowLockSleep
	shadowLockTries, shadowLockSleep = tries, 10*time.Millisecond
	t.Cleanup(func() { shadowLockTries, shadowLockSleep = oldTries, oldSleep })
}

// livePid is a process that runs until the test ends.
func livePid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// deadPid is the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func writeLock(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".lock", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// leftovers are the PATH.PID files a try may leave; there must be none.
func leftovers(t *testing.T, path string) []string {
	t.Helper()
	m, _ := filepath.Glob(path + ".[0-9]*")
	return m
}

// TestShadowLockHeld: a lock a live process holds is waited for and then given up, with
// its holder named, the lock left as it was; released during the wait, it is taken.
func TestShadowLockHeld(t *testing.T) {
	quickLock(t, 3)
	path := filepath.Join(t.TempDir(), "subuid")
	holder := strconv.Itoa(livePid(t))
	writeLock(t, path, holder+"\x00")
	if _, err := lockShadowFile(path); err == nil || !strings.Contains(err.Error(), "is held by pid "+holder) {
		t.Fatalf("a held lock: %v, want an error naming pid %s", err, holder)
	}
	if data, _ := os.ReadFile(path + ".lock"); string(data) != holder+"\x00" {
		t.Errorf("the holder's lock was changed: %q", data)
	}
	if l := leftovers(t, path); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}

	quickLock(t, 1000)
	go func() {
		time.Sleep(50 * time.Millisecond)
		os.Remove(path + ".lock") // the holder is done
	}()
	unlock, err := lockShadowFile(path)
	if err != nil {
		t.Fatalf("a lock released during the wait: %v", err)
	}
	if data, _ := os.ReadFile(path + ".lock"); strings.TrimRight(string(data), "\x00") != strconv.Itoa(os.Getpid()) {
		t.Errorf("the lock holds %q, want this pid", data)
	}
	unlock()
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Errorf("unlock left the lock: %v", err)
	}
}

// TestShadowLockStale: a lock whose pid is gone is broken and taken at once; one without
// a pid is left alone and refused.
func TestShadowLockStale(t *testing.T) {
	quickLock(t, 1)
	path := filepath.Join(t.TempDir(), "subgid")
	writeLock(t, path, strconv.Itoa(deadPid(t)))
	unlock, err := lockShadowFile(path)
	if err != nil {
		t.Fatalf("a stale lock: %v", err)
	}
	if data, _ := os.ReadFile(path + ".lock"); strings.TrimRight(string(data), "\x00") != strconv.Itoa(os.Getpid()) {
		t.Errorf("the lock holds %q, want this pid", data)
	}
	unlock()
	if l := leftovers(t, path); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}

	writeLock(t, path, "")
	if _, err := lockShadowFile(path); err == nil || !strings.Contains(err.Error(), "holds no pid") {
		t.Errorf("a lock without a pid: %v", err)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("a lock without a pid was removed: %v", err)
	}
}

// TestReserveUnderShadowLock: the first reservation fails cleanly while useradd holds
// /etc/subuid's lock, changing neither file, and succeeds past a stale lock, keeping the
// files' modes (and, as root, owners) and removing its locks.
func TestReserveUnderShadowLock(t *testing.T) {
	quickLock(t, 2)
	st := testStore(t, "alice:100000:65536\n", "alice:100000:65536\n", "")
	os.Chmod(st.subgid, 0o600)
	root := os.Geteuid() == 0
	if root {
		os.Chown(st.subgid, 0, 42) // Debian's shadow group; any gid does
	}
	writeLock(t, st.subuid, strconv.Itoa(livePid(t)))
	if _, err := st.rangeFor("", "web"); err == nil || !strings.Contains(err.Error(), "is held by pid") {
		t.Fatalf("reserving under a held lock: %v", err)
	}
	for _, f := range []string{st.subuid, st.subgid} {
		if data, _ := os.ReadFile(f); string(data) != "alice:100000:65536\n" {
			t.Errorf("%s changed under a held lock: %q", f, data)
		}
	}
	if _, err := os.Stat(st.subgid + ".lock"); !os.IsNotExist(err) {
		t.Errorf("a lock of subgid is left: %v", err)
	}

	writeLock(t, st.subuid, strconv.Itoa(deadPid(t)))
	if _, err := st.rangeFor("", "web"); err != nil {
		t.Fatalf("reserving past a stale lock: %v", err)
	}
	for f, mode := range map[string]os.FileMode{st.subuid: 0o644, st.subgid: 0o600} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode(), mode)
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; root && f == st.subgid && gid != 42 {
			t.Errorf("%s: gid %d, want its owner kept (42)", f, gid)
		}
		if data, _ := os.ReadFile(f); !strings.HasPrefix(string(data), "alice:100000:65536\nconfine:") {
			t.Errorf("%s: %q", f, data)
		}
		for _, left := range []string{f + ".lock", f + "+"} {
			if _, err := os.Stat(left); !os.IsNotExist(err) {
				t.Errorf("%s is left: %v", left, err)
			}
		}
	}
}
