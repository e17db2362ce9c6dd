package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
	Path   string
	delete func() error
}

// NewCgroup makes /confine/NAME-PID with the Plan's limits and moves pid into it, on a
// v2 host or a v1/hybrid one (containerd/cgroups reports which). A Plan without limits
// needs no cgroup: it returns nil.
func NewCgroup(name string, pid int, g plan.Cgroup) (*Cgroup, error) {
	if g == (plan.Cgroup{}) {
		return nil, nil
	}
	t := trace.Now()
	sweepCgroups()
	trace.Done("parent", "cgroup_sweep", t)
	path := fmt.Sprintf("%s/%s-%d", CgroupParent, name, pid)
	if cgroups.Mode() == cgroups.Unified {
		return newCgroup2(path, pid, g)
	}
	return newCgroup1(path, pid, g)
}

func newCgroup2(path string, pid int, g plan.Cgroup) (*Cgroup, error) {
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
	m, err := cgroup2.NewManager("/sys/fs/cgroup", path, res)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	cg := &Cgroup{Path: path, delete: m.Delete}
	if err := m.AddProc(uint64(pid)); err != nil {
		cg.Delete()
		return nil, fmt.Errorf("cgroup %s: adding %d: %w", path, pid, err)
	}
	return cg, nil
}

// newCgroup1 uses only the cpu, memory and pids hierarchies: the rest (cpuset, devices,
// blkio, …) are not limited and need no cgroup of confine's.
func newCgroup1(path string, pid int, g plan.Cgroup) (*Cgroup, error) {
	res := &specs.LinuxResources{}
	var wanted []cgroup1.Name
	if g.MemoryMax > 0 {
		res.Memory = &specs.LinuxMemory{Limit: &g.MemoryMax}
		wanted = append(wanted, cgroup1.Memory)
	}
	if g.PidsMax > 0 {
		res.Pids = &specs.LinuxPids{Limit: &g.PidsMax}
		wanted = append(wanted, cgroup1.Pids)
	}
	if g.CPUQuota > 0 {
		period := uint64(g.CPUPeriod)
		res.CPU = &specs.LinuxCPU{Quota: &g.CPUQuota, Period: &period}
		wanted = append(wanted, cgroup1.Cpu)
	}
	hierarchy := func() ([]cgroup1.Subsystem, error) {
		all, err := cgroup1.Default()
		if err != nil {
			return nil, err
		}
		return slices.DeleteFunc(all, func(s cgroup1.Subsystem) bool { return !slices.Contains(wanted, s.Name()) }), nil
	}
	t := trace.Now()
	cg1, err := cgroup1.New(cgroup1.StaticPath(path), res, cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		// New can fail after making some hierarchies' directories: remove them.
		if loaded, lerr := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(hierarchy)); lerr == nil {
			loaded.Delete()
		}
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	trace.Done("parent", "cgroup_create", t)
	t = trace.Now()
	cg := &Cgroup{Path: path, delete: cg1.Delete}
	if err := cg1.AddProc(uint64(pid)); err != nil {
		cg.Delete()
		return nil, fmt.Errorf("cgroup %s: adding %d: %w", path, pid, err)
	}
	trace.Done("parent", "cgroup_attach", t)
	return cg, nil
}

// Delete removes the cgroup once its processes are gone.
func (c *Cgroup) Delete() error {
	if c == nil {
		return nil
	}
	return c.delete()
}

// sweepCgroups removes the empty cgroups a killed supervisor left under confine's parent
// (DESIGN.md invariant 7: the next start cleans up). A cgroup that still holds a process
// belongs to a running sandbox and stays.
func sweepCgroups() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + CgroupParent + "/*")
	more, _ := filepath.Glob("/sys/fs/cgroup" + CgroupParent + "/*")
	for _, dir := range append(dirs, more...) {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err == nil && len(strings.TrimSpace(string(procs))) == 0 {
			unix.Rmdir(dir)
		}
	}
}
