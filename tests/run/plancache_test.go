//go:build linux

package run_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/sandbox/progcache"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestKeptPlans runs `confine run FILE` with its kept Plans (cmd/confine's plancache) in
// a directory of the test's: the first run keeps the Plan, the next takes it (the entry
// is not written again) and is enforced as the policy says; a policy changed since, to
// the same size and modification time, runs as it now says; a policy with errors fails
// with the very output it fails with when nothing is kept, and keeps nothing; the
// commands a reviewer runs keep nothing either.
func TestKeptPlans(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans")
	file := filepath.Join(dir, "kept.yaml")
	src := "version: 1\nname: kept\nrun: {command: [\"" + probeDir + "/probe\"]}\nfilesystem: {read: [" + probeDir + "]}\n" +
		"syscalls: {extends: default, deny: [getppid]}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ppid, pgid := "syscall:110", "syscall:121" // x86_64
	if runtimeArch() == "arm64" {
		ppid, pgid = "syscall:173", "syscall:155"
	}
	env := append(os.Environ(), progcache.EnvDir+"="+filepath.Join(dir, "seccomp"), progcache.PlanEnvDir+"="+plans)
	run := func(file string, env []string, args ...string) (int, string, string) {
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
	enforced := func(name, denied, allowed string) {
		t.Helper()
		code, out, stderr := run(file, env, ppid, pgid)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		res := results(out)
		if res[denied].OK || !strings.Contains(res[denied].Err, "operation not permitted") {
			t.Errorf("%s: %s: %+v, want denied by the filter", name, denied, res[denied])
		}
		if !res[allowed].OK {
			t.Errorf("%s: %s: %+v, want allowed", name, allowed, res[allowed])
		}
	}
	entries := func() []string {
		t.Helper()
		names, _ := filepath.Glob(filepath.Join(plans, "*"))
		return names
	}
	inode := func(name string) uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(name, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}

	for _, cmd := range [][]string{{"compile", file, "--format", "json"}, {"check", file}, {"audit", "report", file}} {
		c := exec.Command(confineBin, cmd...)
		c.Env = env
		c.Run()
		if n := entries(); len(n) != 0 {
			t.Fatalf("confine %s kept %v: the commands a reviewer runs keep no Plan", cmd[0], n)
		}
	}
	enforced("first run", ppid, pgid)
	kept := entries()
	if len(kept) != 1 {
		t.Fatalf("kept %v after the first run, want one Plan", kept)
	}
	if fi, _ := os.Stat(plans); fi.Mode().Perm() != 0o700 {
		t.Errorf("the directory of kept Plans is %v, want 0700", fi.Mode().Perm())
	}
	ino := inode(kept[0])
	enforced("second run", ppid, pgid)
	if n := entries(); len(n) != 1 || inode(n[0]) != ino {
		t.Errorf("the second run kept %v anew, want the first run's Plan taken", n)
	}

	fi, _ := os.Stat(file)
	changed := strings.Replace(src, "getppid", "getpgid", 1)
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Stat(file); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("the changed policy's size or time differs")
	}
	enforced("changed policy", pgid, ppid)
	if n := entries(); len(n) != 2 {
		t.Errorf("kept %v after the change, want the two Plans", n)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(src, "extends: default", "extends: defualt", 1)), 0o644)
	off := append(os.Environ(), progcache.PlanEnvDir+"=off")
	for range 2 {
		code, out, stderr := run(bad, env)
		offCode, offOut, offStderr := run(bad, off)
		if code != 1 || !strings.Contains(stderr, bad+":5:") || code != offCode || out != offOut || stderr != offStderr {
			t.Errorf("a policy with errors: exit %d, %q, %q; with no kept Plans: exit %d, %q, %q", code, out, stderr, offCode, offOut, offStderr)
		}
	}
	if n := entries(); len(n) != 2 {
		t.Errorf("kept %v after a policy with errors, want only the two Plans", n)
	}
}
