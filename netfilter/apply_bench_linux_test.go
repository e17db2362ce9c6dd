package netfilter

import (
	"fmt"
	"os"
	"runtime"
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

// freshNetNS makes a network namespace on a thread of its own that then exits, and
// returns a descriptor that holds it: a spare's namespace, brand new and empty.
func freshNetNS() (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{nil, err}
			return
		}
		f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		done <- result{f, err}
	}()
	r := <-done
	return r.f, r.err
}

// BenchmarkApplyNewLone is the lone run's load ahead alone: its table into a brand-new
// namespace (made and released outside the timer).
func BenchmarkApplyNewLone(b *testing.B) {
	testenv.Require(b, testenv.Root)
	benchApplyNew(b, loneFirewall)
}

// benchApplyNew also reports the process's CPU time (user and system, all threads)
// over the loads alone, cpu-ns/op: on a shared machine it moves less than wall time.
func benchApplyNew(b *testing.B, fw plan.Firewall) {
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		ns, err := freshNetNS()
		if err != nil {
			b.Fatal(err)
		}
		path := fmt.Sprintf("/proc/self/fd/%d", ns.Fd())
		before := cpuTime()
		b.StartTimer()
		err = ApplyNew(path, fw)
		b.StopTimer()
		cpu += cpuTime() - before
		ns.Close()
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
