package sandbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestKeptOOMBaseline: a kept cgroup's oom_kill counts every run's kills, the kills of
// a launch that failed (which no Wait read) too: the next run's OOMKilled counts from
// its own start. The cgroup is a directory of the files take and OOMKills read.
func TestKeptOOMBaseline(t *testing.T) {
	dir := t.TempDir()
	file := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file("cgroup.events", "populated 0\nfrozen 0\n")
	file("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
	g := plan.Cgroup{MemoryMax: 1 << 20}
	cg := &Cgroup{Path: "/confine/t", dirs: []string{dir}, mount: "/m", limits: g, update: func() error { return nil }}
	keep := &KeptCgroup{}
	keep.put(cg)
	// The run kept it, and its launch failed after the OOM killer ended a process of it.
	file("memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
	got := keep.take(g, false, "/m")
	if got != cg {
		t.Fatalf("take: %v, want the kept cgroup", got)
	}
	if got.ranOOMKills() {
		t.Error("the next run reports OOMKilled for the failed launch's kill")
	}
	file("memory.events", "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n")
	if !got.ranOOMKills() {
		t.Error("the run's own kill is not reported")
	}
}

// TestHasChild: a directory beneath counts, a file does not, and neither does a
// directory's link count alone (tests/run TestCgroupKeptForeign makes a child cgroup).
func TestHasChild(t *testing.T) {
	dir := t.TempDir()
	if hasChild(dir) {
		t.Error("an empty directory has a child")
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if hasChild(dir) {
		t.Error("a directory of one file has a child")
	}
	if err := os.Mkdir(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !hasChild(dir) {
		t.Error("a directory with a subdirectory has no child")
	}
	if !hasChild(filepath.Join(dir, "gone")) {
		t.Error("a directory that cannot be read has no child")
	}
}
