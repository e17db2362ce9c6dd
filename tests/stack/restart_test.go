//go:build linux

package stack_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestRestartKeepsCgroup: a component's cgroup is kept across its restarts, by its
// restart policy and by `confine restart`. Each run starts inside it in every hierarchy
// (memory, pids, freezer), its limits are the same files, and they hold in the
// restarted run: 200 children under pids 64 fail, 16 MiB under 64Mi works and 256 MiB
// is OOM-killed. A stop removes it while the stack runs; down removes the rest.
func TestRestartKeepsCgroup(t *testing.T) {
	testenv.Require(t, testenv.Root)
	stack := testenv.StackName("keepcg")
	dir := t.TempDir()
	limits := "resources: {memory: 64Mi, pids: 64}"
	component(t, dir, "oom", "  restart: always\n"+limits, "cat:/proc/self/cgroup", "fork:4", "fork:200", "alloc:16", "alloc:256")
	component(t, dir, "svc", limits, "sleep:")
	upStack(t, dir, stack, "10.91.0.0/24", []string{"oom", "svc"}, "")

	// The restart policy: the back-off is 1 s, then 2 s.
	var runs []string
	for deadline := time.Now().Add(15 * time.Second); len(runs) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("oom ran %d times in 15 s, want 2: %+v", len(runs), status(t, stack)["oom"])
		}
		runs = runsOf(t, stack, "oom")
	}
	var kept string
	for i, run := range runs {
		if !strings.Contains(run, `"probe":"fork:4","ok":true`) || strings.Contains(run, `"probe":"fork:200","ok":true`) ||
			!strings.Contains(run, `"probe":"alloc:16","ok":true`) || strings.Contains(run, `"probe":"alloc:256","ok":true`) {
			t.Errorf("run %d: the limits did not hold:\n%s", i, run)
		}
		p := cgroupOfRun(t, run)
		if i == 0 {
			kept = p
		} else if p != kept {
			t.Errorf("run %d started in %q, the first in %q: want the kept cgroup", i, p, kept)
		}
	}
	if st := status(t, stack)["oom"]; st.Restarts < 1 {
		t.Errorf("oom: %+v, want a restart", st)
	}
	checkLimits(t, kept)

	// `confine restart`: a new pid, in the same cgroup, in every hierarchy.
	before := status(t, stack)["svc"]
	was := hostCgroups(t, before.Pid)
	confine(t, "restart", "--grace", "1s", stack, "svc")
	after := status(t, stack)["svc"]
	now := hostCgroups(t, after.Pid)
	if after.State != supervisor.StateRunning || after.Pid == before.Pid {
		t.Fatalf("after restart: %+v (was pid %d)", after, before.Pid)
	}
	for _, h := range []string{"memory", "pids", "freezer"} {
		if now[h] == "" || now[h] != was[h] || !strings.Contains(now[h], "/confine/"+stack+".svc-") {
			t.Errorf("%s hierarchy: the restarted svc is in %q, before in %q; want the same cgroup of the stack", h, now[h], was[h])
		}
	}
	checkLimits(t, now["memory"])

	// A stop removes the component's cgroup at once; the stack runs on.
	confine(t, "stop", "--grace", "1s", stack, "svc")
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/confine/" + stack + ".svc-*"); len(left) > 0 {
		t.Errorf("after stop the cgroups of svc are left: %v", left)
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup/confine/" + stack + ".svc-*"); len(left) > 0 {
		t.Errorf("after stop the cgroup of svc is left: %v", left)
	}
}

// runsOf splits a component's stdout log into its runs: each starts with the probe's
// first line, cat:/proc/self/cgroup.
func runsOf(t *testing.T, stack, name string) []string {
	t.Helper()
	var runs []string
	sc := bufio.NewScanner(strings.NewReader(confine(t, "logs", stack, name)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"probe":"cat:/proc/self/cgroup"`) {
			runs = append(runs, "")
		}
		if len(runs) > 0 {
			runs[len(runs)-1] += line + "\n"
		}
	}
	// The last run may still be writing: only whole runs (the OOM kill ends each).
	var whole []string
	for _, r := range runs {
		if strings.Contains(r, `"probe":"alloc:16"`) {
			whole = append(whole, r)
		}
	}
	return whole
}

// cgroupOfRun is the cgroup a run found itself in at its start, the same in each
// hierarchy, from its cat:/proc/self/cgroup ("/../../confine/NAME-PID-N" inside its
// cgroup namespace: the part from /confine on).
func cgroupOfRun(t *testing.T, run string) string {
	t.Helper()
	var r result
	for line := range strings.Lines(run) {
		if json.Unmarshal([]byte(line), &r) == nil && r.Probe == "cat:/proc/self/cgroup" {
			break
		}
	}
	paths := map[string]bool{}
	v2 := unified()
	for line := range strings.Lines(r.Out) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 || !(f[1] == "" && v2 || strings.Contains(f[1], "memory") || strings.Contains(f[1], "pids") || strings.Contains(f[1], "freezer")) {
			continue
		}
		i := strings.Index(f[2], "/confine/")
		if i < 0 {
			t.Fatalf("at its start the run is outside confine's cgroups in %q: %q", f[1], f[2])
		}
		paths[f[2][i:]] = true
	}
	if len(paths) != 1 {
		t.Fatalf("the run's cgroups: %v, want one path in every hierarchy:\n%s", paths, r.Out)
	}
	for p := range paths {
		return p
	}
	return ""
}

// hostCgroups reads pid's cgroup per hierarchy ("" on v2) from the host's view.
func hostCgroups(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for line := range strings.Lines(string(data)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, h := range strings.Split(f[1], ",") {
			out[h] = f[2]
		}
		if f[0] == "0" && f[1] == "" && unified() { // v2: one hierarchy for all
			for _, h := range []string{"memory", "pids", "freezer"} {
				out[h] = f[2]
			}
		}
	}
	return out
}

// checkLimits reads the memory and pids limits of cgroup path: 64Mi and 64.
func checkLimits(t *testing.T, path string) {
	t.Helper()
	files := map[string]string{"memory/memory.limit_in_bytes": strconv.Itoa(64 << 20), "pids/pids.max": "64"}
	if unified() {
		files = map[string]string{"memory.max": strconv.Itoa(64 << 20), "pids.max": "64"}
	}
	for f, want := range files {
		h, name := filepath.Split(f)
		got, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", h, path, name))
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("%s of %s: %q (%v), want %s", name, path, got, err, want)
		}
	}
}

// unified: the host runs cgroup v2 alone (not a hybrid's empty unified hierarchy).
func unified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
