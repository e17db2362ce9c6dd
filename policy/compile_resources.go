package policy

import "github.com/confine-sandbox/confine/policy/plan"

// cpuPeriod is the CFS period the cpu limit is expressed in, in microseconds.
const cpuPeriod = 100000

// compileResources builds the cgroup limits and rlimits, applied by the cgroup and rlimit
// steps (sandbox/cgroup_linux.go, sandbox/rlimit_linux.go).
func compileResources(c *Component, cp *plan.Component) {
	r := c.Resources
	if r.Memory != "" {
		cp.Cgroup.MemoryMax = r.memory.v
	}
	cp.Cgroup.PidsMax = r.Pids
	if r.CPU > 0 {
		cp.Cgroup.CPUQuota = int64(r.CPU*cpuPeriod + 0.5)
		cp.Cgroup.CPUPeriod = cpuPeriod
	}
	nofile := uint64(or(r.Nofile, defaultNofile))
	cp.Rlimits = []plan.Rlimit{
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 0}, // no core dumps: they leak memory contents to disk
		{Type: "RLIMIT_NOFILE", Soft: nofile, Hard: nofile},
	}
}
