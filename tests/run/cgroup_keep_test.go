//go:build linux

package run_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// hierarchies are the hierarchies a component with memory, pids and cpu limits is put
// in: v1's three, or the one v2 hierarchy ("" in /proc/PID/cgroup's "0::/path").
func hierarchies(t *testing.T) []string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{""}
	}
	requireV1(t)
	return v1Hierarchies
}

// cgroupDir is the directory of cgroup path in hierarchy h ("" for v2).
func cgroupDir(h, path string) string { return filepath.Join("/sys/fs/cgroup", h, path) }

// launchKept runs c to its end with its cgroup kept in keep, and returns its probe
// results, its exit status and whether the run itself was OOM-killed.
func launchKept(t *testing.T, c *plan.Component, keep *sandbox.KeptCgroup) (map[string]result, int, bool) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var out strings.Builder
	sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Stdout: &out, Keep: keep, CgroupName: "keep", Spawner: sharedSpawner()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := sb.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return results(out.String()), code, sb.OOMKilled()
}

// TestCgroupKept: a component's cgroup kept across its runs (a stack's restart) serves
// each run as a new one would. Every run starts inside it in every hierarchy, its pids
// and memory limits hold in each, and OOMKilled reports the run's own kill, not the
// last one's (oom_kill adds up in a kept cgroup). A kept cgroup that holds a process
// from outside the run is not reused. Delete removes what is kept.
func TestCgroupKept(t *testing.T) {
	testenv.Require(t, testenv.Root)
	hs := hierarchies(t)
	limits := "resources: {pids: 64, memory: 64Mi, cpu: 0.5}\n"
	oom := compile(t, limits, "cat:/proc/self/cgroup", "fork:4", "fork:200", "alloc:16", "alloc:256")
	fits := compile(t, limits, "cat:/proc/self/cgroup", "fork:4", "fork:200", "alloc:16")
	keep := &sandbox.KeptCgroup{}
	defer keep.Delete()
	var path string
	for i, c := range []*plan.Component{oom, fits, oom, fits} {
		res, code, killed := launchKept(t, c, keep)
		wantOOM := c == oom
		if wantOOM && (code != 128+9 || !killed) || !wantOOM && (code != 0 || killed) {
			t.Errorf("run %d: exit %d, OOM-killed %v; want OOM-killed %v", i, code, killed, wantOOM)
		}
		if path == "" {
			path = keep.Path()
			if path == "" {
				t.Fatal("no cgroup kept after the first run")
			}
		} else if p := keep.Path(); p != path {
			t.Errorf("run %d: kept %q, want the first run's %q", i, p, path)
		}
		r := res["cat:/proc/self/cgroup"]
		if !r.OK {
			t.Fatalf("run %d: cat: %+v", i, r)
		}
		for _, h := range hs {
			if p := v1Line(r.Out, h); p != path && !strings.HasSuffix(p, path) {
				t.Errorf("run %d: at its start the component is in %q in hierarchy %q, want %s", i, p, h, path)
			}
			if _, err := os.Stat(cgroupDir(h, path)); err != nil {
				t.Errorf("run %d: the kept cgroup is not there in %q: %v", i, h, err)
			}
		}
		checkLimits(t, fmt.Sprintf("run %d", i), res)
	}

	// A process from outside put into the kept cgroup: the next run starts in a new one.
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	for _, h := range hs {
		if err := os.WriteFile(filepath.Join(cgroupDir(h, path), "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	res, code, _ := launchKept(t, fits, keep)
	if code != 0 {
		t.Errorf("after the foreign process: exit %d", code)
	}
	fresh := keep.Path()
	if fresh == "" || fresh == path || !strings.HasSuffix(v1Line(res["cat:/proc/self/cgroup"].Out, hs[0]), fresh) {
		t.Errorf("with a foreign process in %s the run started in %q (kept %q), want a new cgroup", path, v1Line(res["cat:/proc/self/cgroup"].Out, hs[0]), fresh)
	}
	sleep.Process.Kill()
	sleep.Wait()
	if err := keep.Delete(); err != nil {
		t.Errorf("Delete: %v", err)
	}
	for _, p := range []string{path, fresh} {
		for _, h := range hs {
			if _, err := os.Stat(cgroupDir(h, p)); !os.IsNotExist(err) {
				t.Errorf("after Delete %s is still there in %q (%v)", p, h, err)
			}
		}
	}
}

// TestRootKept: the empty directory a run's root is built on is kept with its cgroup:
// the next run takes it back, a kept one that is no longer empty is not reused (nor
// removed with what was put in it), and Delete removes the kept one.
func TestRootKept(t *testing.T) {
	testenv.Require(t, testenv.Root)
	c := compile(t, "resources: {pids: 16}\n", "id:")
	keep := &sandbox.KeptCgroup{}
	defer keep.Delete()
	before := ownRoots()
	kept := func() []string {
		var out []string
		for _, d := range ownRoots() {
			if !slices.Contains(before, d) {
				out = append(out, d)
			}
		}
		return out
	}
	launchKept(t, c, keep)
	first := kept()
	if len(first) != 1 {
		t.Fatalf("after the first run %v are kept, want one root directory", first)
	}
	if launchKept(t, c, keep); !slices.Equal(kept(), first) {
		t.Errorf("after the second run %v are kept, want the first run's %v", kept(), first)
	}
	file := filepath.Join(first[0], "x")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(first[0])
	launchKept(t, c, keep)
	if now := kept(); len(now) != 2 || !slices.Contains(now, first[0]) {
		t.Errorf("with a file in %s, %v are kept; want it left alone and a new one", first[0], now)
	}
	os.RemoveAll(first[0])
	if err := keep.Delete(); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if left := kept(); len(left) > 0 {
		t.Errorf("after Delete %v are left", left)
	}
}
