//go:build linux

package run_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestCgroupKeptForeign: what a hand other than the run's left in a kept cgroup between
// two runs does not reach the next run. Limits raised in the kept cgroup's files are
// written back (the run's pids and memory limits hold); an outside process in a child
// cgroup beneath it (cgroup.procs does not list it) makes the next run start in a new
// cgroup.
func TestCgroupKeptForeign(t *testing.T) {
	testenv.Require(t, testenv.Root)
	hs := hierarchies(t)
	v2 := hs[0] == ""
	limits := "resources: {pids: 64, memory: 64Mi, cpu: 0.5}\n"
	fits := compile(t, limits, "cat:/proc/self/cgroup", "fork:4", "fork:200", "alloc:16")
	keep := &sandbox.KeptCgroup{}
	defer keep.Delete()
	launchKept(t, fits, keep)
	path := keep.Path()
	if path == "" {
		t.Fatal("no cgroup kept after the first run")
	}

	// Raised limits: written back at the reuse.
	raise := map[string]string{"pids/pids.max": "max", "memory/memory.limit_in_bytes": "-1"}
	if v2 {
		raise = map[string]string{"pids.max": "max", "memory.max": "max"}
	}
	for f, v := range raise {
		if err := os.WriteFile(filepath.Join("/sys/fs/cgroup", filepath.Dir(f), path, filepath.Base(f)), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	res, code, _ := launchKept(t, fits, keep)
	if code != 0 {
		t.Errorf("after the raised limits: exit %d", code)
	}
	checkLimits(t, "after the kept cgroup's limits were raised", res)

	// An outside process in a child cgroup beneath: the next run starts in a new one.
	probe := exec.Command(probeDir+"/probe", "sleep")
	if err := probe.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { probe.Process.Kill(); probe.Wait() }()
	child := filepath.Join(cgroupDir(hs[0], path), "child")
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(child)
	write(t, filepath.Join(child, "cgroup.procs"), probe.Process.Pid)
	res, code, _ = launchKept(t, fits, keep)
	write(t, filepath.Join(cgroupDir(hs[0], ""), "cgroup.procs"), probe.Process.Pid)
	os.Remove(child)
	if code != 0 {
		t.Errorf("with a process in a child cgroup: exit %d", code)
	}
	if in := v1Line(res["cat:/proc/self/cgroup"].Out, hs[0]); strings.HasSuffix(in, path) {
		t.Errorf("with a process in %s the next run started in the kept cgroup too", child)
	}
	checkLimits(t, "with a process in a child cgroup", res)
	if err := keep.Delete(); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

// TestCgroupKeptFrozen: a kept cgroup that a hand other than pause froze between two
// runs is not reused: the next run starts, in a new cgroup, and runs.
func TestCgroupKeptFrozen(t *testing.T) {
	testenv.Require(t, testenv.Root)
	hs := hierarchies(t)
	c := compile(t, "resources: {pids: 64}\n", "cat:/proc/self/cgroup")
	keep := &sandbox.KeptCgroup{}
	defer keep.Delete()
	run := func() string {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var out strings.Builder
		sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Stdout: &out, Keep: keep, CgroupName: "keep", Freezer: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := sb.Wait(); code != 0 || err != nil {
			t.Fatalf("exit %d, %v", code, err)
		}
		return v1Line(results(out.String())["cat:/proc/self/cgroup"].Out, hs[0])
	}
	run()
	path := keep.Path()
	freeze, frozen := filepath.Join("/sys/fs/cgroup/freezer", path, "freezer.state"), "FROZEN"
	if hs[0] == "" {
		freeze, frozen = filepath.Join(cgroupDir("", path), "cgroup.freeze"), "1"
	}
	if err := os.WriteFile(freeze, []byte(frozen), 0); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(freeze, []byte(map[string]string{"1": "0", "FROZEN": "THAWED"}[frozen]), 0)
	if in := run(); strings.HasSuffix(in, path) {
		t.Errorf("the run after %s was frozen started in it", path)
	}
}

// write writes pid to a cgroup file.
func write(t *testing.T, file string, pid int) {
	t.Helper()
	if err := os.WriteFile(file, []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatal(err)
	}
}
