package netfilter

import (
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// loneFirewall is what `confine compile` writes for bench/run.sh's policy: a lone run
// with no listener and no egress, its two chains' sets empty.
var loneFirewall = plan.Firewall{
	Family: "inet", Table: "confine", LogGroup: 7,
	Chains: []plan.Chain{
		{Name: "ingress", Hook: "input", AcceptLoopback: true, FlowsSet: "ingress"},
		{Name: "egress", Hook: "output", AcceptLoopback: true, FlowsSet: "egress"},
	},
	Flows: []plan.Flow{},
}

// BenchmarkApplyNewLone is the lone run's load ahead alone: its table into the brand-new
// network namespace of a child process (a spare's, made and reaped outside the timer),
// named by its /proc path as main's load ahead names it.
func BenchmarkApplyNewLone(b *testing.B) {
	testenv.Require(b, testenv.Root)
	benchLoad(b, func(pid int) error { return ApplyNew(fmt.Sprintf("/proc/%d/ns/net", pid), loneFirewall) })
}

// benchLoad times load into a fresh child's namespace, and reports the process's CPU
// time (user and system, all its threads) over the loads alone, cpu-ns/op: on a shared
// machine it moves less than wall time.
func benchLoad(b *testing.B, load func(pid int) error) {
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		child := exec.Command("sleep", "60")
		child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		before := cpuTime()
		b.StartTimer()
		err := load(child.Process.Pid)
		b.StopTimer()
		cpu += cpuTime() - before
		child.Process.Kill()
		child.Wait()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
