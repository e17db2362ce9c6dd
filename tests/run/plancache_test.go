//go:build linux

package run_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	file, src := keptPolicy(t, dir)
	ppid, pgid := sysProbe("getppid"), sysProbe("getpgid")
	env := keptEnv(filepath.Join(dir, "seccomp"), plans)
	keptThenTaken(t, env, file, plans, ppid, pgid)

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
	enforcedRun(t, "changed policy", env, file, pgid, ppid)
	if n := keptIn(plans); len(n) != 2 {
		t.Errorf("kept %v after the change, want the two Plans", n)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(src, "extends: default", "extends: defualt", 1)), 0o644)
	off := keptEnv(filepath.Join(dir, "seccomp"), "off")
	for range 2 {
		code, out, stderr := runFile(t, env, bad)
		offCode, offOut, offStderr := runFile(t, off, bad)
		if code != 1 || !strings.Contains(stderr, bad+":5:") || code != offCode || out != offOut || stderr != offStderr {
			t.Errorf("a policy with errors: exit %d, %q, %q; with no kept Plans: exit %d, %q, %q", code, out, stderr, offCode, offOut, offStderr)
		}
	}
	if n := keptIn(plans); len(n) != 2 {
		t.Errorf("kept %v after a policy with errors, want only the two Plans", n)
	}
}
