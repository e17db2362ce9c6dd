//go:build linux

package run_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestKeptPrograms runs `confine run FILE` with its kept seccomp programs
// (sandbox/progcache) in a directory of the test's: the first run keeps the program, the
// next take it and the kernel still denies what the policy denies; an entry that is not
// root's alone, or that holds another key, is never loaded (an allow-all program planted
// there would let the denied syscall through); the commands a reviewer runs keep nothing.
// No Plan is kept (plancache): each run compiles, and so reads the store.
func TestKeptPrograms(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	file, _ := keptPolicy(t, dir)
	ppid, pid := sysProbe("getppid"), sysProbe("getpid") // denied, allowed
	env := keptEnv(cache, "off")
	runOnce := func(name string) {
		t.Helper()
		enforcedRun(t, name, env, file, ppid, pid)
	}
	entry := keptThenTaken(t, env, file, cache, ppid, pid)

	// An allow-all program (one BPF_RET|BPF_K of SECCOMP_RET_ALLOW) in place of the kept
	// one, under the same header.
	good, _ := os.ReadFile(entry)
	header := good[:bytes.IndexByte(good[len("confine seccomp program 1\n"):], '\n')+len("confine seccomp program 1\n")+1]
	allowAll := make([]byte, 8)
	binary.NativeEndian.PutUint16(allowAll, unix.BPF_RET|unix.BPF_K)
	binary.NativeEndian.PutUint32(allowAll[4:], unix.SECCOMP_RET_ALLOW)
	plant := func(name string, data []byte, mode os.FileMode, uid int) {
		t.Helper()
		os.Remove(entry)
		if err := os.WriteFile(entry, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(entry, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(entry, uid, uid); err != nil {
			t.Fatal(err)
		}
		runOnce(name)
	}
	poisoned := append(append([]byte{}, header...), allowAll...)
	plant("group-writable entry", poisoned, 0o620, 0)
	plant("entry of another user", poisoned, 0o600, 1000)
	otherKey := append([]byte("confine seccomp program 1\n"+strings.Repeat("0", 64)+"\n"), allowAll...)
	plant("entry of another key", otherKey, 0o600, 0)
	// A symlink to a root-owned allow-all entry elsewhere.
	elsewhere := filepath.Join(dir, "elsewhere")
	os.WriteFile(elsewhere, poisoned, 0o600)
	os.Remove(entry)
	if err := os.Symlink(elsewhere, entry); err != nil {
		t.Fatal(err)
	}
	runOnce("symlinked entry")
	// A directory others may write is neither read nor written.
	os.Remove(entry)
	os.WriteFile(entry, poisoned, 0o600)
	os.Chmod(cache, 0o777)
	runOnce("open directory")
	if data, _ := os.ReadFile(entry); !bytes.Equal(data, poisoned) {
		t.Errorf("a run rewrote an entry in a directory others may write")
	}
	os.Chmod(cache, 0o700)
	os.Remove(entry)
}
