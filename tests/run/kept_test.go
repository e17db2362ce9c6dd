//go:build linux

package run_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/progcache"
)

// The helpers of the tests of root's kept programs and Plans (TestKeptPrograms,
// TestKeptPlans, TestProgramStoreNotWritable).

// keptPolicy writes dir/kept.yaml, the probe under the default syscalls but getppid,
// and returns its path and text.
func keptPolicy(t *testing.T, dir string) (file, src string) {
	t.Helper()
	file = filepath.Join(dir, "kept.yaml")
	src = "version: 1\nname: kept\nrun: {command: [\"" + probeDir + "/probe\"]}\nfilesystem: {read: [" + probeDir + "]}\n" +
		"syscalls: {extends: default, deny: [getppid]}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, src
}

// sysProbe is the probe's argument that makes the syscall name (getppid, getpid or
// getpgid) by its number on this machine.
func sysProbe(name string) string {
	nr := map[string][2]int{"getppid": {110, 173}, "getpid": {39, 172}, "getpgid": {121, 155}}[name] // x86_64, arm64
	if runtimeArch() == "arm64" {
		return fmt.Sprint("syscall:", nr[1])
	}
	return fmt.Sprint("syscall:", nr[0])
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

// keptEnv is this process's environment with the kept programs in progs and the kept
// Plans in plans ("off": none).
func keptEnv(progs, plans string) []string {
	return append(os.Environ(), progcache.EnvDir+"="+progs, progcache.PlanEnvDir+"="+plans)
}

// runFile runs `confine run FILE -- ARGS` with env: its exit status, stdout and stderr.
func runFile(t *testing.T, env []string, file string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(confineBin, append([]string{"run", file, "--"}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out), stderr.String()
}

// enforcedRun runs file's probe with env making the syscalls denied and allowed, and
// fails the test unless the run exits 0 with denied refused by the filter and allowed made.
func enforcedRun(t *testing.T, what string, env []string, file, denied, allowed string) {
	t.Helper()
	code, out, stderr := runFile(t, env, file, denied, allowed)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", what, code, stderr)
	}
	res := results(out)
	if res[denied].OK || !strings.Contains(res[denied].Err, "operation not permitted") {
		t.Errorf("%s: %s: %+v, want denied by the filter", what, denied, res[denied])
	}
	if !res[allowed].OK {
		t.Errorf("%s: %s: %+v, want allowed", what, allowed, res[allowed])
	}
}

// reviewersKeepNothing: the commands a reviewer runs of file (compile, check, audit
// report), with env, leave dir empty.
func reviewersKeepNothing(t *testing.T, env []string, file, dir string) {
	t.Helper()
	for _, cmd := range [][]string{{"compile", file, "--format", "json"}, {"check", file}, {"audit", "report", file}} {
		c := exec.Command(confineBin, cmd...)
		c.Env = env
		c.Run()
		if n := keptIn(dir); len(n) != 0 {
			t.Fatalf("confine %s kept %v: the commands a reviewer runs keep nothing", cmd[0], n)
		}
	}
}

// keptThenTaken: the commands a reviewer runs of file keep nothing in dir; a first run
// (enforcedRun) keeps one entry there, in a directory of mode 0700, which the second
// run takes: it is not written again. It returns the entry.
func keptThenTaken(t *testing.T, env []string, file, dir, denied, allowed string) string {
	t.Helper()
	reviewersKeepNothing(t, env, file, dir)
	enforcedRun(t, "first run", env, file, denied, allowed)
	kept := keptIn(dir)
	if len(kept) != 1 {
		t.Fatalf("kept %v after the first run, want one entry", kept)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("the directory %s is %v, want 0700", dir, fi.Mode().Perm())
	}
	ino := inode(t, kept[0])
	enforcedRun(t, "second run", env, file, denied, allowed)
	if n := keptIn(dir); len(n) != 1 || inode(t, n[0]) != ino {
		t.Errorf("the second run kept %v anew, want the first run's entry taken", n)
	}
	return kept[0]
}

func inode(t *testing.T, name string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// keptIn is the files in dir.
func keptIn(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	return names
}
