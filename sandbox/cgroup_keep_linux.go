package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy/plan"
)

// KeptCgroup holds one component's cgroup, and its empty root directory, between its
// runs (Options.Keep), so that a
// restart does not make the cgroup again (the memory controller's mkdir is most of a
// v1 make, about 2 ms) nor remove it at the exit before (rmdir). The next run takes it
// back only when it is the same kind (limits, freezer, hierarchy) and empty in every
// hierarchy (no child cgroup, not frozen): the last run's pid namespace is
// gone whole, and no other process was put in; its limits are then written again. Its counters (memory.failcnt, memory.events, pids.events, oom_kill) then add up
// over the runs it served; OOMKilled counts only the run's own kills. The page cache the
// last run left stays charged to it (as it would to a removed cgroup's remains), and
// the limit reclaims it before it counts against the next run. The zero value
// holds nothing. The caller removes what it holds with Delete when the component is
// stopped or the stack goes down; a killed supervisor's kept cgroups carry its pid in
// their names, as the others do, for the next start's sweep.
type KeptCgroup struct {
	mu sync.Mutex
	cg *Cgroup
	// stale are kept cgroups that did not fit and could not be removed at once (a
	// process outside the run was put in): Delete tries again.
	stale []*Cgroup
	// root is the last run's empty root directory, kept beside the cgroup
	// (root_keep_linux.go); "" when none is kept.
	root string
}

// take hands over the kept cgroup when it fits a run with limits g, freezer and the v2
// mount (or "" for v1), and is empty; otherwise it removes it and returns nil.
func (k *KeptCgroup) take(g plan.Cgroup, freezer bool, mount string) *Cgroup {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	cg := k.cg
	k.cg = nil
	k.mu.Unlock()
	if cg == nil {
		return nil
	}
	t := trace.Now()
	defer trace.Done("parent", "cgroup_reuse", t)
	// The limits are written again: a hand other than ours may have changed the files
	// since (only root can: the directories are root's, and no run is given them).
	if cg.limits == g && cg.freezer == freezer && cg.mount == mount && !cg.frozen.Load() && cg.empty() && cg.update() == nil {
		// The run's OOM kills count from here: a launch that failed (no Wait) left
		// its own in oom_kill too.
		cg.oomSeen = cg.OOMKills()
		return cg
	}
	if !cg.rmdir() { // no retries on the launch's path: Delete tries again
		k.mu.Lock()
		k.stale = append(k.stale, cg)
		k.mu.Unlock()
	}
	return nil
}

// put keeps cg for the next run, removing what was kept before (there is none: a
// component runs once at a time).
func (k *KeptCgroup) put(cg *Cgroup) {
	k.mu.Lock()
	old := k.cg
	k.cg = cg
	k.mu.Unlock()
	if old != nil && old != cg {
		old.Delete()
	}
}

// Delete removes the kept cgroup, if any, and those that could not be removed before.
func (k *KeptCgroup) Delete() error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	all := append(k.stale, k.cg)
	root := k.root
	k.cg, k.stale, k.root = nil, nil, ""
	k.mu.Unlock()
	if root != "" {
		os.Remove(root)
	}
	var errs []error
	for _, cg := range all {
		if err := cg.Delete(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Path is the kept cgroup's name, or "" when none is kept.
func (k *KeptCgroup) Path() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cg == nil {
		return ""
	}
	return k.cg.Path
}

// rmdir removes the cgroup's directories, without Delete's retries: true once all are
// gone.
func (c *Cgroup) rmdir() bool {
	gone := true
	for _, d := range c.dirs {
		if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
			gone = false
		}
	}
	return gone
}

// empty: no process in any of the cgroup's directories nor in a cgroup made beneath
// them, and none frozen by a hand other than Freeze's (a read it cannot make counts as
// not empty): a child cgroup shares the limits and the freezer. v2's cgroup.events
// counts the cgroups beneath (populated) and the freezer, an ancestor's too (frozen).
func (c *Cgroup) empty() bool {
	for _, d := range c.dirs {
		if c.mount != "" {
			b, err := os.ReadFile(filepath.Join(d, "cgroup.events"))
			if err != nil || keyed(string(b), "populated") != "0" || keyed(string(b), "frozen") == "1" {
				return false
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil || strings.TrimSpace(string(b)) != "" || hasChild(d) {
			return false
		}
		if b, err := os.ReadFile(filepath.Join(d, "freezer.state")); err == nil && strings.TrimSpace(string(b)) != "THAWED" {
			return false
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return true
}

// keyed is the value of key in a flat keyed file ("key value" lines), or "".
func keyed(text, key string) string {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+" "); ok {
			return v
		}
	}
	return ""
}

// hasChild: a directory (a child cgroup) in d, or d unreadable. A cgroup directory's
// link count is 2 plus its subdirectories (kernfs keeps it so): a stat that reads 2
// needs no listing of the controller's few dozen files; any other count is listed.
func hasChild(d string) bool {
	var st unix.Stat_t
	if unix.Stat(d, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Nlink == 2 {
		return false
	}
	es, err := os.ReadDir(d)
	if err != nil {
		return true
	}
	for _, e := range es {
		if e.IsDir() {
			return true
		}
	}
	return false
}

// ranOOMKills reports whether the OOM killer ended a process since the run began (the
// cgroup was made, or taken back: take): a kept cgroup's oom_kill counts every run's.
func (c *Cgroup) ranOOMKills() bool {
	if c == nil {
		return false
	}
	n := c.OOMKills()
	killed := n > c.oomSeen
	c.oomSeen = n
	return killed
}

// reuseCgroupJob is the cgroup job of a run that reuses a kept cgroup: nothing to make;
// on v2 the clone starts the init stage inside it, on v1 the C stage moves itself in
// (or the supervisor moves the Go init), as with a new one.
func reuseCgroupJob(cg *Cgroup) *cgroupJob {
	j := newCgroupJob(func() (*Cgroup, error) { return cg, nil })
	if cg.mount != "" {
		j.made = cg
	}
	return j
}

// keptCgroupJob is the v1 cgroup job: it takes the kept cgroup when it fits, or makes one;
// the check of its hierarchies runs in the job, off the path to the clone.
func keptCgroupJob(keep *KeptCgroup, name string, g plan.Cgroup, freezer bool) *cgroupJob {
	return newCgroupJob(func() (*Cgroup, error) {
		if cg := keep.take(g, freezer, ""); cg != nil {
			return cg, nil
		}
		return NewCgroup(name, g, freezer)
	})
}
