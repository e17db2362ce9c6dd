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

	"github.com/confine-sandbox/confine/policy/plan"
)

// CgroupParent is confine's own cgroup: every component's cgroup is made beneath it, so
// confine never changes the cgroup of the process that runs it.
const CgroupParent = "/confine"

// Cgroup is one component's cgroup, limited as its Plan says.
type Cgroup struct {
	Path         string
	delete       func() error
	freeze, thaw func() error
}

// NewCgroup makes /confine/NAME-PID with the Plan's limits and moves pid into it, on a
// v2 host or a v1/hybrid one (containerd/cgroups reports which). A Plan without limits
// needs no cgroup unless freezer asks for one to pause it by: it then returns nil.
func NewCgroup(name string, pid int, g plan.Cgroup, freezer bool) (*Cgroup, error) {
	if g == (plan.Cgroup{}) && !freezer {
		return nil, nil
	}
	sweepCgroups()
	path := fmt.Sprintf("%s/%s-%d", CgroupParent, name, pid)
	if cgroups.Mode() == cgroups.Unified {
		return newCgroup2(path, pid, g)
	}
	return newCgroup1(path, pid, g, freezer)
}

// newCgroup2: the v2 freezer is part of every cgroup.
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
	cg := &Cgroup{Path: path, delete: m.Delete, freeze: m.Freeze, thaw: m.Thaw}
	if err := m.AddProc(uint64(pid)); err != nil {
		cg.Delete()
		return nil, fmt.Errorf("cgroup %s: adding %d: %w", path, pid, err)
	}
	return cg, nil
}

// newCgroup1 uses only the cpu, memory and pids hierarchies, and the freezer when asked:
// the rest (cpuset, devices, blkio, …) are not limited and need no cgroup of confine's.
func newCgroup1(path string, pid int, g plan.Cgroup, freezer bool) (*Cgroup, error) {
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
	cg1, err := cgroup1.New(cgroup1.StaticPath(path), res, cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		// New can fail after making some hierarchies' directories: remove them.
		if loaded, lerr := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(hierarchy)); lerr == nil {
			loaded.Delete()
		}
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	cg := &Cgroup{Path: path, delete: cg1.Delete, freeze: cg1.Freeze, thaw: cg1.Thaw}
	if err := cg1.AddProc(uint64(pid)); err != nil {
		cg.Delete()
		return nil, fmt.Errorf("cgroup %s: adding %d: %w", path, pid, err)
	}
	return cg, nil
}

// Freeze stops every process of the cgroup until Thaw (the cgroup freezer).
func (c *Cgroup) Freeze() error {
	if c == nil || c.freeze == nil {
		return fmt.Errorf("no freezer cgroup")
	}
	return c.freeze()
}

// Thaw lets a frozen cgroup run again.
func (c *Cgroup) Thaw() error {
	if c == nil || c.thaw == nil {
		return fmt.Errorf("no freezer cgroup")
	}
	return c.thaw()
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
func sweepCgroups() { SweepCgroups("") }

// SweepCgroups removes the empty cgroups under confine's parent whose names start with
// prefix, and returns how many such cgroups still hold processes.
func SweepCgroups(prefix string) (busy int) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + CgroupParent + "/" + prefix + "*")
	more, _ := filepath.Glob("/sys/fs/cgroup" + CgroupParent + "/" + prefix + "*")
	for _, dir := range append(dirs, more...) {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
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
