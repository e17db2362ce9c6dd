package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	cgroups "github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy/plan"
)

// CgroupParent is confine's own cgroup: every component's cgroup is made beneath it, so
// confine never changes the cgroup of the process that runs it.
const CgroupParent = "/confine"

// Cgroup is one component's cgroup, limited as its Plan says.
type Cgroup struct {
	Path string
	// dirs are the directories that make it, one per hierarchy (one on v2).
	dirs         []string
	add          func(pid uint64) error
	delete       func() error
	freeze, thaw func() error
	// update writes the limits again: a kept cgroup's files may have been changed
	// between its runs (cgroup_keep_linux.go).
	update func() error
	// oomFile is the file OOMKills reads (the memory controller's), "" to look in
	// every directory: a kept cgroup reads it twice a run.
	oomFile string
	// What it was made for, which a kept cgroup must match to serve the next run
	// (cgroup_keep_linux.go): the limits, the freezer, the v2 mount ("" on v1).
	limits  plan.Cgroup
	freezer bool
	mount   string
	frozen  atomic.Bool // between Freeze and Thaw: a kept one is not reused frozen
	oomSeen int         // oom_kill when the last run ended (ranOOMKills)
}

// cgroupSeq tells apart the cgroups one supervisor makes (a stack makes several).
var cgroupSeq atomic.Uint64

// NewCgroup makes /confine/NAME-SUPERVISOR-N with the Plan's limits, on a v2 host or a
// v1/hybrid one (containerd/cgroups reports which); Add moves a process in. It sweeps
// nothing: the launch's cgroup job sweeps the killed supervisors' cgroups after its move. Making it
// needs no process, so Launch makes it while the init stage starts. The name holds the
// supervisor's pid, as the root directories do: the sweep leaves alone the cgroups of a
// running supervisor, which are empty between NewCgroup and Add. A Plan without limits
// needs no cgroup unless freezer asks for one to pause it by: it then returns nil.
func NewCgroup(name string, g plan.Cgroup, freezer bool) (*Cgroup, error) {
	if g == (plan.Cgroup{}) && !freezer {
		return nil, nil
	}
	path := cgroupPath(name)
	var cg *Cgroup
	var err error
	if cgroups.Mode() == cgroups.Unified {
		cg, err = newCgroup2(cgroup2Mount, path, g)
	} else {
		cg, err = newCgroup1(path, g, freezer)
	}
	if err != nil {
		return nil, err
	}
	cg.limits, cg.freezer = g, freezer
	return cg, nil
}

// cgroupPath is a new cgroup's name: /confine/NAME-SUPERVISOR-N.
func cgroupPath(name string) string {
	return fmt.Sprintf("%s/%s-%d-%d", CgroupParent, name, os.Getpid(), cgroupSeq.Add(1))
}

// Add moves pid into the cgroup. On v1 the first write to cgroup.procs after a quiet
// spell waits for an RCU grace period (10-30 ms measured here; DESIGN.md): Launch runs it
// beside the init stage's own work, before the go signal.
func (c *Cgroup) Add(pid int) error {
	if err := c.add(uint64(pid)); err != nil {
		return fmt.Errorf("cgroup %s: adding %d: %w", c.Path, pid, err)
	}
	return nil
}

func newCgroup2(mount, path string, g plan.Cgroup) (*Cgroup, error) {
	res := &cgroup2.Resources{}
	if g.MemoryMax > 0 {
		zero := int64(0)
		res.Memory = &cgroup2.Memory{Max: &g.MemoryMax, Swap: &zero}
	}
	if g.PidsMax > 0 {
		res.Pids = &cgroup2.Pids{Max: g.PidsMax}
	}
	if g.CPUQuota > 0 {
		period := uint64(g.CPUPeriod)
		res.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&g.CPUQuota, &period)}
	}
	m, err := cgroup2.NewManager(mount, path, res)
	if err != nil {
		unix.Rmdir(cgroupDir(mount, path)) // made before a limit failed: nothing half-applied
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	// The v2 freezer is part of every cgroup.
	cg := &Cgroup{Path: path, dirs: []string{cgroupDir(mount, path)}, add: m.AddProc, delete: m.Delete, freeze: m.Freeze, thaw: m.Thaw, mount: mount,
		update: func() error { return m.Update(res) }}
	cg.oomFile = filepath.Join(cg.dirs[0], "memory.events")
	return cg, nil
}

// newCgroup1 uses only the cpu, memory and pids hierarchies, and the freezer when asked:
// the rest (cpuset, devices, blkio, …) are not limited and need no cgroup of confine's.
func newCgroup1(path string, g plan.Cgroup, freezer bool) (*Cgroup, error) {
	res := &specs.LinuxResources{}
	var wanted []cgroup1.Name
	if freezer {
		wanted = append(wanted, cgroup1.Freezer)
	}
	if g.MemoryMax > 0 {
		res.Memory = &specs.LinuxMemory{Limit: &g.MemoryMax}
		wanted = append(wanted, cgroup1.Memory)
	}
	if g.PidsMax > 0 {
		res.Pids = &specs.LinuxPids{Limit: &g.PidsMax}
		wanted = append(wanted, cgroup1.Pids)
	}
	made := res // what New writes: the limits that differ from a new cgroup's
	if g.CPUQuota > 0 {
		period := uint64(g.CPUPeriod)
		res.CPU = &specs.LinuxCPU{Quota: &g.CPUQuota, Period: &period}
		wanted = append(wanted, cgroup1.Cpu)
		if period == v1DefaultCFSPeriod {
			// A new cgroup's period is the kernel's default, not its parent's: one
			// open, write and close fewer. update writes it (a kept cgroup's may differ).
			m := *res
			m.CPU = &specs.LinuxCPU{Quota: &g.CPUQuota}
			made = &m
		}
	}
	hierarchy := func() ([]cgroup1.Subsystem, error) { return v1Subsystems(wanted) }
	t := trace.Now()
	cg1, err := cgroup1.New(cgroup1.StaticPath(path), made, cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		// New can fail after making some hierarchies' directories: remove them.
		if loaded, lerr := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(hierarchy)); lerr == nil {
			loaded.Delete()
		}
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	trace.Done("parent", "cgroup_create", t)
	cg := &Cgroup{Path: path, delete: cg1.Delete, freeze: cg1.Freeze, thaw: cg1.Thaw, update: func() error { return cg1.Update(res) }}
	cg.add = func(pid uint64) error { return cg1.AddProc(pid) }
	for _, s := range cg1.Subsystems() {
		if p, ok := s.(interface{ Path(string) string }); ok {
			cg.dirs = append(cg.dirs, p.Path(path))
			if s.Name() == cgroup1.Memory {
				cg.oomFile = filepath.Join(p.Path(path), "memory.oom_control")
			}
		}
	}
	return cg, nil
}

// v1DefaultCFSPeriod is cpu.cfs_period_us in a new v1 cgroup: the kernel's
// default_cfs_period, 100 ms, whatever its parent's.
const v1DefaultCFSPeriod = 100000

// OOMKills is how many processes the OOM killer ended in the cgroup: oom_kill in
// memory.events (v2) or memory.oom_control (v1). 0 without a memory controller.
func (c *Cgroup) OOMKills() int {
	if c == nil {
		return 0
	}
	files := []string{c.oomFile}
	if c.oomFile == "" {
		files = nil
		for _, dir := range c.dirs {
			files = append(files, filepath.Join(dir, "memory.events"), filepath.Join(dir, "memory.oom_control"))
		}
	}
	for _, f := range files {
		b, err := readKernelFile(f)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if n, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
				v, _ := strconv.Atoi(n)
				return v
			}
		}
	}
	return 0
}

// Freeze stops every process of the cgroup until Thaw (the cgroup freezer).
func (c *Cgroup) Freeze() error {
	if c == nil || c.freeze == nil {
		return fmt.Errorf("no freezer cgroup")
	}
	c.frozen.Store(true)
	return c.freeze()
}

// Thaw lets a frozen cgroup run again.
func (c *Cgroup) Thaw() error {
	if c == nil || c.thaw == nil {
		return fmt.Errorf("no freezer cgroup")
	}
	if err := c.thaw(); err != nil {
		return err
	}
	c.frozen.Store(false)
	return nil
}

// Delete removes the cgroup once its processes are gone. rmdir(2) of each directory is
// the fast path (the kernel refuses a cgroup that still holds a process); containerd's
// Delete, which checks for processes and retries with back-off, is the fallback.
func (c *Cgroup) Delete() error {
	if c == nil {
		return nil
	}
	for _, d := range c.dirs {
		if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
			return c.delete()
		}
	}
	return nil
}

// sweepCgroups removes the empty cgroups a killed supervisor left under confine's parent
// (DESIGN.md invariant 7: the next start cleans up). A cgroup whose supervisor still runs
// (NAME-PID-N, the pid alive) is left alone even when empty, since it may be about to
// receive its process; one that still holds a process belongs to a running sandbox and
// stays too. Once per process: what a supervisor killed later is the next start's, and
// a stack's supervisor does not scan the host's cgroups on every restart. ours, the
// cgroup just made (or nil), is known not to need a listing (cgroupsIn).
func sweepCgroups(ours *Cgroup) { cgroupsSwept.Do(func() { sweepDirs(cgroupDirs("", ours)) }) }

var cgroupsSwept sync.Once

// SweepCgroups sweeps the cgroups whose names start with prefix, as sweepCgroups does,
// and returns how many of them still hold processes.
func SweepCgroups(prefix string) (busy int) { return sweepDirs(cgroupDirs(prefix, nil)) }

func sweepDirs(dirs []string) (busy int) {
	self := os.Getpid()
	for _, dir := range dirs {
		// This supervisor's own need no look at /proc: it runs.
		if pid := supervisorOf(filepath.Base(dir)); pid > 0 && (pid == self || !Gone(pid)) {
			continue
		}
		procs, err := readKernelFile(dir + "/cgroup.procs")
		if err != nil {
			continue
		}
		if len(strings.TrimSpace(string(procs))) == 0 {
			unix.Rmdir(dir)
		} else {
			busy++
		}
	}
	return busy
}

// cgroupDirs lists confine's cgroups whose names start with prefix, in every v1
// hierarchy (a symlink's name too, as cpu for cpu,cpuacct) and on v2. It reads only
// CgroupParent's directories, and their entries' types from the listing: every start
// runs the sweep, and a glob of the whole pattern read each hierarchy's root and listed
// every control file (docs/BENCHMARKS.md, session 21).
func cgroupDirs(prefix string, ours *Cgroup) []string {
	var dirs []string
	hs, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hs {
		if h.IsDir() || h.Type()&fs.ModeSymlink != 0 {
			dirs = cgroupsIn(dirs, "/sys/fs/cgroup/"+h.Name()+CgroupParent, prefix, ours)
		}
	}
	return cgroupsIn(dirs, "/sys/fs/cgroup"+CgroupParent, prefix, ours)
}

// cgroupsIn appends the cgroups (directories) in parent whose names start with prefix.
// A cgroup directory's link count is 2 plus its subdirectories (kernfs keeps it so, as
// hasChild reads it): a parent that holds no cgroup but ours is not listed, since a
// listing reads every control file's entry too, and the sweep's four listings were
// a third of its CPU in each lone run (docs/BENCHMARKS.md, session 22).
func cgroupsIn(dirs []string, parent, prefix string, ours *Cgroup) []string {
	var st unix.Stat_t
	if unix.Stat(parent, &st) != nil {
		return dirs // no such hierarchy, or no parent of confine's in it
	}
	if st.Nlink >= 2 && st.Nlink <= 2+uint64(ours.dirsIn(parent)) {
		return dirs
	}
	es, _ := os.ReadDir(parent)
	for _, e := range es {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			dirs = append(dirs, parent+"/"+e.Name())
		}
	}
	return dirs
}

// dirsIn counts the cgroup's directories directly in parent.
func (c *Cgroup) dirsIn(parent string) int {
	if c == nil {
		return 0
	}
	n := 0
	for _, d := range c.dirs {
		if filepath.Dir(d) == parent {
			n++
		}
	}
	return n
}

// supervisorOf reads the supervisor's pid from a cgroup name NAME-PID-N, or returns 0.
func supervisorOf(base string) int {
	f := strings.Split(base, "-")
	if len(f) < 3 {
		return 0
	}
	pid, err := strconv.Atoi(f[len(f)-2])
	if err != nil {
		return 0
	}
	if _, err := strconv.ParseUint(f[len(f)-1], 10, 64); err != nil {
		return 0
	}
	return pid
}

// KillCgroups ends the processes left in the cgroups whose names start with prefix and
// whose supervisor is gone: the components of a supervisor killed with SIGKILL die with
// it, except a frozen one, which keeps its pending SIGKILL until thawed. It thaws them,
// kills what they hold and sweeps them; it returns how many still hold processes.
func KillCgroups(prefix string) int {
	for _, dir := range cgroupDirs(prefix, nil) {
		if pid := supervisorOf(filepath.Base(dir)); pid > 0 && !Gone(pid) {
			continue // its supervisor runs
		}
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0) // v1
		os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)      // v2
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(procs)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	return SweepCgroups(prefix)
}
