package supervisor

import (
	"os"
	"strconv"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// benchStack is a supervisor of n components, each with its host id range.
func benchStack(n int) *Supervisor {
	s := &Supervisor{plan: &plan.Plan{Name: "bench"}}
	for i := range n {
		name := "c" + strconv.Itoa(i)
		s.comps = append(s.comps, newComponent(s, &plan.Component{Name: name}, i, nil))
		s.owners.Add(name, uint32(0x70000000+i*sandbox.RangeSize), uint32(0x70000000+i*sandbox.RangeSize))
	}
	return s
}

// BenchmarkAttributeByIDs names the component of a record by its uid: the last of 16
// components' ranges, the worst case of the scan.
func BenchmarkAttributeByIDs(b *testing.B) {
	s := benchStack(16)
	d := sandbox.KernelDenial{UID: 0x70000000 + 15*sandbox.RangeSize + 1000, GID: -1, Pid: os.Getpid()}
	for b.Loop() {
		if s.kernelComponent(d) != "c15" {
			b.Fatal("not attributed")
		}
	}
}

// BenchmarkAttributeByCgroup is the fallback, and what every record cost before: a
// process that is no component's own, read from /proc/PID/cgroup (here the benchmark's
// own, which no component owns).
func BenchmarkAttributeByCgroup(b *testing.B) {
	s := benchStack(16)
	d := sandbox.KernelDenial{UID: -1, GID: -1, Pid: os.Getpid()}
	for b.Loop() {
		if s.kernelComponent(d) != "" {
			b.Fatal("attributed")
		}
	}
}
