//go:build linux

package run_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/progcache"
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
	file := filepath.Join(dir, "kept.yaml")
	src := "version: 1\nname: kept\nrun: {command: [\"" + probeDir + "/probe\"]}\nfilesystem: {read: [" + probeDir + "]}\n" +
		"syscalls: {extends: default, deny: [getppid]}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// getppid is denied, getpid allowed: syscall numbers of x86_64 and arm64.
	ppid, pid := "syscall:110", "syscall:39"
	if runtimeArch() == "arm64" {
		ppid, pid = "syscall:173", "syscall:172"
	}
	runOnce := func(name string) {
		t.Helper()
		cmd := exec.Command(confineBin, "run", file, "--", ppid, pid)
		cmd.Env = append(os.Environ(), progcache.EnvDir+"="+cache, progcache.PlanEnvDir+"=off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v: %s", name, err, stderr.String())
		}
		res := results(string(out))
		if res[ppid].OK || !strings.Contains(res[ppid].Err, "operation not permitted") {
			t.Errorf("%s: getppid: %+v, want denied by the filter", name, res[ppid])
		}
		if !res[pid].OK {
			t.Errorf("%s: getpid: %+v, want allowed", name, res[pid])
		}
	}
	entries := func() []string {
		t.Helper()
		names, _ := filepath.Glob(filepath.Join(cache, "*"))
		return names
	}

	for _, cmd := range [][]string{{"compile", file, "--format", "json"}, {"check", file}, {"audit", "report", file}} {
		c := exec.Command(confineBin, cmd...)
		c.Env = append(os.Environ(), progcache.EnvDir+"="+cache, progcache.PlanEnvDir+"=off")
		c.Run()
		if n := entries(); len(n) != 0 {
			t.Fatalf("confine %s kept %v: the commands a reviewer runs use no store", cmd[0], n)
		}
	}
	runOnce("first run")
	kept := entries()
	if len(kept) != 1 {
		t.Fatalf("kept %v after the first run, want one program", kept)
	}
	if fi, _ := os.Stat(cache); fi.Mode().Perm() != 0o700 {
		t.Errorf("the store's directory is %v, want 0700", fi.Mode().Perm())
	}
	runOnce("second run") // takes the kept program
	if n := entries(); len(n) != 1 {
		t.Fatalf("kept %v after the second run, want the same one program", n)
	}

	// An allow-all program (one BPF_RET|BPF_K of SECCOMP_RET_ALLOW) in place of the kept
	// one, under the same header.
	entry := kept[0]
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

// runtimeArch is the machine's architecture by uname, as the kernel names it.
func runtimeArch() string {
	var u unix.Utsname
	unix.Uname(&u)
	if m := unix.ByteSliceToString(u.Machine[:]); m == "aarch64" {
		return "arm64"
	}
	return "amd64"
}
